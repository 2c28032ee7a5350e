package throttle

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/credentials"
	"github.com/vodwatchd/vodwatchd/internal/emulator"
	"github.com/vodwatchd/vodwatchd/internal/emulator/emulatortest"
	"github.com/vodwatchd/vodwatchd/internal/uploader"
)

const mib = 1 << 20

// wireCounter counts the bytes written into client sockets: what leaves
// for the network, after http.Transport's buffering, headers included.
type wireCounter struct{ n atomic.Int64 }

type countingConn struct {
	net.Conn
	c *wireCounter
}

func (c countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.c.n.Add(int64(n))
	return n, err
}

// transport returns uploader.DefaultTransport() whose connections count
// the bytes they write into wc (nil: no counting).
func transport(wc *wireCounter) *http.Transport {
	t := uploader.DefaultTransport()
	if wc == nil {
		return t
	}
	dial := t.DialContext
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return countingConn{Conn: c, c: wc}, nil
	}
	return t
}

// newUploader returns the real uploader pointed at emu.
func newUploader(t testing.TB, emu *emulator.Emulator, opts ...func(*uploader.Config)) *uploader.Uploader {
	t.Helper()
	cfg := uploader.Config{
		Region: "ap-guangzhou", Endpoint: emu.Addr(), Scheme: emu.Scheme(), COSEndpoint: emu.Addr(),
		Credentials: credentials.Static(emu.SecretID(), emu.SecretKey(), ""),
		Transport:   uploader.DefaultTransport(),
	}
	for _, o := range opts {
		o(&cfg)
	}
	u, err := uploader.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func startEmulator(t testing.TB, opts ...func(*emulator.Config)) *emulator.Emulator {
	return emulatortest.Start(t, opts...)
}

// writeFile writes size pseudo-random bytes to dir/name.
func writeFile(t testing.TB, dir, name string, size int) string {
	t.Helper()
	p := filepath.Join(dir, name)
	var seed [32]byte
	copy(seed[:], fmt.Sprintf("%d/%s", size, name))
	b := make([]byte, size)
	rand.NewChaCha8(seed).Read(b)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// uploadAll uploads files with n at once and returns each one's error.
func uploadAll(ctx context.Context, u *uploader.Uploader, files []string, n int) []error {
	errs := make([]error, len(files))
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for i, f := range files {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			_, errs[i] = u.Upload(ctx, uploader.Request{MediaFilePath: f}, nil, nil)
		})
	}
	wg.Wait()
	return errs
}

// sampler records a counter every period until stopped.
type sampler struct {
	at    []time.Time
	n     []int64
	stop  chan struct{}
	done  chan struct{}
	count func() int64
}

func startSampler(count func() int64, period time.Duration) *sampler {
	s := &sampler{stop: make(chan struct{}), done: make(chan struct{}), count: count}
	s.record()
	go func() {
		defer close(s.done)
		tk := time.NewTicker(period)
		defer tk.Stop()
		for {
			select {
			case <-s.stop:
				s.record()
				return
			case <-tk.C:
				s.record()
			}
		}
	}()
	return s
}

func (s *sampler) record() {
	s.at = append(s.at, time.Now())
	s.n = append(s.n, s.count())
}

func (s *sampler) finish() {
	close(s.stop)
	<-s.done
}

// maxWindow returns the highest rate (bytes/s) over any window of at
// least w between two samples.
func (s *sampler) maxWindow(w time.Duration) float64 {
	best := 0.0
	j := 0
	for i := range s.at {
		for j < len(s.at) && s.at[j].Sub(s.at[i]) < w {
			j++
		}
		if j == len(s.at) {
			break
		}
		r := float64(s.n[j]-s.n[i]) / s.at[j].Sub(s.at[i]).Seconds()
		best = max(best, r)
	}
	return best
}

// transfer returns the bytes counted and the time between the first
// sample above the API chatter (minBytes) and the first at the final count.
func (s *sampler) transfer(minBytes int64) (int64, time.Duration) {
	last := len(s.n) - 1
	first := 0
	for first < last && s.n[first] < minBytes {
		first++
	}
	if first > 0 {
		first-- // the transfer began during the previous period
	}
	end := last
	for end > first && s.n[end-1] == s.n[last] {
		end--
	}
	return s.n[end] - s.n[first], s.at[end].Sub(s.at[first])
}
