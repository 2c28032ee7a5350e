package health_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vodwatchd/vodwatchd/internal/health"
	"github.com/vodwatchd/vodwatchd/internal/metrics"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fakeStatus is a settable Status; the daemon's real one reads its loop.
type fakeStatus struct {
	mu   sync.Mutex
	snap health.Snapshot
}

func (f *fakeStatus) HealthSnapshot(context.Context) health.Snapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.snap
	s.Watches = append([]health.Watch(nil), f.snap.Watches...)
	return s
}

func (f *fakeStatus) set(mut func(*health.Snapshot)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	mut(&f.snap)
}

func healthy() health.Snapshot {
	return health.Snapshot{
		Heartbeat: t0.Add(-time.Second),
		StateOpen: true,
		Watches: []health.Watch{
			{Root: "/srv/drop", Live: true, LastScan: t0.Add(-10 * time.Minute)},
			{Root: "/srv/news", Live: true, LastScan: t0.Add(-20 * time.Minute)},
		},
		QueueDepth:   4,
		LastProgress: t0.Add(-time.Minute),
	}
}

var opts = health.Options{
	HeartbeatMaxAge: 30 * time.Second,
	ScanMaxAge:      time.Hour,
	StallAfter:      15 * time.Minute,
	Now:             func() time.Time { return t0 },
}

func failed(r health.Report) []health.Check {
	var out []health.Check
	for _, c := range r.Checks {
		if !c.OK {
			out = append(out, c)
		}
	}
	return out
}

func TestReadiness(t *testing.T) {
	tests := []struct {
		name       string
		mut        func(*health.Snapshot)
		wantCheck  string // "" = ready
		wantTarget string
		wantReason string
	}{
		{"healthy", func(*health.Snapshot) {}, "", "", ""},
		{"empty queue never stalls", func(s *health.Snapshot) { s.QueueDepth = 0; s.LastProgress = t0.Add(-48 * time.Hour) }, "", "", ""},
		{"no watches", func(s *health.Snapshot) { s.Watches = nil }, "", "", ""},
		{"stale heartbeat", func(s *health.Snapshot) { s.Heartbeat = t0.Add(-time.Minute) }, "heartbeat", "", "event loop silent for 1m0s"},
		{"loop never started", func(s *health.Snapshot) { s.Heartbeat = time.Time{} }, "heartbeat", "", "has not started"},
		{"state closed", func(s *health.Snapshot) { s.StateOpen = false }, "state", "", "not open"},
		{"state not writable", func(s *health.Snapshot) { s.StateOpen = false; s.StateError = "disk full (nothing was recorded)" }, "state", "", "not writable: disk full"},
		{"watch root gone", func(s *health.Snapshot) {
			s.Watches[1].Live = false
			s.Watches[1].Reason = "stat /srv/news: no such file or directory"
		}, "watch_root", "/srv/news", "no such file or directory"},
		{"watch root down without reason", func(s *health.Snapshot) { s.Watches[0].Live = false }, "watch_root", "/srv/drop", "not live"},
		{"scan too old", func(s *health.Snapshot) { s.Watches[0].LastScan = t0.Add(-2 * time.Hour) }, "last_scan", "/srv/drop", "last full scan 2h0m0s ago"},
		{"no scan yet", func(s *health.Snapshot) { s.Watches[1].LastScan = time.Time{} }, "last_scan", "/srv/news", "no full scan"},
		{"stalled queue", func(s *health.Snapshot) { s.LastProgress = t0.Add(-20 * time.Minute) }, "progress", "", "stalled: 4 jobs queued and no progress for 20m0s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := &fakeStatus{snap: healthy()}
			st.set(tc.mut)
			rep := health.NewChecker(st, opts).Ready(context.Background())
			bad := failed(rep)
			if tc.wantCheck == "" {
				if !rep.OK() || len(bad) != 0 {
					t.Fatalf("want ready, got %+v", rep)
				}
				return
			}
			if rep.OK() || rep.Status != "unhealthy" {
				t.Fatalf("want unhealthy, got %+v", rep)
			}
			if len(bad) != 1 {
				t.Fatalf("want exactly one failed check, got %+v", bad)
			}
			c := bad[0]
			if c.Name != tc.wantCheck || c.Target != tc.wantTarget || !strings.Contains(c.Reason, tc.wantReason) {
				t.Errorf("failed check = %+v, want %s %s containing %q", c, tc.wantCheck, tc.wantTarget, tc.wantReason)
			}
		})
	}
}

