package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/control"
	"github.com/vodwatchd/vodwatchd/internal/state"
)

const stSecret = "SECRETKEY-must-never-be-printed-7f3a"

// stFixture is a state file with one job in each interesting stage:
// done, failed, quarantined, uploading (holding a certificate), queued.
type stFixture struct {
	path string
	ids  map[string]string // name -> job id
}

func stKey(rel string, ino uint64) state.Key {
	return state.Key{Root: "/srv/drop", Rel: rel, Size: 3 << 20, MtimeNs: 1700000000e9, Dev: 2049, Ino: ino}
}

func stPopulate(t *testing.T, s *state.Store) map[string]string {
	t.Helper()
	ctx := context.Background()
	ids := map[string]string{}
	add := func(name, rel string, ino uint64, stages []state.Stage, set func(*state.Job)) {
		j, _, err := s.Enqueue(ctx, stKey(rel, ino), state.Attrs{Rule: "news"})
		if err != nil {
			t.Fatal(err)
		}
		for i, st := range stages {
			if _, err := s.Update(ctx, j.ID, func(j *state.Job) error {
				j.Stage = st
				if i == len(stages)-1 && set != nil {
					set(j)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		ids[name] = j.ID
	}
	add("done", "news/done.mp4", 1, []state.Stage{state.StageApplied, state.StageUploading, state.StageCommitting, state.StageDone}, func(j *state.Job) {
		j.Result = state.Result{FileID: "5285890781763144364", MediaURL: "http://x/media/done.mp4", RequestID: "req-1"}
		j.BytesDone = j.Bytes
		j.RenamedTo = "news/archive/done.mp4"
	})
	add("failed", "news/failed.mp4", 2, []state.Stage{state.StageFailed}, func(j *state.Job) {
		j.Attempts, j.NextRetry = 2, time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
		j.LastError = &state.JobError{Code: "RequestLimitExceeded", Message: "too many requests", Op: "ApplyUpload"}
	})
	add("quarantined", "news/bad\nname.mp4", 3, []state.Stage{state.StageFailed, state.StageQuarantined}, func(j *state.Job) {
		j.LastError = &state.JobError{Code: "InvalidParameterValue.MediaType", Message: "media type not supported"}
		j.QuarantinePath = "/srv/quarantine/news/bad.mp4"
	})
	add("uploading", "sport/live.mp4", 4, []state.Stage{state.StageApplied, state.StageUploading}, func(j *state.Job) {
		j.BytesDone = 1 << 20
		j.Checkpoint = json.RawMessage(`{"upload_id":"u-1"}`)
	})
	add("queued", "sport/next.mp4", 5, nil, nil)
	if err := s.PutSecret(ctx, ids["uploading"], []byte(`{"SecretKey":"`+stSecret+`"}`)); err != nil {
		t.Fatal(err)
	}
	return ids
}

func newStFixture(t *testing.T) *stFixture {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := state.Open(path, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := &stFixture{path: path, ids: stPopulate(t, s)}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return f
}

// stDaemon holds the state file open (its lock) and serves it on the
// control socket, as `vodwatchd run` does.
func stDaemon(t *testing.T, path string) *state.Store {
	t.Helper()
	s, err := state.Open(path, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- control.Serve(ctx, control.SocketPath(path), s, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("control.Serve: %v", err)
		}
		_ = s.Close()
	})
	for i := 0; i < 500; i++ {
		if _, err := os.Stat(control.SocketPath(path)); err == nil {
			return s
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("control socket did not appear")
	return nil
}

func stRun(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	return stRunIn(t, "/nonexistent-cwd", args...)
}

// stRunIn runs vodwatchd with cwd as the current folder.
func stRunIn(t *testing.T, cwd string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &cmdEnv{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }, cwd: cwd}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := runMain(ctx, env, args)
	for _, s := range []string{out.String(), errb.String()} {
		if strings.Contains(s, stSecret) {
			t.Fatalf("vodwatchd %v printed a secret", args)
		}
	}
	return out.String(), errb.String(), code
}

func stStatusJSON(t *testing.T, args ...string) (string, []map[string]any) {
	t.Helper()
	out, errs, code := stRun(t, append([]string{"status", "--json", "--exit-zero"}, args...)...)
	if code != 0 {
		t.Fatalf("status --json %v: exit %d: %s", args, code, errs)
	}
	var doc struct {
		Source string           `json:"source"`
		Jobs   []map[string]any `json:"jobs"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("status --json output is not JSON: %v\n%s", err, out)
	}
	return doc.Source, doc.Jobs
}

func stStages(jobs []map[string]any) string {
	var s []string
	for _, j := range jobs {
		s = append(s, j["stage"].(string))
	}
	sort.Strings(s)
	return strings.Join(s, ",")
}

// TestStatusRetryForget runs the same checks with the state file opened
// directly and through a running "daemon" that holds its lock.
func TestStatusRetryForget(t *testing.T) {
	for _, viaDaemon := range []bool{false, true} {
		name := map[bool]string{false: "file", true: "daemon"}[viaDaemon]
		t.Run(name, func(t *testing.T) {
			f := newStFixture(t)
			if viaDaemon {
				stDaemon(t, f.path)
			}
			st := "--state=" + f.path

			// Text table: a header and one aligned line per job. Failed
			// jobs make the exit status 1 unless --exit-zero.
			out, errs, code := stRun(t, "status", st)
			if code != 1 || !strings.Contains(errs, "2 job(s) failed, quarantined or processing_failed") {
				t.Errorf("status with failed jobs: exit %d, stderr %q; want 1 naming 2 jobs", code, errs)
			}
			if _, _, code := stRun(t, "status", st, "--active"); code != 0 {
				t.Errorf("status --active (no failed job listed): exit %d, want 0", code)
			}
			out, errs, code = stRun(t, "status", st, "--exit-zero")
			if code != 0 {
				t.Fatalf("status --exit-zero: exit %d: %s", code, errs)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 6 || !strings.HasPrefix(lines[0], "ID  ") {
				t.Fatalf("status printed %d lines:\n%s", len(lines), out)
			}
			col := strings.Index(lines[0], "STAGE")
			for _, want := range []string{
				f.ids["done"] + "  /srv/drop/news/done.mp4", "FileId 5285890781763144364 http://x/media/done.mp4 (renamed to /srv/drop/news/archive/done.mp4)", "100%",
				"RequestLimitExceeded: too many requests", "2030-01-01",
				`"/srv/drop/news/bad\nname.mp4"`, "(moved to /srv/quarantine/news/bad.mp4)", "33%", "3.0 MiB",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("status output lacks %q:\n%s", want, out)
				}
			}
			for _, l := range lines[1:] {
				if len(l) <= col || l[col-2:col] != "  " || l[col] == ' ' {
					t.Errorf("STAGE column not aligned at %d in %q", col, l)
				}
			}

			// JSON: stable field names, filters.
			source, jobs := stStatusJSON(t, st)
			if source != name || len(jobs) != 5 {
				t.Fatalf("status --json: source %q, %d jobs", source, len(jobs))
			}
			var keys []string
			for k := range jobs[0] {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			wantKeys := "attempts,bytes_done,cover_url,created,error,file_id,finished,id,kind,media_url,moved_to,next_retry,path,progress,quarantine_path,rel,renamed_to,request_id,root,rule,size,stage,updated"
			if strings.Join(keys, ",") != wantKeys {
				t.Fatalf("JSON job fields:\n%s\nwant\n%s", strings.Join(keys, ","), wantKeys)
			}
			if _, j := stStatusJSON(t, st, "--failed"); stStages(j) != "failed,quarantined" {
				t.Errorf("--failed: %s", stStages(j))
			}
			if _, j := stStatusJSON(t, st, "--active"); stStages(j) != "queued,uploading" {
				t.Errorf("--active: %s", stStages(j))
			}
			_, j := stStatusJSON(t, st, "--done")
			if stStages(j) != "done" || j[0]["file_id"] != "5285890781763144364" || j[0]["progress"] != 1.0 || j[0]["renamed_to"] != "/srv/drop/news/archive/done.mp4" {
				t.Errorf("--done: %v", j)
			}
			_, j = stStatusJSON(t, st, "news/failed.mp4")
			if len(j) != 1 || j[0]["id"] != f.ids["failed"] || j[0]["error"].(map[string]any)["code"] != "RequestLimitExceeded" {
				t.Errorf("status PATH (relative): %v", j)
			}
			if _, j = stStatusJSON(t, st, "/srv/drop/sport"); stStages(j) != "queued,uploading" {
				t.Errorf("status FOLDER: %v", stStages(j))
			}
			if _, j = stStatusJSON(t, st, f.ids["done"][:6], "--done"); len(j) != 1 {
				t.Errorf("status JOB-prefix --done: %v", j)
			}
			// ATTEMPTS counts the attempt that succeeded.
			if _, j = stStatusJSON(t, st, "--done"); len(j) != 1 || j[0]["attempts"] != 1.0 {
				t.Errorf("done job attempts: %v, want 1", j)
			}
			// A path relative to the current folder.
			out, errs, code = stRunIn(t, "/srv/drop/news", "status", st, "--exit-zero", "done.mp4", "../sport/next.mp4")
			if code != 0 || !strings.Contains(out, f.ids["done"]) || !strings.Contains(out, f.ids["queued"]) {
				t.Errorf("status with paths relative to /srv/drop/news: exit %d\n%s%s", code, out, errs)
			}
			// One bad argument does not hide the others.
			out, errs, code = stRun(t, "status", st, "--exit-zero", "/srv/drop/nothing.mp4", f.ids["done"])
			if code != 1 || !strings.Contains(out, f.ids["done"]) || !strings.Contains(errs, `no job or path matches "/srv/drop/nothing.mp4"`) {
				t.Errorf("status BAD GOOD: exit %d\n%s%s", code, out, errs)
			}

			// Unknown ids and paths: non-zero exit and a clear error.
			for _, args := range [][]string{
				{"status", st, "0123456789abcdef"},
				{"status", st, "/srv/drop/nothing.mp4"},
				{"retry", st, "0123456789abcdef"},
				{"forget", st, "0123456789abcdef"},
			} {
				_, errs, code := stRun(t, args...)
				if code != 1 || !strings.Contains(errs, "no job or path matches") {
					t.Errorf("%v: exit %d, stderr %q", args, code, errs)
				}
			}
			if _, _, code := stRun(t, "retry", st); code != 2 {
				t.Errorf("retry without jobs: exit %d, want 2", code)
			}

			// retry: one job (a queued one and an unknown one beside it are
			// reported, the failed one is still retried), then --failed.
			out, errs, code = stRun(t, "retry", st, f.ids["queued"], "/srv/drop/nothing.mp4", f.ids["failed"])
			if code != 1 || !strings.Contains(errs, "not failed") || !strings.Contains(errs, "no job or path matches") ||
				!strings.Contains(out, "queued "+f.ids["failed"]) {
				t.Fatalf("retry QUEUED UNKNOWN FAILED: exit %d, %q %q", code, out, errs)
			}
			out, _, code = stRun(t, "retry", st, "--failed")
			if code != 0 || !strings.Contains(out, "queued "+f.ids["quarantined"]+" /srv/quarantine/news/bad.mp4") {
				t.Fatalf("retry --failed: exit %d, %q", code, out)
			}
			if _, j = stStatusJSON(t, st, "--failed"); len(j) != 0 {
				t.Errorf("failed jobs left after retry --failed: %v", j)
			}

			// forget: refuses in-flight jobs unless --force, and still
			// forgets the other arguments.
			out, errs, code = stRun(t, "forget", st, f.ids["uploading"], "0123456789abcdef", f.ids["queued"])
			if code != 1 || !strings.Contains(errs, "--force") || !strings.Contains(errs, "no job or path matches") || out != "forgot "+f.ids["queued"]+" /srv/drop/sport/next.mp4\n" {
				t.Errorf("forget IN-FLIGHT UNKNOWN QUEUED: exit %d, out %q, err %q", code, out, errs)
			}
			out, _, code = stRun(t, "forget", st, "--force", f.ids["uploading"], f.ids["done"])
			if code != 0 || strings.Count(out, "forgot ") != 2 {
				t.Fatalf("forget --force: exit %d, %q", code, out)
			}
			if _, j = stStatusJSON(t, st); len(j) != 2 {
				t.Errorf("after forget %d jobs, want 2", len(j))
			}
		})
	}
}

func TestStatusStatePathFromConfig(t *testing.T) {
	f := newStFixture(t)
	cfg := filepath.Join(t.TempDir(), "vodwatchd.yaml")
	text := "vod:\n  region: ap-guangzhou\nstate: " + f.path + "\nwatch:\n  - path: /srv/drop\n    rules:\n      - match: \"**/*.mp4\"\n"
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, j := stStatusJSON(t, "--config", cfg, "--failed"); len(j) != 2 {
		t.Fatalf("status --config: %d failed jobs, want 2", len(j))
	}
	_, errs, code := stRun(t, "status", "--config", filepath.Join(t.TempDir(), "missing.yaml"))
	if code != 1 || !strings.Contains(errs, "missing.yaml") {
		t.Fatalf("missing config: exit %d %q", code, errs)
	}
}

func TestStatusStateErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "none", "state.db")
	_, errs, code := stRun(t, "status", "--state", missing)
	if code != 1 || !strings.Contains(errs, "does not exist") {
		t.Fatalf("missing state: exit %d %q", code, errs)
	}
	if _, err := os.Stat(filepath.Dir(missing)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("status created the state folder")
	}
	corrupt := filepath.Join(dir, "corrupt.db")
	if err := os.WriteFile(corrupt, bytes.Repeat([]byte("garbage!"), 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errs, code = stRun(t, "status", "--state", corrupt)
	if code != 1 || !strings.Contains(errs, "corrupt") {
		t.Fatalf("corrupt state: exit %d %q", code, errs)
	}
	// The daemon holds the lock but serves no socket: a clear lock error.
	f := newStFixture(t)
	s, err := state.Open(f.path, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, errs, code = stRun(t, "retry", "--state", f.path, "--failed")
	if code != 1 || !strings.Contains(errs, "locked by another vodwatchd") {
		t.Fatalf("locked state: exit %d %q", code, errs)
	}
}

// TestCLINeverCreatesState: retry, forget and status on a missing state
// file exit non-zero with status's message and create nothing.
func TestCLINeverCreatesState(t *testing.T) {
	for _, args := range [][]string{
		{"status"},
		{"retry", "--failed"},
		{"retry", "abcd1234"},
		{"forget", "abcd1234"},
	} {
		t.Run(args[0]+" "+args[1%len(args)], func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "none")
			missing := filepath.Join(dir, "state.db")
			_, errs, code := stRun(t, append(args, "--state", missing)...)
			if code == 0 || !strings.Contains(errs, "does not exist") {
				t.Fatalf("%v on a missing state: exit %d %q, want non-zero and \"does not exist\"", args, code, errs)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("%v created %s (err %v)", args, dir, err)
			}
		})
	}
}

func TestStatusEmptyAndHumanBytes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := state.Open(path, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	if out, _, code := stRun(t, "status", "--state", path); code != 0 || out != "no jobs\n" {
		t.Fatalf("empty status: %d %q", code, out)
	}
	if _, j := stStatusJSON(t, "--state", path); j == nil || len(j) != 0 {
		t.Fatalf("empty status --json jobs = %v, want []", j)
	}
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 5 << 30: "5.0 GiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestStatusShowsWaitingFiles(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	in := &control.DaemonInfo{
		WaitingByReason: map[string]int{"bundle files": 1, "cover": 1, "settling": 3, "ready marker": 0},
		Waiting: []control.WaitingFile{
			{Path: "/srv/drop/show/master.m3u8", Reason: "bundle files", Since: now.Add(-130 * time.Second),
				Missing: []string{"show/v1/seg3.ts", "show/v1/seg4.ts"}, NMissing: 7},
			{Path: "/srv/drop/新闻.mp4", Reason: "cover", Since: now.Add(-5 * time.Second)},
			{Path: "/srv/drop/a.mp4", Reason: "settling", Since: now.Add(-2 * time.Hour)},
		},
	}
	var b bytes.Buffer
	writeWaiting(&b, in, now)
	out := b.String()
	for _, want := range []string{
		"waiting: 5 file(s) not jobs yet (1 bundle files, 1 cover, 3 settling)",
		"/srv/drop/show/master.m3u8  bundle files  2m10s  7 missing: show/v1/seg3.ts, show/v1/seg4.ts, ...",
		"cover         5s",
		"settling      2h00m  -",
		"... and 2 more",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("waiting section lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	writeWaiting(&b, &control.DaemonInfo{WaitingByReason: map[string]int{"settling": 0}}, now)
	if b.Len() != 0 {
		t.Errorf("nothing waiting printed %q", b.String())
	}
}
