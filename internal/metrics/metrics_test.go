package metrics_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vodwatchd/vodwatchd/internal/metrics"
)

func newMetrics(t *testing.T) (*metrics.Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return m, reg
}

// value gathers reg and returns the value of the named sample with labels.
func value(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
	}
	t.Fatalf("no sample %s%v", name, labels)
	return 0
}

func TestCounters(t *testing.T) {
	m, reg := newMetrics(t)
	now := time.Unix(1767225600, 0)

	m.FileSeen("/srv/drop")
	m.FileSeen("/srv/drop")
	m.FileSeen("/srv/news")
	m.ObserveUpload(3*time.Second, 1000, now.Add(-time.Minute))
	m.ObserveUpload(90*time.Second, 2500, now)
	m.UploadFailed("InternalError")
	m.UploadFailed("InternalError")
	m.UploadFailed("AuthFailure.SignatureFailure")
	m.UploadFailed("")
	m.Retried("UploadPart")
	m.WatcherOverflow("/srv/drop")
	m.WatcherRescan("/srv/drop", now)
	m.WatcherRescan("/srv/drop", now)
	m.SetWatchUp("/srv/drop", true)
	m.SetWatchUp("/srv/news", false)
	m.SetOldestPendingAge(42 * time.Second)
	m.SetBandwidthLimit(10 << 20)
	m.SetUploadRate(1234.5)
	m.SetQueue(7, map[string]int{"high": 2, "normal": 5})
	m.SetBuildInfo("v1.2.3", "go1.26.8")
	m.SetWaiting(map[string]int{"settling": 3, "bundle files": 1})
	m.SetWaiting(map[string]int{"settling": 2})

	tests := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"vodwatchd_files_seen_total", map[string]string{"watch": "/srv/drop"}, 2},
		{"vodwatchd_files_seen_total", map[string]string{"watch": "/srv/news"}, 1},
		{"vodwatchd_uploads_total", nil, 2},
		{"vodwatchd_uploaded_bytes_total", nil, 3500},
		{"vodwatchd_upload_duration_seconds", nil, 2},
		{"vodwatchd_last_upload_timestamp_seconds", nil, float64(now.Unix())},
		{"vodwatchd_upload_failures_total", map[string]string{"code": "InternalError"}, 2},
		{"vodwatchd_upload_failures_total", map[string]string{"code": "AuthFailure.SignatureFailure"}, 1},
		{"vodwatchd_upload_failures_total", map[string]string{"code": "unknown"}, 1},
		{"vodwatchd_retries_total", map[string]string{"op": "UploadPart"}, 1},
		{"vodwatchd_watcher_overflows_total", map[string]string{"watch": "/srv/drop"}, 1},
		{"vodwatchd_watcher_rescans_total", map[string]string{"watch": "/srv/drop"}, 2},
		{"vodwatchd_watcher_last_scan_timestamp_seconds", map[string]string{"watch": "/srv/drop"}, float64(now.Unix())},
		{"vodwatchd_watch_up", map[string]string{"watch": "/srv/drop"}, 1},
		{"vodwatchd_watch_up", map[string]string{"watch": "/srv/news"}, 0},
		{"vodwatchd_oldest_pending_job_age_seconds", nil, 42},
		{"vodwatchd_bandwidth_limit_bytes_per_second", nil, 10 << 20},
		{"vodwatchd_upload_rate_bytes_per_second", nil, 1234.5},
		{"vodwatchd_queue_depth", nil, 7},
		{"vodwatchd_queue_depth_by_priority", map[string]string{"priority": "high"}, 2},
		{"vodwatchd_queue_depth_by_priority", map[string]string{"priority": "normal"}, 5},
		{"vodwatchd_build_info", map[string]string{"version": "v1.2.3", "goversion": "go1.26.8"}, 1},
		{"vodwatchd_waiting_files", map[string]string{"reason": "settling"}, 2},
		{"vodwatchd_waiting_files", map[string]string{"reason": "bundle files"}, 0},
	}
	for _, tc := range tests {
		if got := value(t, reg, tc.name, tc.labels); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
}

func TestUploadDurationBuckets(t *testing.T) {
	m, reg := newMetrics(t)
	for _, d := range []time.Duration{50 * time.Millisecond, 2 * time.Second, 2 * time.Hour} {
		m.ObserveUpload(d, 1, time.Now())
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "vodwatchd_upload_duration_seconds" {
			continue
		}
		h := f.GetMetric()[0].GetHistogram()
		b := h.GetBucket()
		if first, last := b[0].GetUpperBound(), b[len(b)-1].GetUpperBound(); first != 0.1 || last != 3600 {
			t.Errorf("buckets %v..%v, want 0.1..3600", first, last)
		}
		if got := b[0].GetCumulativeCount(); got != 1 {
			t.Errorf("le=0.1 count = %d, want 1", got)
		}
		if got := b[len(b)-1].GetCumulativeCount(); got != 2 {
			t.Errorf("le=3600 count = %d, want 2 (the 2 h upload is only in +Inf)", got)
		}
		if h.GetSampleCount() != 3 {
			t.Errorf("sample count = %d, want 3", h.GetSampleCount())
		}
		return
	}
	t.Fatal("histogram not gathered")
}

