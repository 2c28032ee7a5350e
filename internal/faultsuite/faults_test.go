package faultsuite

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/emulator"
	"github.com/vodwatchd/vodwatchd/internal/state"
	"github.com/vodwatchd/vodwatchd/internal/testutil"
)

// longEnv switches TestFaultSuite to more files and more seeds.
const longEnv = "VODWATCHD_FAULTS_LONG"

// item is one expected upload: a media file, its cover, its bundle files.
type item struct {
	rel       string            // main file, slash path under the drop folder
	data      []byte            // its bytes
	cover     string            // cover rel ("" = none)
	coverData []byte            // its bytes
	extra     map[string][]byte // bundle files, relative to the main file's folder
}

// objects lists the sizes of the COS objects the item becomes.
func (it item) objects() []int {
	out := []int{len(it.data)}
	if it.cover != "" {
		out = append(out, len(it.coverData))
	}
	for _, b := range it.extra {
		out = append(out, len(b))
	}
	return out
}

// minRequests is what a fault-free upload of items costs: ApplyUpload and
// CommitUpload per item, one PUT per small object, Initiate + parts +
// Complete per object above the multipart threshold.
func minRequests(items []item) int64 {
	const threshold, part = 2 << 20, 1 << 20
	var n int64
	for _, it := range items {
		n += 2
		for _, size := range it.objects() {
			if size > threshold {
				n += 2 + int64((size+part-1)/part)
			} else {
				n++
			}
		}
	}
	return n
}

// writeSet writes the mixed set of a scenario: small files (one name with
// a space), one multipart file, one file with a cover, one HLS bundle.
func writeSet(t testing.TB, r *rig, seed string, long bool) []item {
	t.Helper()
	var items []item
	add := func(rel string, n int) {
		b := testutil.Content(seed+rel, n)
		r.write(rel, b)
		items = append(items, item{rel: rel, data: b})
	}
	small := []int{7 << 10, 150 << 10, 600 << 10, 1<<20 + 3}
	if long {
		small = append(small, 1, 64<<10, 300<<10, 900<<10, 1<<20, 2<<10, 33<<10, 400<<10)
	}
	for i, n := range small {
		switch i {
		case 1:
			add(fmt.Sprintf("sub/small %d.mp4", i), n)
		default:
			add(fmt.Sprintf("small-%d.mp4", i), n)
		}
	}
	add("big.mp4", 6<<20+12345)
	if long {
		add("deep/er/big2.mp4", 11<<20+7)
	}
	clip := item{rel: "clip.mp4", data: testutil.Content(seed+"clip", 300<<10), cover: "clip.jpg", coverData: testutil.Content(seed+"cover", 20<<10)}
	r.write(clip.cover, clip.coverData)
	r.write(clip.rel, clip.data)
	items = append(items, clip)
	items = append(items, copyHLS(t, r, "show"))
	return items
}

// copyHLS copies internal/manifest/testdata/hls_single to dir under the
// drop folder.
func copyHLS(t testing.TB, r *rig, dir string) item {
	t.Helper()
	src := filepath.Join("..", "manifest", "testdata", "hls_single")
	m, err := os.ReadFile(filepath.Join(src, "index.m3u8"))
	if err != nil {
		t.Fatal(err)
	}
	ts, err := os.ReadFile(filepath.Join(src, "index.ts"))
	if err != nil {
		t.Fatal(err)
	}
	r.write(dir+"/index.ts", ts)
	r.write(dir+"/index.m3u8", m)
	return item{rel: dir + "/index.m3u8", data: m, extra: map[string][]byte{"index.ts": ts}}
}

// row is one line of the fault table.
type row struct {
	scenario   string
	files      int
	committed  int
	duplicates int
	lost       int
	retries    int   // client retries: re-sent calls, renewed sessions, job attempts
	extraReqs  int64 // requests the emulator saw beyond a fault-free upload's
	faults     int64 // faults the emulator injected
	jobRetries int   // failed job attempts that were tried again
	result     string
	note       string
}

