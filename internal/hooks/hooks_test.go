package hooks_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/hooks"
	"github.com/vodwatchd/vodwatchd/internal/state"
	"github.com/vodwatchd/vodwatchd/internal/vodoutput"
)

const secret = "whsec-test-0123456789abcdef"

func openStore(t *testing.T, path string) *state.Store {
	t.Helper()
	st, err := state.Open(path, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func facts(event string) hooks.Facts {
	return hooks.Facts{
		Event: event, JobID: "0123456789abcdef", Path: "/srv/drop/news/a.mp4", Rule: "news/**/*.mp4",
		FileID: "5285890000000000001", MediaURL: "http://vod.example/a.mp4",
		Outputs: &vodoutput.Outputs{Transcodes: []vodoutput.Transcode{{Definition: 100030, URL: "http://vod.example/v.mp4"}}},
		At:      time.Date(2026, 12, 2, 6, 0, 0, 123, time.UTC),
	}
}

// receiver is a webhook endpoint that verifies what it gets on its own
// (not with package hooks' code) and can fail on purpose.
type receiver struct {
	t       *testing.T
	mu      sync.Mutex
	fail    []string // what the next requests do: "reset" | "503" (then 200)
	keys    []string // Idempotency-Key of every request seen
	bodies  [][]byte // accepted bodies
	badSigs int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.keys = append(rc.keys, r.Header.Get("Idempotency-Key"))
	var mode string
	if len(rc.fail) > 0 {
		mode, rc.fail = rc.fail[0], rc.fail[1:]
	}
	rc.mu.Unlock()
	switch mode {
	case "reset":
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	case "503":
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	ts := r.Header.Get("X-Vodwatchd-Timestamp")
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "." + string(body)))
	want := "sha256=" + hex.EncodeToString(m.Sum(nil))
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || !hmac.Equal([]byte(want), []byte(r.Header.Get("X-Vodwatchd-Signature"))) || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		rc.mu.Lock()
		rc.badSigs++
		rc.mu.Unlock()
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	rc.mu.Lock()
	rc.bodies = append(rc.bodies, body)
	rc.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) snapshot() (keys []string, bodies [][]byte, bad int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.keys...), append([][]byte(nil), rc.bodies...), rc.badSigs
}

