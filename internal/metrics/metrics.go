// Package metrics defines the daemon's Prometheus metrics and the methods the
// pipeline calls to update them; it registers on a registry it is given.
package metrics

import (
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Registry is where the metrics are registered and gathered from;
// *prometheus.Registry implements it.
type Registry interface {
	prometheus.Registerer
	prometheus.Gatherer
}

// UploadDurationBuckets are the upload duration histogram's upper bounds in
// seconds: 0.1 s to 1 h.
var UploadDurationBuckets = []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600}

// Metrics holds every metric of the daemon. A nil *Metrics is valid: every
// method is then a no-op, so callers need no checks when metrics are off.
type Metrics struct {
	reg Registry

	filesSeen        *prometheus.CounterVec
	jobs             *prometheus.GaugeVec
	uploads          prometheus.Counter
	uploadFailures   *prometheus.CounterVec
	uploadedBytes    prometheus.Counter
	uploadDuration   prometheus.Histogram
	queueDepth       prometheus.Gauge
	queueByPriority  *prometheus.GaugeVec
	retries          *prometheus.CounterVec
	watcherOverflows *prometheus.CounterVec
	watcherRescans   *prometheus.CounterVec
	lastScan         *prometheus.GaugeVec
	watchUp          *prometheus.GaugeVec
	oldestPending    prometheus.Gauge
	lastUpload       prometheus.Gauge
	bandwidthLimit   prometheus.Gauge
	uploadRate       prometheus.Gauge
	buildInfo        *prometheus.GaugeVec
	changedAfter     *prometheus.CounterVec
	waiting          *prometheus.GaugeVec

	mu          sync.Mutex
	stages      map[string]bool // stage labels ever set, zeroed when absent
	priorities  map[string]bool
	waitReasons map[string]bool
}

// KnownErrorCodes are the upload failure codes that users meet most (see
// DESIGN: the codes a user must be able to read). Their
// upload_failures_total series exist at 0 from the start, so a rate() or
// an alert works before the first failure.
var KnownErrorCodes = []string{
	"InternalError", "InvalidParameter.ExpireTime", "InvalidParameterValue.CoverType",
	"InvalidParameterValue.MediaType", "InvalidParameterValue.SubAppId",
	"InvalidParameterValue.VodSessionKey", "ResourceNotFound", "AuthFailure.SignatureFailure",
	"AuthFailure.SecretIdNotFound", "RequestLimitExceeded", "NetworkError", "CRC64Mismatch", "unknown",
}

// RetriedOps are the remote operations whose retries_total series exist
// from the start.
var RetriedOps = []string{
	"ApplyUpload", "CommitUpload", "PutObject", "InitiateMultipartUpload", "UploadPart",
	"CompleteMultipartUpload", "AbortMultipartUpload",
}

// New creates the metrics and registers them on reg, with the standard
// process_* and go_* collectors.
func New(reg Registry) (*Metrics, error) {
	m := newMetrics()
	m.reg = reg
	cs := append(m.collectors(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewGoCollector())
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: registering: %w", err)
		}
	}
	for _, code := range KnownErrorCodes {
		m.uploadFailures.WithLabelValues(code)
	}
	for _, op := range RetriedOps {
		m.retries.WithLabelValues(op)
	}
	return m, nil
}

