package throttle

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/uploader"
)

// TestUploadUnder20MiBs uploads ~100 MiB (3 files at once, 8 MiB parts, 8
// in flight each: 24 bodies share the limit) through the real uploader to
// the emulator under a 20 MiB/s limit.
//
// The rate is measured on the wire: the transport's connections count the
// bytes they write into their sockets (headers and API calls included),
// sampled every 100 ms. That is independent of the limiter's own
// bookkeeping and sits after http.Transport's 256 KiB write buffer, so a
// burst the limiter let out would show. The average over the transfer
// (first to last byte, so the sessions' set-up and the emulator assembling
// the objects afterwards are left out) must be within 10% of the limit, and
// no one-second window above 150% of it.
//
// Under the race detector hashing is ~5x slower and a shared 2-core
// machine cannot move 20 MiB/s through the uploader and the emulator at
// all, so the same test runs at 4 MiB/s with a fifth of the bytes.
func TestUploadUnder20MiBs(t *testing.T) {
	limit, fileSize := int64(20*mib), 32*mib
	if raceEnabled {
		limit, fileSize = 4*mib, 6*mib+mib/2
	}
	emu := startEmulator(t)
	dir := t.TempDir()
	var files []string
	for i := range 3 {
		files = append(files, writeFile(t, dir, "big"+string(rune('a'+i))+".mp4", fileSize))
	}
	wc := &wireCounter{}
	lim := NewLimiter(limit)
	u := newUploader(t, emu, func(c *uploader.Config) {
		c.Transport = transport(wc)
		c.BodyWrapper = Wrap(lim)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	s := startSampler(wc.n.Load, 50*time.Millisecond)
	errs := uploadAll(ctx, u, files, len(files))
	s.finish()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("upload %s: %v", files[i], err)
		}
	}
	bytes, span := s.transfer(64 << 10)
	avg := float64(bytes) / span.Seconds()
	peak := s.maxWindow(time.Second)
	t.Logf("limit %s: %.1f MiB on the wire in %v: average %.2f MiB/s, highest 1 s window %.2f MiB/s",
		FormatRate(limit), float64(bytes)/mib, span.Round(time.Millisecond), avg/mib, peak/mib)
	if span < 4*time.Second {
		t.Errorf("the transfer took %v, want a run of several seconds", span)
	}
	if avg < 0.9*float64(limit) || avg > 1.1*float64(limit) {
		t.Errorf("average %.2f MiB/s, want within 10%% of %s", avg/mib, FormatRate(limit))
	}
	if peak > 1.5*float64(limit) {
		t.Errorf("a one-second window reached %.2f MiB/s, want at most 150%% of %s", peak/mib, FormatRate(limit))
	}
	if got, want := emu.Stats().COS.BytesReceived, int64(3*fileSize); got != want {
		t.Errorf("emulator received %d body bytes, want %d", got, want)
	}
}

// endless yields zeros forever.
type endless struct{}

func (endless) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestFairShare runs 8 readers against one limit: together they get the
// limit, and each about its share (none starves).
func TestFairShare(t *testing.T) {
	const limit = 4 * mib
	lim := NewLimiter(limit)
	wrap := Wrap(lim)
	var counts [8]atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range counts {
		wg.Go(func() {
			r := wrap(endless{})
			buf := make([]byte, 256<<10)
			for {
				select {
				case <-stop:
					return
				default:
				}
				n, _ := r.Read(buf)
				counts[i].Add(int64(n))
			}
		})
	}
	time.Sleep(200 * time.Millisecond) // past the initial burst
	var before [8]int64
	for i := range counts {
		before[i] = counts[i].Load()
	}
	const span = 1500 * time.Millisecond
	time.Sleep(span)
	var total int64
	var each [8]int64
	for i := range counts {
		each[i] = counts[i].Load() - before[i]
		total += each[i]
	}
	close(stop)
	wg.Wait()
	rate := float64(total) / span.Seconds()
	if rate < 0.85*limit || rate > 1.15*limit {
		t.Errorf("together %.2f MiB/s, want about 4", rate/mib)
	}
	share := float64(total) / 8
	for i, n := range each {
		if float64(n) < 0.6*share || float64(n) > 1.4*share {
			t.Errorf("reader %d got %d bytes, fair share %.0f: %v", i, n, share, each)
		}
	}
}