func newDispatcher(t *testing.T, ob hooks.Outbox, hs []hooks.Hook, logs io.Writer, maxAttempts int) *hooks.Dispatcher {
	t.Helper()
	if logs == nil {
		logs = io.Discard
	}
	d, err := hooks.New(hooks.Config{
		Hooks: hs, Outbox: ob, MaxAttempts: maxAttempts, Backoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
		PollEvery: 10 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// runUntil runs d until cond holds (or fails the test after 10 s).
func runUntil(t *testing.T, d *hooks.Dispatcher, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatal("condition not reached in 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func webhook(url string) hooks.Hook {
	return hooks.Hook{Name: "cms", On: []string{hooks.OnReady, hooks.OnProcessingFailed}, URL: url, Secret: secret, Timeout: 2 * time.Second}
}

func TestWebhookSignedDocumentVerifiedByReceiver(t *testing.T) {
	rc := &receiver{t: t}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	st := openStore(t, filepath.Join(t.TempDir(), "state.db"))
	defer st.Close()
	ob := st.Outbox()
	hs := []hooks.Hook{webhook(srv.URL)}
	f := facts(hooks.OnReady)
	if err := ob.Enqueue(context.Background(), hooks.Plan(hs, f)...); err != nil {
		t.Fatal(err)
	}
	if got := hooks.Plan(hs, facts(hooks.OnDone)); len(got) != 0 {
		t.Fatalf("a hook not on done fired on done: %d", len(got))
	}
	n, err := newDispatcher(t, ob, hs, nil, 3).RunOnce(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("RunOnce = %d, %v", n, err)
	}
	keys, bodies, bad := rc.snapshot()
	if bad != 0 || len(bodies) != 1 {
		t.Fatalf("receiver: %d bad signatures, %d accepted", bad, len(bodies))
	}
	var doc map[string]any
	if err := json.Unmarshal(bodies[0], &doc); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"event": "ready", "job_id": f.JobID, "path": f.Path, "rule": f.Rule, "file_id": f.FileID, "media_url": f.MediaURL, "idempotency_key": keys[0]} {
		if doc[k] != want {
			t.Errorf("document %s = %v, want %q", k, doc[k], want)
		}
	}
	if _, ok := doc["outputs"].(map[string]any)["transcodes"]; !ok {
		t.Errorf("document lacks outputs: %s", bodies[0])
	}
	if stats, _ := ob.Stats(context.Background()); stats.Pending != 0 || stats.Dead != 0 {
		t.Fatalf("outbox after delivery %+v", stats)
	}
	// A wrong secret is refused by the receiver: the signature is real.
	wrong := webhook(srv.URL)
	wrong.Secret = "other"
	ob.Enqueue(context.Background(), hooks.Plan([]hooks.Hook{wrong}, facts(hooks.OnProcessingFailed))...)
	newDispatcher(t, ob, []hooks.Hook{wrong}, nil, 1).RunOnce(context.Background())
	if _, _, bad := rc.snapshot(); bad != 1 {
		t.Fatalf("wrong secret: %d bad signatures seen, want 1", bad)
	}
}

func TestWebhookReceiverDownDeliveredLaterWithSameKeyAcrossRestart(t *testing.T) {
	rc := &receiver{t: t, fail: []string{"reset", "503", "reset", "503"}}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "state.db")
	st := openStore(t, path)
	hs := []hooks.Hook{webhook(srv.URL)}
	if err := st.Outbox().Enqueue(context.Background(), hooks.Plan(hs, facts(hooks.OnReady))...); err != nil {
		t.Fatal(err)
	}
	// Two failed attempts, then the daemon stops.
	d := newDispatcher(t, st.Outbox(), hs, nil, 10)
	runUntil(t, d, func() bool { keys, _, _ := rc.snapshot(); return len(keys) >= 2 })
	st.Close()
	st = openStore(t, path)
	defer st.Close()
	ob := st.Outbox()
	// Until the delivery is recorded, not only received: stopped between
	// the two, the dispatcher would (rightly) send it once more later.
	runUntil(t, newDispatcher(t, ob, hs, nil, 10), func() bool {
		_, bodies, _ := rc.snapshot()
		stats, err := ob.Stats(context.Background())
		return len(bodies) == 1 && err == nil && stats.Pending == 0
	})
	keys, _, _ := rc.snapshot()
	if len(keys) != 5 {
		t.Fatalf("%d requests, want 4 failed + 1 delivered", len(keys))
	}
	for _, k := range keys {
		if k != keys[0] || k == "" {
			t.Fatalf("idempotency keys differ: %v", keys)
		}
	}
	if stats, _ := ob.Stats(context.Background()); stats.Pending != 0 {
		t.Fatalf("outbox %+v", stats)
	}
}

func TestDeadLetterAfterBoundedAttemptsAndSecretNowhere(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	}))
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "state.db")
	st := openStore(t, path)
	ob := st.Outbox()
	hs := []hooks.Hook{webhook(srv.URL)}
	ob.Enqueue(context.Background(), hooks.Plan(hs, facts(hooks.OnProcessingFailed))...)
	var logs bytes.Buffer
	var mu sync.Mutex
	d := newDispatcher(t, ob, hs, lockedWriter{&logs, &mu}, 3)
	runUntil(t, d, func() bool { s, _ := ob.Stats(context.Background()); return s.Dead == 1 })
	dead, err := ob.DeadLetters(context.Background())
	if err != nil || len(dead) != 1 {
		t.Fatalf("dead letters %v %v", dead, err)
	}
	if dead[0].Attempts != 3 || dead[0].Last == nil || dead[0].Last.HTTPStatus != 500 || !strings.Contains(dead[0].Last.Error, "HTTP 500") {
		t.Fatalf("dead letter %+v", dead[0])
	}
	if s, _ := ob.Stats(context.Background()); s.Pending != 0 {
		t.Fatalf("still pending %+v", s)
	}
	st.Close()
	raw, _ := os.ReadFile(path)
	mu.Lock()
	printed := logs.String() + fmt.Sprint(hs[0]) + fmt.Sprintf("%v %+v %#v", hs, dead, hs)
	mu.Unlock()
	for what, text := range map[string]string{"logs and printed values": printed, "state file": string(raw)} {
		if strings.Contains(text, secret) {
			t.Errorf("the webhook secret appears in the %s", what)
		}
	}
	if !strings.Contains(printed, "dead letter") {
		t.Errorf("the dead letter was not logged:\n%s", printed)
	}
}