func TestJobCountsZeroMissingStages(t *testing.T) {
	m, reg := newMetrics(t)
	m.SetJobCounts(map[string]int{"queued": 3, "uploading": 2, "done": 10})
	m.SetJobCounts(map[string]int{"done": 15, "failed": 1})
	want := map[string]float64{"queued": 0, "uploading": 0, "done": 15, "failed": 1}
	for stage, w := range want {
		if got := value(t, reg, "vodwatchd_jobs", map[string]string{"stage": stage}); got != w {
			t.Errorf("jobs{stage=%q} = %v, want %v", stage, got, w)
		}
	}
	if n := testutil.CollectAndCount(reg, "vodwatchd_jobs"); n != 4 {
		t.Errorf("vodwatchd_jobs has %d series, want 4", n)
	}
}

func TestDuplicateRegistrationFails(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := metrics.New(reg); err != nil {
		t.Fatal(err)
	}
	if _, err := metrics.New(reg); err == nil || !strings.Contains(err.Error(), "metrics: registering") {
		t.Fatalf("second New on one registry: err = %v, want a registration error", err)
	}
}

func TestNilMetricsIsNoop(t *testing.T) {
	var m *metrics.Metrics
	m.FileSeen("x")
	m.ObserveUpload(time.Second, 1, time.Now())
	m.UploadFailed("x")
	m.Retried("x")
	m.WatcherOverflow("x")
	m.WatcherRescan("x", time.Now())
	m.SetWatchUp("x", true)
	m.SetJobCounts(map[string]int{"done": 1})
	m.SetQueue(1, nil)
	m.SetOldestPendingAge(time.Second)
	m.SetBandwidthLimit(1)
	m.SetUploadRate(1)
	m.SetBuildInfo("v", "go")
	m.SetWaiting(map[string]int{"cover": 1})
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("nil Metrics handler: status %d, want 404", rec.Code)
	}
}

func TestScrape(t *testing.T) {
	m, _ := newMetrics(t)
	m.ObserveUpload(2*time.Second, 4096, time.Unix(1767225600, 0))
	m.UploadFailed("RequestLimitExceeded")
	m.SetQueue(3, nil)
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()

	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	text := string(body)
	for _, want := range []string{
		"# HELP vodwatchd_uploads_total Uploads committed to VOD",
		"# TYPE vodwatchd_uploads_total counter",
		"vodwatchd_uploads_total 1",
		"vodwatchd_uploaded_bytes_total 4096",
		`vodwatchd_upload_failures_total{code="RequestLimitExceeded"} 1`,
		`vodwatchd_upload_duration_seconds_bucket{le="2.5"} 1`,
		"vodwatchd_upload_duration_seconds_count 1",
		"vodwatchd_queue_depth 3",
		"vodwatchd_last_upload_timestamp_seconds 1.7672256e+09",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", text)
	}
}

// TestEveryCounterFromStart: before anything happened, once the watch roots
// are known, every counter family has its series at 0 (so rate() and
// alerts work from the first scrape), and the standard process_* and go_*
// collectors are there.
func TestEveryCounterFromStart(t *testing.T) {
	m, reg := newMetrics(t)
	m.SetWatchUp("/srv/drop", true)
	for _, tc := range []struct {
		name   string
		labels map[string]string
	}{
		{"vodwatchd_files_seen_total", map[string]string{"watch": "/srv/drop"}},
		{"vodwatchd_watcher_overflows_total", map[string]string{"watch": "/srv/drop"}},
		{"vodwatchd_watcher_rescans_total", map[string]string{"watch": "/srv/drop"}},
		{"vodwatchd_upload_failures_total", map[string]string{"code": "InternalError"}},
		{"vodwatchd_upload_failures_total", map[string]string{"code": "RequestLimitExceeded"}},
		{"vodwatchd_retries_total", map[string]string{"op": "UploadPart"}},
		{"vodwatchd_uploads_total", nil},
		{"vodwatchd_uploaded_bytes_total", nil},
	} {
		if got := value(t, reg, tc.name, tc.labels); got != 0 {
			t.Errorf("%s%v = %v at start, want 0", tc.name, tc.labels, got)
		}
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, f := range families {
		have[f.GetName()] = true
	}
	for _, name := range []string{"process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds",
		"go_goroutines", "go_memstats_alloc_bytes", "go_gc_duration_seconds"} {
		if !have[name] {
			t.Errorf("%s missing from /metrics", name)
		}
	}
}