func newMetrics() *Metrics {
	const ns = "vodwatchd"
	return &Metrics{
		filesSeen: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns,
			Name: "files_seen_total",
			Help: "Settled files that matched a rule and became (or matched) a job, by watch root."},
			[]string{"watch"}),
		jobs: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns,
			Name: "jobs",
			Help: "Jobs in the state store by stage (queued, applied, uploading, committing, done, failed, quarantined)."},
			[]string{"stage"}),
		uploads: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns,
			Name: "uploads_total",
			Help: "Uploads committed to VOD (a FileId was returned)."}),
		uploadFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns,
			Name: "upload_failures_total",
			Help: "Upload attempts that failed, by error code (e.g. InternalError, AuthFailure.SignatureFailure, RequestLimitExceeded)."},
			[]string{"code"}),
		uploadedBytes: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns,
			Name: "uploaded_bytes_total",
			Help: "Bytes of media, covers and bundle files in committed uploads."}),
		uploadDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns,
			Name:    "upload_duration_seconds",
			Help:    "Time from ApplyUpload to a successful CommitUpload, per job.",
			Buckets: UploadDurationBuckets}),
		queueDepth: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns,
			Name: "queue_depth",
			Help: "Jobs waiting to be uploaded or being uploaded."}),
		queueByPriority: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns,
			Name: "queue_depth_by_priority",
			Help: "Jobs waiting to be uploaded or being uploaded, by priority."},
			[]string{"priority"}),
		changedAfter: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns,
			Name: "changed_after_upload_total",
			Help: "Files that changed after their upload (same path, new version), by the rule's on_change: upload, ignore, replace (replaced: the old media deleted)."},
			[]string{"action"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns,
			Name: "retries_total",
			Help: "Retried remote operations, by operation (ApplyUpload, PutObject, UploadPart, CommitUpload, ...)."},
			[]string{"op"}),
		watcherOverflows: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns,
			Name: "watcher_overflows_total",
			Help: "Times the kernel's inotify queue overflowed (events were lost; a rescan follows), by watch root."},
			[]string{"watch"}),
		watcherRescans: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns,
			Name: "watcher_rescans_total",
			Help: "Full scans of a watch root (startup, periodic, after an overflow, poll mode), by watch root."},
			[]string{"watch"}),
		lastScan: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns,
			Name: "watcher_last_scan_timestamp_seconds",
			Help: "Unix time when the last full scan of a watch root finished."},
			[]string{"watch"}),
		watchUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns,
			Name: "watch_up",
			Help: "1 when a watch root exists and is being watched, 0 when it is missing or unreadable."},
			[]string{"watch"}),
		oldestPending: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns,
			Name: "oldest_pending_job_age_seconds",
			Help: "Age of the oldest job not yet done, failed or quarantined (0 when none)."}),
		lastUpload: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns,
			Name: "last_upload_timestamp_seconds",
			Help: "Unix time of the last successful upload (0 until the first one)."}),
		bandwidthLimit: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns,
			Name: "bandwidth_limit_bytes_per_second",
			Help: "Configured upload bandwidth limit (0: unlimited)."}),
		uploadRate: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns,
			Name: "upload_rate_bytes_per_second",
			Help: "Current upload rate over all workers."}),
		buildInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns,
			Name: "build_info",
			Help: "Always 1; labels carry the daemon's version and Go version."},
			[]string{"version", "goversion"}),
		waiting: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns,
			Name: "waiting_files",
			Help: "Files seen but not jobs yet, by what they wait for (settling, being written, cover, ready marker, quiet folder, bundle files, bundle files settling)."},
			[]string{"reason"}),
		stages:      make(map[string]bool),
		priorities:  make(map[string]bool),
		waitReasons: make(map[string]bool),
	}
}

func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{
		m.filesSeen, m.jobs, m.uploads, m.uploadFailures, m.uploadedBytes,
		m.uploadDuration, m.queueDepth, m.queueByPriority, m.retries,
		m.watcherOverflows, m.watcherRescans, m.lastScan, m.watchUp,
		m.oldestPending, m.lastUpload, m.bandwidthLimit, m.uploadRate, m.buildInfo, m.waiting,
		m.changedAfter,
	}
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// SetBuildInfo sets vodwatchd_build_info{version,goversion} to 1.
func (m *Metrics) SetBuildInfo(version, goVersion string) {
	if m == nil {
		return
	}
	m.buildInfo.Reset()
	m.buildInfo.WithLabelValues(version, goVersion).Set(1)
}

// FileSeen counts a settled file that matched a rule under the watch root.
func (m *Metrics) FileSeen(watch string) {
	if m == nil {
		return
	}
	m.filesSeen.WithLabelValues(watch).Inc()
}

// ObserveUpload records a committed upload: its duration and its bytes; it
// also sets the last-upload time to now.
func (m *Metrics) ObserveUpload(d time.Duration, bytes int64, now time.Time) {
	if m == nil {
		return
	}
	m.uploads.Inc()
	if bytes > 0 {
		m.uploadedBytes.Add(float64(bytes))
	}
	m.uploadDuration.Observe(d.Seconds())
	m.lastUpload.Set(float64(now.UnixNano()) / 1e9)
}

