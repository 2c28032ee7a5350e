// Package crc64x computes CRC-64/XZ (COS's x-cos-hash-crc64ecma) and combines
// the CRCs of consecutive byte ranges without rereading them.
package crc64x

import (
	"encoding/binary"
	"hash"
	"hash/crc64"
)

// table is the reflected ECMA-182 table; with Go's init/final inversion it
// yields CRC-64/XZ, the value COS reports in x-cos-hash-crc64ecma.
var table = crc64.MakeTable(crc64.ECMA)

// poly is the reflected ECMA-182 polynomial.
const poly = 0xC96C5795D7870F42

// New returns a hash computing CRC-64/XZ.
func New() hash.Hash64 { return new(digest) }

// Checksum returns the CRC-64/XZ of data.
func Checksum(data []byte) uint64 { return Update(0, data) }

// Update returns the CRC-64/XZ of the concatenation of the bytes whose CRC is
// crc and p. On amd64 with PCLMULQDQ, runs of 64 bytes and more are folded
// with carry-less multiplication (several GB/s, against about 1 with
// tables); the table finishes the folded value and the tail.
func Update(crc uint64, p []byte) uint64 {
	if hasFold && len(p) >= foldMin {
		n := len(p) &^ 15
		lo, hi := foldCLMUL(^crc, p[:n], &folding)
		var b [16]byte
		binary.LittleEndian.PutUint64(b[:8], lo)
		binary.LittleEndian.PutUint64(b[8:], hi)
		// The folded value has the raw CRC of the run: finish it with
		// the table from a zero register (crc64's inversion undone).
		crc = crc64.Update(^uint64(0), table, b[:])
		p = p[n:]
	}
	return crc64.Update(crc, table, p)
}

// foldMin is the shortest run worth folding.
const foldMin = 64

// folding holds the constants that fold 128 bits forward by 512, 384, 256
// and 128 bits (see foldConstants).
var folding = foldConstants()

// foldConstants returns, for each distance d in 512, 384, 256, 128 bits,
// the pair (x^(d+63) mod P, x^(d-1) mod P) bit-reflected. A 16-byte lane
// holds the reflected coefficients of x^127..x^0: its low quadword is the
// part times x^64. Moving the lane d bits forward multiplies the low
// quadword by x^(d+64) and the high one by x^d; a carry-less multiply of
// reflected operands yields the product times x, hence the -1.
func foldConstants() [4][2]uint64 {
	var k [4][2]uint64
	for i, d := range []int{512, 384, 256, 128} {
		k[i] = [2]uint64{reflect(xPowMod(d + 63)), reflect(xPowMod(d - 1))}
	}
	return k
}

// xPowMod returns x^n mod P in normal (not reflected) bit order, P being
// the ECMA-182 polynomial.
func xPowMod(n int) uint64 {
	const normal = 0x42F0E1EBA9EA3693
	v := uint64(1)
	for range n {
		carry := v >> 63
		v <<= 1
		if carry != 0 {
			v ^= normal
		}
	}
	return v
}

func reflect(v uint64) uint64 {
	var r uint64
	for range 64 {
		r = r<<1 | v&1
		v >>= 1
	}
	return r
}

// digest is a streaming CRC-64/XZ (hash.Hash64).
type digest struct{ crc uint64 }

func (d *digest) Write(p []byte) (int, error) {
	d.crc = Update(d.crc, p)
	return len(p), nil
}

func (d *digest) Sum64() uint64 { return d.crc }
func (d *digest) Reset()        { d.crc = 0 }
func (d *digest) Size() int     { return crc64.Size }
func (d *digest) BlockSize() int {
	return 1
}

func (d *digest) Sum(in []byte) []byte { return binary.BigEndian.AppendUint64(in, d.crc) }

// Combine returns the CRC of A||B given crc1 = CRC(A), crc2 = CRC(B) and
// len2 = len(B): crc1 times x^(8*len2) mod P, plus crc2 (the method of
// zlib 1.2.12's crc32_combine, in 64 bits). x^(8*len2) is a product of
// the precomputed powers x^(2^k), so a call costs O(log len2) carry-less
// multiplications of 64-bit polynomials, a few microseconds: a manifest's
// thousand parts combine in milliseconds.
func Combine(crc1, crc2 uint64, len2 int64) uint64 {
	if len2 <= 0 {
		return crc1
	}
	return mulModP(xPow8n(uint64(len2)), crc1) ^ crc2
}

// one is the polynomial 1 (x^0) in reflected order.
const one = uint64(1) << 63

// xPow2k[k] is x^(2^k) mod P, reflected: k up to 3 + 63, for any int64
// length in bytes.
var xPow2k = func() (t [67]uint64) {
	t[0] = one >> 1 // x^1
	for k := 1; k < len(t); k++ {
		t[k] = mulModP(t[k-1], t[k-1])
	}
	return t
}()

// xPow8n returns x^(8n) mod P, reflected.
func xPow8n(n uint64) uint64 {
	p, k := one, 3 // 8n bits: start at x^(2^3)
	for ; n != 0; n, k = n>>1, k+1 {
		if n&1 != 0 {
			p = mulModP(xPow2k[k], p)
		}
	}
	return p
}

// mulModP returns a times b mod P, both reflected.
func mulModP(a, b uint64) uint64 {
	var p uint64
	for m := one; ; m >>= 1 {
		if a&m != 0 {
			p ^= b
			if a&(m-1) == 0 {
				return p
			}
		}
		if b&1 != 0 {
			b = b>>1 ^ poly
		} else {
			b >>= 1
		}
		if m == 1 {
			return p
		}
	}
}
