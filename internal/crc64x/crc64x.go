// Package crc64x computes CRC-64/XZ (COS's x-cos-hash-crc64ecma) and combines
// the CRCs of consecutive byte ranges without rereading them.
package crc64x

import (
	"hash"
	"hash/crc64"
)

// table is the reflected ECMA-182 table; with Go's init/final inversion it
// yields CRC-64/XZ, the value COS reports in x-cos-hash-crc64ecma.
var table = crc64.MakeTable(crc64.ECMA)

// poly is the reflected ECMA-182 polynomial.
const poly = 0xC96C5795D7870F42

// New returns a hash computing CRC-64/XZ.
func New() hash.Hash64 { return crc64.New(table) }

// Checksum returns the CRC-64/XZ of data.
func Checksum(data []byte) uint64 { return crc64.Checksum(data, table) }

// Update returns the CRC-64/XZ of the concatenation of the bytes whose CRC is
// crc and p.
func Update(crc uint64, p []byte) uint64 { return crc64.Update(crc, table, p) }

// Combine returns the CRC of A||B given crc1 = CRC(A), crc2 = CRC(B) and
// len2 = len(B). It runs in O(log len2) 64x64 GF(2) matrix squarings
// (the zlib crc32_combine method, adapted to 64 bits).
func Combine(crc1, crc2 uint64, len2 int64) uint64 {
	if len2 <= 0 {
		return crc1
	}
	// odd is the operator for one zero bit; even for two; squaring doubles.
	var odd, even [64]uint64
	odd[0] = poly
	row := uint64(1)
	for n := 1; n < 64; n++ {
		odd[n] = row
		row <<= 1
	}
	square(&even, &odd) // two zero bits
	square(&odd, &even) // four zero bits

	// Apply len2 zero bytes to crc1: first square gives one zero byte.
	for {
		square(&even, &odd)
		if len2&1 != 0 {
			crc1 = times(&even, crc1)
		}
		len2 >>= 1
		if len2 == 0 {
			break
		}
		square(&odd, &even)
		if len2&1 != 0 {
			crc1 = times(&odd, crc1)
		}
		len2 >>= 1
		if len2 == 0 {
			break
		}
	}
	return crc1 ^ crc2
}

// times multiplies the GF(2) matrix mat by the vector vec.
func times(mat *[64]uint64, vec uint64) uint64 {
	var sum uint64
	for i := 0; vec != 0; i, vec = i+1, vec>>1 {
		if vec&1 != 0 {
			sum ^= mat[i]
		}
	}
	return sum
}

// square sets dst = src * src.
func square(dst, src *[64]uint64) {
	for n := 0; n < 64; n++ {
		dst[n] = times(src, src[n])
	}
}
