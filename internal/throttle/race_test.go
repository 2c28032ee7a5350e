//go:build race

package throttle

// raceEnabled: the race detector slows hashing ~5x; throughput tests scale down.
const raceEnabled = true
