// Package dropbench measures the daemon's own cost per file: the vodwatchd
// binary and the emulator run as separate processes, a folder of small
// files is moved into the drop folder at once, and the daemon's CPU time,
// wall time and peak RSS are read from /proc beside the same files
// uploaded one after another (the SDK-style loop) in the same run. The
// package holds only the benchmark and its short, untimed test.
package dropbench