func TestAliveIgnoresReadiness(t *testing.T) {
	st := &fakeStatus{snap: healthy()}
	st.set(func(s *health.Snapshot) { s.StateOpen = false; s.Watches[0].Live = false })
	c := health.NewChecker(st, opts)
	if rep := c.Alive(context.Background()); !rep.OK() || len(rep.Checks) != 1 {
		t.Fatalf("Alive with a closed state but a fresh heartbeat: %+v", rep)
	}
	st.set(func(s *health.Snapshot) { s.Heartbeat = t0.Add(-31 * time.Second) })
	if rep := c.Alive(context.Background()); rep.OK() {
		t.Fatalf("Alive with a 31s old heartbeat: %+v", rep)
	}
}

func TestDefaults(t *testing.T) {
	st := &fakeStatus{snap: healthy()}
	st.set(func(s *health.Snapshot) {
		now := time.Now()
		s.Heartbeat = now.Add(-29 * time.Second)
		s.LastProgress = now.Add(-29 * time.Minute)
		for i := range s.Watches {
			s.Watches[i].LastScan = now.Add(-59 * time.Minute)
		}
	})
	c := health.NewChecker(st, health.Options{})
	if rep := c.Ready(context.Background()); !rep.OK() {
		t.Fatalf("just inside the defaults (30s, 1h, 30m): %+v", rep)
	}
	st.set(func(s *health.Snapshot) { s.Heartbeat = time.Now().Add(-31 * time.Second) })
	if rep := c.Ready(context.Background()); rep.OK() {
		t.Fatalf("heartbeat just past the 30s default: %+v", rep)
	}
}

// serve starts a Server on 127.0.0.1:0 owned by the test.
func serve(t *testing.T, o health.ServerOptions) string {
	t.Helper()
	o.Addr = "127.0.0.1:0"
	s, err := health.Listen(o)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Serve did not stop")
		}
	})
	return "http://" + s.Addr()
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// TestServerWatchRootDisappears uses a real directory as the watch root:
// removing it flips /readyz to 503 naming the root, while /healthz stays 200.
func TestServerWatchRootDisappears(t *testing.T) {
	root := filepath.Join(t.TempDir(), "drop")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	st := &dirStatus{root: root, start: time.Now()}
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	m.ObserveUpload(time.Second, 512, time.Now())
	base := serve(t, health.ServerOptions{Checker: health.NewChecker(st, health.Options{}), Metrics: m.Handler()})

	if code, body := get(t, base+"/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz with the root present: %d %s", code, body)
	}
	if err := os.Remove(root); err != nil {
		t.Fatal(err)
	}
	code, body := get(t, base+"/readyz")
	if code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz after removing the root: %d %s", code, body)
	}
	var rep health.Report
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatalf("/readyz body is not JSON: %v\n%s", err, body)
	}
	bad := failed(rep)
	if len(bad) != 1 || bad[0].Name != "watch_root" || bad[0].Target != root || !strings.Contains(bad[0].Reason, "no such file") {
		t.Errorf("failed checks = %+v, want watch_root %s: no such file", bad, root)
	}
	if code, body := get(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz while not ready but alive: %d %s", code, body)
	}
	if code, body := get(t, base+"/metrics"); code != http.StatusOK || !strings.Contains(body, "vodwatchd_uploaded_bytes_total 512") {
		t.Errorf("/metrics: %d, lacks the upload bytes:\n%s", code, body)
	}
	if code, _ := get(t, base+"/nope"); code != http.StatusNotFound {
		t.Errorf("/nope: %d, want 404", code)
	}
}

// dirStatus reports a real directory as its single watch root.
type dirStatus struct {
	root  string
	start time.Time
}

func (d *dirStatus) HealthSnapshot(context.Context) health.Snapshot {
	w := health.Watch{Root: d.root, Live: true, LastScan: d.start}
	if _, err := os.Stat(d.root); err != nil {
		w.Live, w.Reason = false, err.Error()
	}
	return health.Snapshot{Heartbeat: time.Now(), StateOpen: true, Watches: []health.Watch{w}, LastProgress: d.start}
}