// scenario is one fault condition of the suite.
type scenario struct {
	name   string
	faults emulator.FaultConfig
	parts  int // parts_in_flight (0: default)
	// during runs while the daemon uploads (restart the emulator, lift a
	// fault); it returns a note for the table.
	during func(t testing.TB, r *rig) string
	// wantFaults: the emulator must have injected at least one fault.
	wantFaults bool
	// maxRetries bounds the client retries and the extra requests;
	// maxJobRetries the job attempts.
	maxRetries    int
	maxJobRetries int
}

func faultScenarios(seed int64) []scenario {
	cosOps := func(p float64) map[string]float64 {
		return map[string]float64{"PutObject": p, "UploadPart": p, "InitiateMultipartUpload": p, "CompleteMultipartUpload": p}
	}
	return []scenario{
		{name: "none", maxRetries: 0, maxJobRetries: 0},
		{name: "cos-5xx-10%", faults: emulator.FaultConfig{Seed: seed, ErrorRate: cosOps(0.10)},
			wantFaults: true, maxRetries: 30, maxJobRetries: 4},
		{name: "reset-mid-part", faults: emulator.FaultConfig{Seed: seed,
			ResetRate: map[string]float64{"UploadPart": 0.3, "PutObject": 0.15}, ResetAfterBytes: 256 << 10},
			wantFaults: true, maxRetries: 40, maxJobRetries: 4},
		{name: "api-throttle-burst", faults: emulator.FaultConfig{Seed: seed,
			Throttle: map[string]int{"ApplyUpload": 6, "CommitUpload": 6}},
			during: secondThrottleBurst, wantFaults: true, maxRetries: 30, maxJobRetries: 4},
		{name: "slow-1-2s", faults: emulator.FaultConfig{Seed: seed, Latency: map[string]time.Duration{
			"ApplyUpload": 1500 * time.Millisecond, "CommitUpload": time.Second, "CompleteMultipartUpload": time.Second,
			"UploadPart": 200 * time.Millisecond}},
			maxRetries: 10, maxJobRetries: 2},
		{name: "cert-expiry", faults: emulator.FaultConfig{Seed: seed, CertLifetime: time.Second,
			Latency: map[string]time.Duration{"UploadPart": 700 * time.Millisecond}},
			parts: 2, during: liftLatencyAfterExpiry, maxRetries: 40, maxJobRetries: 6},
		{name: "emulator-restart", faults: emulator.FaultConfig{Seed: seed,
			Latency: map[string]time.Duration{"UploadPart": 300 * time.Millisecond}},
			parts: 2, during: restartMidMultipart, maxRetries: 40, maxJobRetries: 6},
	}
}

// TestFaultSuite runs every fault scenario through the real daemon and the
// emulator, prints the table and asserts it: each file committed exactly
// once with identical bytes, retries bounded, nothing quarantined.
func TestFaultSuite(t *testing.T) {
	long := os.Getenv(longEnv) != ""
	seeds := []int64{7}
	if long {
		seeds = []int64{7, 21, 1234}
	}
	var rows []row
	for _, seed := range seeds {
		for _, sc := range faultScenarios(seed) {
			name := sc.name
			if len(seeds) > 1 {
				name = fmt.Sprintf("%s/seed=%d", sc.name, seed)
			}
			rw := row{scenario: name, result: "not run"}
			t.Run(name, func(t *testing.T) { runScenario(t, sc, long, &rw) })
			rows = append(rows, rw)
			if rw.result != "not run" {
				suite.add(rw)
			}
		}
	}
	t.Log("fault suite:\n" + faultTable(rows))
}

