//go:build !amd64 || purego

package crc64x

const hasFold = false

func foldCLMUL(uint64, []byte, *[4][2]uint64) (lo, hi uint64) {
	panic("crc64x: no carry-less multiply")
}
