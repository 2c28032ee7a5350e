// Package faultsuite proves, with tests only, that the daemon uploads every
// file exactly once under injected faults and hostile input, and that no
// secret leaks; it runs the real daemon against the local emulator.
package faultsuite