// UploadFailed counts a failed upload attempt by its error code ("" is
// recorded as "unknown").
func (m *Metrics) UploadFailed(code string) {
	if m == nil {
		return
	}
	if code == "" {
		code = "unknown"
	}
	m.uploadFailures.WithLabelValues(code).Inc()
}

// ChangedAfterUpload counts a file that changed after its upload, by what
// its rule's on_change did (upload, ignore, replace, replaced).
func (m *Metrics) ChangedAfterUpload(action string) {
	if m == nil {
		return
	}
	m.changedAfter.WithLabelValues(action).Inc()
}

// Retried counts a retry of a remote operation.
func (m *Metrics) Retried(op string) {
	if m == nil {
		return
	}
	m.retries.WithLabelValues(op).Inc()
}

// WatcherOverflow counts an inotify queue overflow on a watch root.
func (m *Metrics) WatcherOverflow(watch string) {
	if m == nil {
		return
	}
	m.watcherOverflows.WithLabelValues(watch).Inc()
}

// WatcherRescan counts a full scan of a watch root finished at when.
func (m *Metrics) WatcherRescan(watch string, when time.Time) {
	if m == nil {
		return
	}
	m.watcherRescans.WithLabelValues(watch).Inc()
	m.lastScan.WithLabelValues(watch).Set(float64(when.UnixNano()) / 1e9)
}

// SetWatchUp records whether a watch root is present and watched. The
// root's counters (files seen, overflows, rescans) exist from then on, at 0
// until their first increment.
func (m *Metrics) SetWatchUp(watch string, up bool) {
	if m == nil {
		return
	}
	m.filesSeen.WithLabelValues(watch)
	m.watcherOverflows.WithLabelValues(watch)
	m.watcherRescans.WithLabelValues(watch)
	v := 0.0
	if up {
		v = 1
	}
	m.watchUp.WithLabelValues(watch).Set(v)
}

// SetJobCounts sets the jobs-by-stage gauge from the state's counts. A stage
// seen before but absent from counts is set to 0, so it does not keep a
// stale value.
func (m *Metrics) SetJobCounts(counts map[string]int) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	setCounts(m.jobs, m.stages, counts)
}

// SetQueue sets the queue depth and the queue by priority (keys are the
// priority labels, e.g. "high", "normal", "low" or numbers).
func (m *Metrics) SetQueue(depth int, byPriority map[string]int) {
	if m == nil {
		return
	}
	m.queueDepth.Set(float64(depth))
	m.mu.Lock()
	defer m.mu.Unlock()
	setCounts(m.queueByPriority, m.priorities, byPriority)
}

func setCounts(g *prometheus.GaugeVec, seen map[string]bool, counts map[string]int) {
	for label := range seen {
		if _, ok := counts[label]; !ok {
			g.WithLabelValues(label).Set(0)
		}
	}
	for label, n := range counts {
		seen[label] = true
		g.WithLabelValues(label).Set(float64(n))
	}
}

// SetWaiting sets the waiting files by reason; a reason seen before but
// absent from byReason is set to 0.
func (m *Metrics) SetWaiting(byReason map[string]int) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	setCounts(m.waiting, m.waitReasons, byReason)
}

// SetOldestPendingAge sets the age of the oldest pending job (0: none).
func (m *Metrics) SetOldestPendingAge(age time.Duration) {
	if m == nil {
		return
	}
	m.oldestPending.Set(max(age.Seconds(), 0))
}

// SetBandwidthLimit sets the configured limit in bytes/s (0: unlimited).
func (m *Metrics) SetBandwidthLimit(bytesPerSecond int64) {
	if m == nil {
		return
	}
	m.bandwidthLimit.Set(float64(bytesPerSecond))
}

// SetUploadRate sets the current measured upload rate in bytes/s.
func (m *Metrics) SetUploadRate(bytesPerSecond float64) {
	if m == nil {
		return
	}
	m.uploadRate.Set(bytesPerSecond)
}