func TestServerStaleHeartbeat(t *testing.T) {
	st := &fakeStatus{snap: healthy()}
	st.set(func(s *health.Snapshot) { s.Heartbeat = t0.Add(-5 * time.Minute) })
	base := serve(t, health.ServerOptions{Checker: health.NewChecker(st, opts)})
	for _, path := range []string{"/healthz", "/readyz"} {
		code, body := get(t, base+path)
		if code != http.StatusServiceUnavailable || !strings.Contains(body, `"name": "heartbeat"`) ||
			!strings.Contains(body, "event loop silent for 5m0s") {
			t.Errorf("%s with a stale heartbeat: %d %s", path, code, body)
		}
	}
	if code, _ := get(t, base+"/metrics"); code != http.StatusNotFound {
		t.Errorf("/metrics without a metrics handler: %d, want 404", code)
	}
	resp, err := http.Post(base+"/readyz", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /readyz: %d, want 405", resp.StatusCode)
	}
}

func TestListenRefusals(t *testing.T) {
	checker := health.NewChecker(&fakeStatus{snap: healthy()}, opts)
	tests := []struct {
		addr    string
		allow   bool
		wantErr string
	}{
		{"0.0.0.0:0", false, "not a loopback address"},
		{":0", false, "binds every interface"},
		{"[::]:0", false, "not a loopback address"},
		{"192.0.2.1:9180", false, "not a loopback address"},
		{"metrics.example.com:9180", false, "not a loopback address"},
		{"127.0.0.1", false, "want host:port"},
		{"127.0.0.1:http", false, "is not a number"},
		{"127.0.0.1:70000", false, "is not a number"},
		{"0.0.0.0:0", true, ""},
		{"localhost:0", false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			s, err := health.Listen(health.ServerOptions{Addr: tc.addr, AllowNonLoopback: tc.allow, Checker: checker})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Listen(%q, allow=%v): %v", tc.addr, tc.allow, err)
				}
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
				return
			}
			if err == nil {
				s.Close()
				t.Fatalf("Listen(%q, allow=%v) succeeded, want %q", tc.addr, tc.allow, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), tc.addr) {
				t.Errorf("Listen(%q): %v, want it to name the address and say %q", tc.addr, err, tc.wantErr)
			}
		})
	}
	// IPv6 loopback may not be bindable on every host: check the address only.
	for _, addr := range []string{"[::1]:9180", "127.1.2.3:9180", "[::ffff:127.0.0.1]:9180"} {
		if err := health.CheckListenAddr(addr, false); err != nil {
			t.Errorf("CheckListenAddr(%q): %v, want accepted", addr, err)
		}
	}
	if _, err := health.Listen(health.ServerOptions{Addr: "127.0.0.1:0"}); err == nil || !strings.Contains(err.Error(), "Checker") {
		t.Errorf("Listen without a Checker: %v", err)
	}
}

func TestListenBusyPort(t *testing.T) {
	checker := health.NewChecker(&fakeStatus{snap: healthy()}, opts)
	a, err := health.Listen(health.ServerOptions{Addr: "127.0.0.1:0", Checker: checker})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	_, err = health.Listen(health.ServerOptions{Addr: a.Addr(), Checker: checker})
	if err == nil || !strings.Contains(err.Error(), a.Addr()) {
		t.Fatalf("second Listen on %s: %v, want an error naming it", a.Addr(), err)
	}
}

func FuzzCheckListenAddr(f *testing.F) {
	for _, s := range []string{"127.0.0.1:9180", ":9180", "0.0.0.0:1", "[::1]:0", "localhost:80", "x", "[::ffff:127.0.0.1]:1", "127.0.0.1:-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		err := health.CheckListenAddr(addr, false)
		if err != nil {
			if !strings.Contains(err.Error(), "listen address") {
				t.Fatalf("error does not say what it is about: %v", err)
			}
			return
		}
		// Accepted without the override: the host must be loopback.
		if err := health.CheckListenAddr(addr, true); err != nil {
			t.Fatalf("accepted as loopback but refused with the override: %v", err)
		}
		if strings.HasPrefix(addr, ":") {
			t.Fatalf("accepted an every-interface address %q", addr)
		}
	})
}