// TestSetLimitReachesRunningReaders changes the limit under a running
// reader: a slower and a faster limit both show within a fraction of a
// second, and lifting it releases a reader stuck at a tiny rate at once.
func TestSetLimitReachesRunningReaders(t *testing.T) {
	lim := NewLimiter(1 * mib)
	r := Wrap(lim)(endless{})
	var n atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			select {
			case <-stop:
				return
			default:
			}
			k, _ := r.Read(buf)
			n.Add(int64(k))
		}
	}()
	measure := func(d time.Duration) float64 {
		a := n.Load()
		time.Sleep(d)
		return float64(n.Load()-a) / d.Seconds()
	}
	time.Sleep(150 * time.Millisecond)
	if got := measure(500 * time.Millisecond); got > 1.3*mib {
		t.Errorf("at 1 MiB/s: %.2f MiB/s", got/mib)
	}
	lim.SetLimit(8 * mib)
	time.Sleep(100 * time.Millisecond)
	if got := measure(500 * time.Millisecond); got < 6*mib || got > 10*mib {
		t.Errorf("after SetLimit(8 MiB/s): %.2f MiB/s", got/mib)
	}
	lim.SetLimit(10) // 10 bytes/s: the reader now waits ~a tenth of a second a byte
	time.Sleep(100 * time.Millisecond)
	if got := measure(500 * time.Millisecond); got > 1000 {
		t.Errorf("after SetLimit(10): %.0f B/s", got)
	}
	lim.SetLimit(0)
	time.Sleep(50 * time.Millisecond)
	if got := measure(100 * time.Millisecond); got < 20*mib {
		t.Errorf("unlimited: only %.2f MiB/s", got/mib)
	}
	close(stop)
	<-done
	if lim.Limit() != 0 {
		t.Errorf("Limit() = %d, want 0", lim.Limit())
	}
}

// TestWrapKeepsBody checks that a wrapped body reads the same bytes and
// keeps the Seek and Len the SDKs look for.
func TestWrapKeepsBody(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 10000)
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name             string
		r                func() io.Reader
		seeker, hasLen   bool
		closesUnderlying bool
	}{
		{"bytes.Reader", func() io.Reader { return bytes.NewReader(data) }, true, true, false},
		{"strings.Reader", func() io.Reader { return strings.NewReader(string(data)) }, true, true, false},
		{"SectionReader", func() io.Reader { return io.NewSectionReader(bytes.NewReader(data), 0, int64(len(data))) }, true, false, false},
		{"TeeReader", func() io.Reader { return io.TeeReader(bytes.NewReader(data), io.Discard) }, false, false, false},
		{"bytes.Buffer", func() io.Reader { return bytes.NewBuffer(data) }, false, true, false},
		{"os.File", func() io.Reader { f.Seek(0, io.SeekStart); return f }, true, false, true},
	}
	wrap := Wrap(NewLimiter(64*mib), nil, NewLimiter(0))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := wrap(tc.r())
			_, isSeeker := w.(io.Seeker)
			l, isLen := w.(interface{ Len() int })
			if isSeeker != tc.seeker || isLen != tc.hasLen {
				t.Fatalf("Seeker %v Len %v, want %v %v", isSeeker, isLen, tc.seeker, tc.hasLen)
			}
			if isLen && l.Len() != len(data) {
				t.Errorf("Len() = %d, want %d", l.Len(), len(data))
			}
			got, err := io.ReadAll(w)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("read %d bytes, err %v; want the %d original bytes", len(got), err, len(data))
			}
			if isSeeker {
				if _, err := w.(io.Seeker).Seek(0, io.SeekStart); err != nil {
					t.Fatal(err)
				}
				if again, _ := io.ReadAll(w); !bytes.Equal(again, data) {
					t.Errorf("after Seek(0): %d bytes differ", len(again))
				}
			}
			err = w.(io.Closer).Close()
			_, statErr := f.Stat()
			if tc.closesUnderlying && (err != nil || statErr == nil) {
				t.Errorf("Close did not close the file: %v, stat %v", err, statErr)
			}
		})
	}
	if Wrap()(strings.NewReader("x")) == nil || Wrap(nil)(nil) != nil {
		t.Error("Wrap with no limiters must pass readers through")
	}
}

// TestCloseEndsWait: a body waiting for tokens returns as soon as the
// request closes it.
func TestCloseEndsWait(t *testing.T) {
	lim := NewLimiter(1) // one byte a second
	w := Wrap(lim)(endless{})
	buf := make([]byte, 8)
	if _, err := w.Read(buf); err != nil { // the one-byte burst
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := w.Read(buf)
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	w.(io.Closer).Close()
	select {
	case err := <-errc:
		if !errors.Is(err, errClosed) {
			t.Errorf("Read after Close: %v, want errClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Read still waiting after Close")
	}
}

// TestReadSizes: a body under no limit reads as much as the caller's
// buffer holds (a small file's body in one read and one write); under a
// limit, a chunk at a time, whatever the buffer.
func TestReadSizes(t *testing.T) {
	const size = 256 << 10
	tests := []struct {
		name    string
		limits  []int64
		maxRead int
	}{
		{"unlimited", []int64{0}, size},
		{"unlimited, two limiters", []int64{0, 0}, size},
		{"64 MiB/s", []int64{64 * mib}, maxChunk},
		{"one limited of two", []int64{0, 64 * mib}, maxChunk},
		{"100 KiB/s", []int64{100 << 10}, 2048},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ls []*Limiter
			for _, l := range tc.limits {
				ls = append(ls, NewLimiter(l))
			}
			body := Wrap(ls...)(io.LimitReader(zeros{}, size))
			buf := make([]byte, size)
			n, err := body.Read(buf)
			if err != nil || n != tc.maxRead {
				t.Fatalf("first Read = %d, %v; want %d", n, err, tc.maxRead)
			}
		})
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }
