//go:build !purego

package crc64x

import "golang.org/x/sys/cpu"

// hasFold says the CPU can fold with carry-less multiplication.
var hasFold = cpu.X86.HasPCLMULQDQ && cpu.X86.HasSSE41

//go:noescape
func foldCLMUL(crc uint64, p []byte, k *[4][2]uint64) (lo, hi uint64)