func runScenario(t *testing.T, sc scenario, long bool, rw *row) {
	rw.result = "FAIL"
	r := newRig(t, rigOpts{parts: sc.parts, emu: func(c *emulator.Config) { c.Faults = sc.faults }})
	items := writeSet(t, r, sc.name, long)
	rw.files = len(items)
	r.start()
	if sc.during != nil {
		rw.note = sc.during(t, r)
	}
	timeout := 60 * time.Second
	r.eventually(timeout, "every job done", func() bool { return allDone(r, items) })
	jobs := r.jobs()
	r.stop()
	for _, j := range jobs {
		rw.jobRetries += j.Attempts
		if j.Stage != state.StageDone {
			t.Errorf("job %s (%s) ended in stage %s: %+v", j.ID, j.Key.Rel, j.Stage, j.LastError)
		}
	}
	if len(jobs) != len(items) {
		t.Errorf("%d jobs for %d files: %s", len(jobs), len(items), jobList(jobs))
	}
	verifyMedia(t, r, items, jobs, rw)
	req := r.requests()
	var total int64
	for op, n := range req {
		if op != "GetMedia" {
			total += n
		}
	}
	rw.extraReqs = total - minRequests(items)
	rw.faults = r.faults()
	rw.retries = clientRetries(r.logs.String()) + rw.jobRetries
	switch {
	case rw.extraReqs < 0:
		t.Errorf("fewer requests (%d) than a fault-free upload needs (%d): %v", total, minRequests(items), req)
	case rw.extraReqs > int64(sc.maxRetries):
		t.Errorf("%d requests beyond a fault-free upload, above the bound %d (requests %v)", rw.extraReqs, sc.maxRetries, req)
	}
	if rw.retries > sc.maxRetries {
		t.Errorf("%d retries, above the bound %d", rw.retries, sc.maxRetries)
	}
	if sc.wantFaults && rw.retries == 0 {
		t.Errorf("faults were injected but nothing was retried")
	}
	if rw.jobRetries > sc.maxJobRetries {
		t.Errorf("job retries %d above the bound %d", rw.jobRetries, sc.maxJobRetries)
	}
	if sc.wantFaults && rw.faults == 0 {
		t.Errorf("the emulator injected no fault: the scenario proved nothing")
	}
	if rw.duplicates != 0 || rw.lost != 0 || rw.committed != len(items) {
		t.Errorf("committed %d of %d, duplicates %d, lost %d", rw.committed, len(items), rw.duplicates, rw.lost)
	}
	if !t.Failed() {
		rw.result = "ok"
	}
}

// clientRetries counts the uploader's retries in the daemon's log: calls
// sent again, sessions renewed after an expired certificate, parts sent
// again after a restart.
func clientRetries(log string) int {
	n := 0
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "msg=retrying") ||
			strings.Contains(line, `msg="session certificate expired during the upload`) ||
			strings.Contains(line, `msg="recorded parts missing at COS`) {
			n++
		}
	}
	return n
}

func jobList(jobs []*state.Job) string {
	var b strings.Builder
	for _, j := range jobs {
		fmt.Fprintf(&b, "\n  %s %q %s", j.ID, j.Key.Rel, j.Stage)
	}
	return b.String()
}

// allDone reports whether every item's job is done and nothing is left
// queued, in flight or failed.
func allDone(r *rig, items []item) bool {
	for _, it := range items {
		j, ok := r.jobAt(it.rel)
		if !ok || j.Stage != state.StageDone {
			return false
		}
	}
	return len(r.jobs(state.StageQueued, state.StageApplied, state.StageUploading, state.StageCommitting, state.StageFailed)) == 0
}