type lockedWriter struct {
	b  *bytes.Buffer
	mu *sync.Mutex
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func TestExecHookEnvironmentStdinAndOutputTail(t *testing.T) {
	t.Setenv("TENCENTCLOUD_SECRET_KEY", "daemon-credential-must-not-leak")
	dir := t.TempDir()
	out := filepath.Join(dir, "env")
	st := openStore(t, filepath.Join(dir, "state.db"))
	defer st.Close()
	ob := st.Outbox()
	hs := []hooks.Hook{
		{Name: "notify", On: []string{hooks.OnReady}, Command: []string{"sh", "-c", `env > "$0"; cat > "$0.json"`, out}},
		{Name: "fails", On: []string{hooks.OnReady}, Command: []string{"sh", "-c", `echo "first line"; i=0; while [ $i -lt 500 ]; do echo "line $i"; i=$((i+1)); done; echo "last words" >&2; exit 3`}},
	}
	f := facts(hooks.OnReady)
	f.Error = ""
	ob.Enqueue(context.Background(), hooks.Plan(hs, f)...)
	newDispatcher(t, ob, hs, nil, 1).RunOnce(context.Background())
	env, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"VODWATCHD_EVENT=ready", "VODWATCHD_JOB_ID=" + f.JobID, "VODWATCHD_PATH=" + f.Path, "VODWATCHD_RULE=" + f.Rule,
		"VODWATCHD_FILE_ID=" + f.FileID, "VODWATCHD_MEDIA_URL=" + f.MediaURL, "VODWATCHD_OUTPUTS={", "VODWATCHD_IDEMPOTENCY_KEY="} {
		if !strings.Contains(string(env), want) {
			t.Errorf("exec environment lacks %q", want)
		}
	}
	if strings.Contains(string(env), "daemon-credential-must-not-leak") {
		t.Error("the daemon's credentials leaked into the hook's environment")
	}
	if doc, _ := os.ReadFile(out + ".json"); !bytes.Contains(doc, []byte(`"job_id":"`+f.JobID)) {
		t.Errorf("stdin document: %s", doc)
	}
	dead, _ := ob.DeadLetters(context.Background())
	if len(dead) != 1 || dead[0].Hook != "fails" {
		t.Fatalf("dead letters %+v", dead)
	}
	last := dead[0].Last
	if last.ExitStatus == nil || *last.ExitStatus != 3 || !strings.HasSuffix(strings.TrimSpace(last.OutputTail), "last words") ||
		strings.Contains(last.OutputTail, "first line") || len(last.OutputTail) > 2048 {
		t.Fatalf("attempt %+v", last)
	}
}

func TestExecHookTimeoutKillsTheProcessGroup(t *testing.T) {
	dir := t.TempDir()
	late := filepath.Join(dir, "late")
	st := openStore(t, filepath.Join(dir, "state.db"))
	defer st.Close()
	ob := st.Outbox()
	hs := []hooks.Hook{{Name: "slow", On: []string{hooks.OnDone}, Timeout: 200 * time.Millisecond,
		Command: []string{"sh", "-c", `(sleep 1; echo late > "$0") & sleep 30`, late}}}
	ob.Enqueue(context.Background(), hooks.Plan(hs, facts(hooks.OnDone))...)
	start := time.Now()
	newDispatcher(t, ob, hs, nil, 1).RunOnce(context.Background())
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("a 200ms timeout took %s", d)
	}
	dead, _ := ob.DeadLetters(context.Background())
	if len(dead) != 1 || !strings.Contains(dead[0].Last.Error, "timed out") {
		t.Fatalf("dead letters %+v", dead)
	}
	time.Sleep(1500 * time.Millisecond)
	if _, err := os.Stat(late); err == nil {
		t.Fatal("a child of the timed-out hook lived on")
	}
}

func TestPlanKeysAndValidate(t *testing.T) {
	a := hooks.Hook{Name: "a", On: []string{hooks.OnReady}, URL: "http://x"}
	b := hooks.Hook{Name: "b", On: []string{hooks.OnReady}, Command: []string{"true"}}
	f := facts(hooks.OnReady)
	p1, p2 := hooks.Plan([]hooks.Hook{a, b}, f), hooks.Plan([]hooks.Hook{a, b}, f)
	if len(p1) != 2 || p1[0].Key != p2[0].Key || p1[0].Key == p1[1].Key {
		t.Fatalf("keys %v %v", p1, p2)
	}
	f.At = f.At.Add(time.Second)
	if hooks.Plan([]hooks.Hook{a}, f)[0].Key == p1[0].Key {
		t.Fatal("a later happening has the same key")
	}
	for _, h := range []hooks.Hook{
		{Name: "", On: []string{"ready"}, URL: "http://x"},
		{Name: "x", On: []string{"ready"}},
		{Name: "x", On: []string{"ready"}, URL: "http://x", Command: []string{"true"}},
		{Name: "x", On: []string{"playable"}, URL: "http://x"},
		{Name: "x", URL: "http://x"},
	} {
		if err := h.Validate(); err == nil {
			t.Errorf("Validate(%+v) passed", h)
		}
	}
	if _, err := hooks.New(hooks.Config{Hooks: []hooks.Hook{a, a}, Outbox: &state.Outbox{}}); err == nil {
		t.Error("two hooks with one name accepted")
	}
}
