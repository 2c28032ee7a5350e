// Package crashtest holds process-level tests of vodwatchd: the daemon
// binary killed with SIGKILL at chosen moments and restarted, checked
// against the emulator for exactly-once uploads.
package crashtest