// verifyMedia counts the emulator's media per SourceContext against the
// items and compares the served bytes with the local files.
func verifyMedia(t testing.TB, r *rig, items []item, jobs []*state.Job, rw *row) {
	t.Helper()
	bySC := map[string][]emulator.MediaInfo{}
	for _, m := range r.emulator().Media() {
		bySC[m.SourceContext] = append(bySC[m.SourceContext], m)
	}
	jobOf := map[string]*state.Job{}
	for _, j := range jobs {
		jobOf[j.Key.Rel] = j
	}
	for _, it := range items {
		j := jobOf[it.rel]
		if j == nil || j.SourceContext == "" {
			rw.lost++
			t.Errorf("%s: no job with a SourceContext", it.rel)
			continue
		}
		ms := bySC[j.SourceContext]
		delete(bySC, j.SourceContext)
		if len(ms) == 0 {
			rw.lost++
			t.Errorf("%s: no media committed for SourceContext %s", it.rel, j.SourceContext)
			continue
		}
		rw.committed++
		rw.duplicates += len(ms) - 1
		m := ms[0]
		if j.Result.FileID != m.FileID {
			t.Errorf("%s: job records FileId %s, the service has %s", it.rel, j.Result.FileID, m.FileID)
		}
		checkBytes(t, it.rel, m.MediaURL, it.data)
		if it.cover != "" {
			checkBytes(t, it.cover, m.CoverURL, it.coverData)
		}
		for rel, b := range it.extra {
			checkBytes(t, rel, m.MediaURL[:strings.LastIndex(m.MediaURL, "/")+1]+rel, b)
		}
	}
	for sc, ms := range bySC {
		rw.duplicates += len(ms)
		t.Errorf("media nobody asked for: SourceContext %q, %d copies (%s)", sc, len(ms), ms[0].Name)
	}
}

func checkBytes(t testing.TB, what, url string, want []byte) {
	t.Helper()
	if url == "" {
		t.Errorf("%s: no URL", what)
		return
	}
	got, err := get(url)
	if err != nil {
		t.Errorf("%s: %v", what, err)
		return
	}
	if string(got) != string(want) {
		t.Errorf("%s: served %d bytes differ from the local %d bytes", what, len(got), len(want))
	}
}

func faultTable(rows []row) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tFILES\tCOMMITTED\tDUPLICATES\tLOST\tRETRIES\tJOB RETRIES\tEXTRA REQUESTS\tFAULTS\tRESULT\tNOTE")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", r.scenario, r.files, r.committed,
			r.duplicates, r.lost, r.retries, r.jobRetries, r.extraReqs, r.faults, r.result, r.note)
	}
	tw.Flush()
	return b.String()
}

// secondThrottleBurst throttles the API again once the first commit is in.
func secondThrottleBurst(t testing.TB, r *rig) string {
	r.eventually(30*time.Second, "a first commit", func() bool { return len(r.emulator().Media()) > 0 })
	r.emulator().SetFaults(emulator.FaultConfig{Throttle: map[string]int{"ApplyUpload": 4, "CommitUpload": 4}})
	return "second burst after first commit"
}

// liftLatencyAfterExpiry waits until a certificate expired under a running
// upload (a session applied beyond one per job), then lets parts through
// quickly, still with short certificates.
func liftLatencyAfterExpiry(t testing.TB, r *rig) string {
	expired := func() bool {
		s := r.emulator().Stats()
		return s.COS.Errors["AccessDenied"] > 0
	}
	r.eventually(30*time.Second, "a COS request refused for an expired certificate", expired)
	r.emulator().SetFaults(emulator.FaultConfig{CertLifetime: 3 * time.Second})
	return fmt.Sprintf("%d COS requests refused (expired cert)", r.emulator().Stats().COS.Errors["AccessDenied"])
}

// restartMidMultipart restarts the emulator (same data folder and address)
// once parts of the multipart upload are stored but not all.
func restartMidMultipart(t testing.TB, r *rig) string {
	var parts int
	r.eventually(30*time.Second, "the first stored parts of the multipart upload", func() bool {
		parts = 0
		for _, ps := range r.emulator().Stats().COS.PartsReceived {
			parts = max(parts, len(ps))
		}
		return parts >= 2
	})
	r.restartEmulator(300 * time.Millisecond)
	return fmt.Sprintf("restarted with %d parts stored", parts)
}
