package crc64x

import (
	"math/rand/v2"
	"testing"
)

func TestChecksumIsCRC64XZ(t *testing.T) {
	// The CRC-64/XZ check value from the CRC catalogue.
	if got, want := Checksum([]byte("123456789")), uint64(0x995DC9BBDF1939FA); got != want {
		t.Fatalf("Checksum(123456789) = %#x, want %#x", got, want)
	}
	h := New()
	h.Write([]byte("1234"))
	h.Write([]byte("56789"))
	if h.Sum64() != 0x995DC9BBDF1939FA {
		t.Fatalf("streaming hash = %#x", h.Sum64())
	}
	if Update(Checksum([]byte("1234")), []byte("56789")) != 0x995DC9BBDF1939FA {
		t.Fatal("Update disagrees")
	}
}

func TestCombineTable(t *testing.T) {
	cases := []struct {
		name string
		a, b string
	}{
		{"both empty", "", ""},
		{"empty b", "hello", ""},
		{"empty a", "", "world"},
		{"one byte each", "a", "b"},
		{"check string", "1234", "56789"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := Checksum([]byte(c.a + c.b))
			got := Combine(Checksum([]byte(c.a)), Checksum([]byte(c.b)), int64(len(c.b)))
			if got != want {
				t.Fatalf("Combine = %#x, want %#x", got, want)
			}
		})
	}
}

func TestCombineRandomSplits(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(r.Uint32())
	}
	whole := Checksum(buf)
	for iter := 0; iter < 50; iter++ {
		// Split into 1..20 random consecutive parts.
		n := 1 + r.IntN(20)
		cuts := []int{0}
		for i := 0; i < n-1; i++ {
			cuts = append(cuts, r.IntN(len(buf)+1))
		}
		cuts = append(cuts, len(buf))
		sortInts(cuts)
		var crc uint64
		for i := 0; i+1 < len(cuts); i++ {
			part := buf[cuts[i]:cuts[i+1]]
			crc = Combine(crc, Checksum(part), int64(len(part)))
		}
		if crc != whole {
			t.Fatalf("iteration %d cuts %v: combined %#x, whole %#x", iter, cuts, crc, whole)
		}
	}
}

func sortInts(a []int) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

func FuzzCombine(f *testing.F) {
	f.Add([]byte("123456789"), 4)
	f.Add([]byte{}, 0)
	f.Add([]byte{0, 0, 0, 0xff}, 2)
	f.Fuzz(func(t *testing.T, data []byte, cut int) {
		if cut < 0 {
			cut = -cut
		}
		if len(data) > 0 {
			cut %= len(data) + 1
		} else {
			cut = 0
		}
		a, b := data[:cut], data[cut:]
		got := Combine(Checksum(a), Checksum(b), int64(len(b)))
		if want := Checksum(data); got != want {
			t.Fatalf("Combine split at %d = %#x, want %#x", cut, got, want)
		}
	})
}

func BenchmarkCombine(b *testing.B) {
	for i := 0; i < b.N; i++ {
		Combine(uint64(i), 12345, 8<<20)
	}
}

// TestCombineHugeLengths checks Combine against zlib's older method (GF(2)
// matrix squaring, kept here as the reference) at lengths no test can
// checksum directly, up to the largest int64.
func TestCombineHugeLengths(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	lengths := []int64{1, 7, 8 << 20, 5 << 40, 1<<61 + 12345, 1<<62 + 1, 1<<63 - 1}
	for range 50 {
		lengths = append(lengths, r.Int64())
	}
	for _, n := range lengths {
		a, b := r.Uint64(), r.Uint64()
		if got, want := Combine(a, b, n), combineMatrix(a, b, n); got != want {
			t.Errorf("Combine(%#x, %#x, %d) = %#x, the matrix method gives %#x", a, b, n, got, want)
		}
	}
}

// combineMatrix is zlib's crc32_combine before 1.2.12, in 64 bits: O(log
// len2) squarings of 64x64 GF(2) matrices.
func combineMatrix(crc1, crc2 uint64, len2 int64) uint64 {
	if len2 <= 0 {
		return crc1
	}
	var odd, even [64]uint64
	odd[0] = poly
	row := uint64(1)
	for n := 1; n < 64; n++ {
		odd[n] = row
		row <<= 1
	}
	square(&even, &odd)
	square(&odd, &even)
	for {
		square(&even, &odd)
		if len2&1 != 0 {
			crc1 = times(&even, crc1)
		}
		if len2 >>= 1; len2 == 0 {
			break
		}
		square(&odd, &even)
		if len2&1 != 0 {
			crc1 = times(&odd, crc1)
		}
		if len2 >>= 1; len2 == 0 {
			break
		}
	}
	return crc1 ^ crc2
}

func times(mat *[64]uint64, vec uint64) uint64 {
	var sum uint64
	for i := 0; vec != 0; i, vec = i+1, vec>>1 {
		if vec&1 != 0 {
			sum ^= mat[i]
		}
	}
	return sum
}

func square(dst, src *[64]uint64) {
	for n := range 64 {
		dst[n] = times(src, src[n])
	}
}
