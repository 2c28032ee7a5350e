package crc64x

import (
	"hash/crc64"
	"math/rand/v2"
	"testing"
)

var reference = crc64.MakeTable(crc64.ECMA)

// TestUpdateMatchesTheTable checks the folded path against hash/crc64 at
// every length around the fold's block sizes, from unaligned starts and
// from a non-zero CRC.
func TestUpdateMatchesTheTable(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	buf := make([]byte, 1<<16+100)
	for i := range buf {
		buf[i] = byte(r.Uint32())
	}
	lengths := []int{}
	for n := range 300 {
		lengths = append(lengths, n)
	}
	lengths = append(lengths, 1023, 1024, 1025, 4096+7, 1<<16)
	for _, n := range lengths {
		for _, off := range []int{0, 1, 7, 15, 33} {
			for _, seed := range []uint64{0, 0x995DC9BBDF1939FA, ^uint64(0)} {
				p := buf[off : off+n]
				if got, want := Update(seed, p), crc64.Update(seed, reference, p); got != want {
					t.Fatalf("Update(%#x, %d bytes at %d) = %#x, hash/crc64 says %#x", seed, n, off, got, want)
				}
			}
		}
	}
}

func TestDigestStreams(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	data := make([]byte, 200_000)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	want := crc64.Checksum(data, reference)
	for _, chunk := range []int{1, 15, 16, 63, 64, 65, 4096, 65536, len(data)} {
		h := New()
		for p := data; len(p) > 0; {
			n := min(chunk, len(p))
			h.Write(p[:n])
			p = p[n:]
		}
		if h.Sum64() != want {
			t.Fatalf("chunks of %d: %#x, want %#x", chunk, h.Sum64(), want)
		}
		ref := crc64.New(reference)
		ref.Write(data)
		if string(h.Sum(nil)) != string(ref.Sum(nil)) || h.Size() != ref.Size() {
			t.Fatalf("Sum/Size differ from hash/crc64's")
		}
		h.Reset()
		if h.Sum64() != 0 {
			t.Fatal("Reset left a CRC")
		}
	}
}

func FuzzUpdateMatchesTheTable(f *testing.F) {
	f.Add(uint64(0), []byte("123456789"))
	f.Add(uint64(1), make([]byte, 200))
	f.Fuzz(func(t *testing.T, seed uint64, p []byte) {
		if got, want := Update(seed, p), crc64.Update(seed, reference, p); got != want {
			t.Fatalf("Update(%#x, %d bytes) = %#x, hash/crc64 says %#x", seed, len(p), got, want)
		}
	})
}

func BenchmarkUpdate(b *testing.B) {
	buf := make([]byte, 1<<20)
	b.Run("fold", func(b *testing.B) {
		b.SetBytes(int64(len(buf)))
		for b.Loop() {
			Update(0, buf)
		}
	})
	b.Run("table", func(b *testing.B) {
		b.SetBytes(int64(len(buf)))
		for b.Loop() {
			crc64.Update(0, reference, buf)
		}
	})
}
