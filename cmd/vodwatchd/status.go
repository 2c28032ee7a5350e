package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/vodwatchd/vodwatchd/internal/config"
	"github.com/vodwatchd/vodwatchd/internal/control"
	"github.com/vodwatchd/vodwatchd/internal/state"
	"github.com/vodwatchd/vodwatchd/internal/throttle"
)

// defaultStatePath is used when neither --state nor a config names one.
const defaultStatePath = "/var/lib/vodwatchd/state.db"

// stateFlags are the flags that locate the state file.
type stateFlags struct {
	state    string
	config   string
	emulator bool
}

func (sf *stateFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&sf.state, "state", "", "state file (default: the config's state:, else "+defaultStatePath+")")
	fs.StringVar(&sf.config, "config", "", "config file to read the state path from")
	fs.BoolVar(&sf.emulator, "emulator", false, "the state of `run --emulator` with this config (its own state file unless the config says for_emulator: true)")
}

// path resolves the state file: --state, else the config's `state:` (a
// relative one is relative to the config file's folder), else the default.
func (sf *stateFlags) path() (string, error) {
	if sf.state != "" {
		return sf.state, nil
	}
	if sf.config == "" {
		if sf.emulator {
			return config.EmulatorStatePath(defaultStatePath), nil
		}
		return defaultStatePath, nil
	}
	cfg, err := config.Load(sf.config)
	if err != nil {
		return "", err
	}
	if sf.emulator {
		cfg.ForEmulatorRun()
	}
	return cfg.State, nil
}

// openJobs reaches the jobs through the running daemon's control socket,
// or, when no daemon listens, by opening the state file itself (read-only
// unless writable). close releases whichever it used.
func openJobs(ctx context.Context, sf *stateFlags, writable bool) (jobs control.Jobs, source string, close func(), err error) {
	path, err := sf.path()
	if err != nil {
		return nil, "", nil, err
	}
	c, err := control.Dial(ctx, control.SocketPath(path))
	if err == nil {
		return c, "daemon", c.Close, nil
	}
	if !errors.Is(err, control.ErrNoDaemon) {
		return nil, "", nil, err
	}
	// The CLI never creates a state file: a missing one is the error
	// status gives, whatever the command.
	s, err := state.Open(path, state.Options{ReadOnly: !writable, NoCreate: true, Timeout: 2 * time.Second})
	if err != nil {
		return nil, "", nil, err
	}
	return s, "file", func() { _ = s.Close() }, nil
}

// parseArgs parses flags that may come before or after positional args.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// looksLikeID reports whether arg can be a job id or id prefix.
func looksLikeID(arg string) bool {
	if len(arg) < 4 || len(arg) > 16 {
		return false
	}
	for _, c := range arg {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}

// resolve turns a JOB or PATH argument into jobs; an argument matching
// nothing is an error naming it. A relative PATH is first taken from the
// current folder (cwd, "" when unknown), then relative to each watch root.
func resolve(ctx context.Context, jobs control.Jobs, cwd, arg string) ([]*state.Job, error) {
	if looksLikeID(arg) {
		j, err := jobs.Get(ctx, arg)
		if err == nil {
			return []*state.Job{j}, nil
		}
		if !errors.Is(err, state.ErrNotFound) {
			return nil, err
		}
	}
	if !filepath.IsAbs(arg) && cwd != "" {
		found, err := jobs.FindPath(ctx, filepath.Join(cwd, arg))
		if err != nil || len(found) > 0 {
			return found, err
		}
	}
	found, err := jobs.FindPath(ctx, arg)
	if err != nil {
		return nil, err
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("no job or path matches %q: %w", arg, state.ErrNotFound)
	}
	return found, nil
}

// resolveOne is resolve for commands that act on exactly one job per arg.
func resolveOne(ctx context.Context, jobs control.Jobs, cwd, arg string) (*state.Job, error) {
	found, err := resolve(ctx, jobs, cwd, arg)
	if err != nil {
		return nil, err
	}
	if len(found) > 1 {
		return nil, fmt.Errorf("%q matches %d jobs; name them by id", arg, len(found))
	}
	return found[0], nil
}

// workingDir is the folder relative PATH arguments start from ("" when it
// cannot be known; root-relative matching still works then).
func workingDir(env *cmdEnv) string {
	if env.cwd != "" {
		return env.cwd
	}
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	return wd
}

// argErrors collects the arguments a command could not act on: each is
// reported on stderr as it happens, the others still run, and the command
// exits 1 at the end.
type argErrors struct {
	env  *cmdEnv
	name string
	n    int
}

func (a *argErrors) add(err error) {
	a.n++
	fmt.Fprintf(a.env.stderr, "vodwatchd %s: %v\n", a.name, err)
}

// err is errReported when an argument failed (already printed), else nil.
func (a *argErrors) err() error {
	if a.n == 0 {
		return nil
	}
	return fmt.Errorf("%d argument(s) failed: %w", a.n, errReported)
}

func cmdStatus(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "status")
	var sf stateFlags
	sf.register(fs)
	failed := fs.Bool("failed", false, "only failed and quarantined jobs")
	active := fs.Bool("active", false, "only queued and in-flight jobs")
	done := fs.Bool("done", false, "only done jobs")
	asJSON := fs.Bool("json", false, "print JSON")
	exitZero := fs.Bool("exit-zero", false, "exit 0 even when a listed job is failed or quarantined")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	var stages []state.Stage
	if *failed {
		stages = append(stages, state.StageFailed, state.StageQuarantined)
	}
	if *active {
		stages = append(stages, state.StageQueued, state.StageApplied, state.StageUploading, state.StageCommitting)
	}
	if *done {
		stages = append(stages, state.StageDone)
	}
	jobs, source, closeJobs, err := openJobs(ctx, &sf, false)
	if err != nil {
		return err
	}
	defer closeJobs()
	bad := &argErrors{env: env, name: "status"}
	list, err := selectJobs(ctx, jobs, stages, workingDir(env), pos, bad)
	if err != nil {
		return err
	}
	info := daemonInfo(ctx, jobs)
	hk := hookInfo(ctx, jobs, info)
	if *asJSON {
		err = writeJSON(env.stdout, source, info, hk, list)
	} else {
		if info != nil {
			writeInfo(env.stdout, info)
		}
		writeHooks(env.stdout, hk)
		if cfg := clusterConfig(&sf); cfg != nil {
			writeCluster(ctx, env.stdout, cfg, env.getenv)
		}
		err = writeTable(env.stdout, list)
	}
	if err != nil {
		return err
	}
	if err := bad.err(); err != nil {
		return err
	}
	if n := countFailed(list); n > 0 && !*exitZero {
		return fmt.Errorf("%d job(s) failed, quarantined or processing_failed (--exit-zero to exit 0)", n)
	}
	return nil
}

func countFailed(list []*state.Job) int {
	n := 0
	for _, j := range list {
		if j.Stage == state.StageFailed || j.Stage == state.StageQuarantined || j.DisplayStage() == "processing_failed" {
			n++
		}
	}
	return n
}

// daemonInfo asks a running daemon about itself (nil without one).
func daemonInfo(ctx context.Context, jobs control.Jobs) *control.DaemonInfo {
	c, ok := jobs.(*control.Client)
	if !ok {
		return nil
	}
	in, err := c.Info(ctx)
	if err != nil {
		return nil
	}
	return &in
}

// writeInfo prints the daemon's throughput and queue above the jobs.
func writeInfo(w io.Writer, in *control.DaemonInfo) {
	prios := make([]int, 0, len(in.QueueByPriority))
	for p := range in.QueueByPriority {
		if n, err := strconv.Atoi(p); err == nil {
			prios = append(prios, n)
		}
	}
	sort.Sort(sort.Reverse(sort.IntSlice(prios)))
	queue := make([]string, 0, len(prios))
	for _, p := range prios {
		queue = append(queue, fmt.Sprintf("%d:%d", p, in.QueueByPriority[strconv.Itoa(p)]))
	}
	q := "empty"
	if len(queue) > 0 {
		q = strings.Join(queue, " ")
	}
	small := ""
	if in.SmallLimit > 0 {
		small = fmt.Sprintf(" (small files: up to %d at once)", in.SmallLimit)
	}
	fmt.Fprintf(w, "daemon: bandwidth limit %s, rate %s, %d active%s, queue by priority %s\n",
		throttle.FormatRate(in.BandwidthLimit), formatBytesRate(in.UploadRate), in.Active, small, q)
	if in.StateError != "" {
		fmt.Fprintf(w, "daemon: STATE NOT WRITABLE (%s): no new jobs are taken until it is\n", in.StateError)
	}
	writeWaiting(w, in, time.Now())
}

// writeWaiting lists the files the daemon has seen but not made jobs of
// yet, and why, above the jobs.
func writeWaiting(w io.Writer, in *control.DaemonInfo, now time.Time) {
	total := 0
	var parts []string
	for _, r := range sortedKeys(in.WaitingByReason) {
		if n := in.WaitingByReason[r]; n > 0 {
			total += n
			parts = append(parts, fmt.Sprintf("%d %s", n, r))
		}
	}
	if total == 0 && len(in.Waiting) == 0 {
		return
	}
	fmt.Fprintf(w, "waiting: %d file(s) not jobs yet (%s)\n", total, strings.Join(parts, ", "))
	t := table{header: []string{"  WAITING", "FOR", "SINCE", "DETAIL"}}
	for _, f := range in.Waiting {
		detail := f.Detail
		if f.NMissing > 0 {
			detail = fmt.Sprintf("%d missing: %s", f.NMissing, strings.Join(f.Missing, ", "))
			if f.NMissing > len(f.Missing) {
				detail += ", ..."
			}
		}
		t.add("  "+printable(f.Path), f.Reason, formatAge(now.Sub(f.Since)), printable(orDefault(detail, "-")))
	}
	_ = t.write(w)
	if total > len(in.Waiting) {
		fmt.Fprintf(w, "  ... and %d more\n", total-len(in.Waiting))
	}
	fmt.Fprintln(w)
}

// formatAge prints a wait as 45s, 3m10s, 2h5m.
func formatAge(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", max(int(d.Seconds()), 0))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func formatBytesRate(bps float64) string {
	if bps < 1 {
		return "0 B/s"
	}
	return throttle.FormatRate(int64(bps))
}

// selectJobs lists the jobs of args (all jobs without args) in stages; an
// argument that matches nothing goes to bad, the others are still listed.
func selectJobs(ctx context.Context, jobs control.Jobs, stages []state.Stage, cwd string, args []string, bad *argErrors) ([]*state.Job, error) {
	if len(args) == 0 {
		return jobs.List(ctx, state.Filter{Stages: stages})
	}
	seen := map[string]bool{}
	out := []*state.Job{}
	for _, a := range args {
		found, err := resolve(ctx, jobs, cwd, a)
		if errors.Is(err, state.ErrNotFound) {
			bad.add(err)
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, j := range found {
			if !seen[j.ID] && (len(stages) == 0 || containsStage(stages, j.Stage)) {
				seen[j.ID] = true
				out = append(out, j)
			}
		}
	}
	return out, nil
}

func containsStage(list []state.Stage, s state.Stage) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// statusJob is the stable JSON shape of one job in `status --json`.
type statusJob struct {
	ID             string       `json:"id"`
	Path           string       `json:"path"`
	Root           string       `json:"root"`
	Rel            string       `json:"rel"`
	Kind           string       `json:"kind"`
	Rule           string       `json:"rule"`
	Stage          string       `json:"stage"`
	Size           int64        `json:"size"`
	BytesDone      int64        `json:"bytes_done"`
	Progress       float64      `json:"progress"`
	Attempts       int          `json:"attempts"`
	NextRetry      *time.Time   `json:"next_retry"`
	Created        time.Time    `json:"created"`
	Updated        time.Time    `json:"updated"`
	Finished       *time.Time   `json:"finished"`
	FileID         string       `json:"file_id"`
	MediaURL       string       `json:"media_url"`
	CoverURL       string       `json:"cover_url"`
	RequestID      string       `json:"request_id"`
	Error          *statusError `json:"error"`
	QuarantinePath string       `json:"quarantine_path"`
	MovedTo        string       `json:"moved_to"`
	RenamedTo      string       `json:"renamed_to"`     // the file's path after a rename found after the upload (linked there)
	Play           *state.Play  `json:"play,omitempty"` // after done: processing, ready or processing_failed, with outputs or error
}

type statusError struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
	Op        string `json:"op"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func jobSize(j *state.Job) int64 {
	if j.Bytes > 0 {
		return j.Bytes
	}
	return j.Key.Size
}

func toStatus(j *state.Job) statusJob {
	s := statusJob{
		ID: j.ID, Path: j.Key.Path(), Root: j.Key.Root, Rel: j.Key.Rel, Kind: string(j.Kind), Rule: j.Rule,
		Stage: j.DisplayStage(), Size: jobSize(j), BytesDone: j.BytesDone, Progress: j.Progress(),
		Attempts: attemptsMade(j), NextRetry: timePtr(j.NextRetry), Created: j.Created, Updated: j.Updated,
		Finished: timePtr(j.Finished), FileID: j.Result.FileID, MediaURL: j.Result.MediaURL,
		CoverURL: j.Result.CoverURL, RequestID: j.Result.RequestID, QuarantinePath: j.QuarantinePath,
		MovedTo: j.Post.MovedTo, RenamedTo: j.RenamedPath(), Play: j.Play,
	}
	if e := j.LastError; e != nil {
		s.Error = &statusError{Code: e.Code, Message: e.Message, RequestID: e.RequestID, Op: e.Op}
	}
	return s
}

// attemptsMade counts the upload attempts of a job: the failed ones, plus
// the one running or the one that succeeded.
func attemptsMade(j *state.Job) int {
	if j.Stage == state.StageDone || j.Stage.InFlight() {
		return j.Attempts + 1
	}
	return j.Attempts
}

func writeJSON(w io.Writer, source string, info *control.DaemonInfo, hk *control.HookInfo, jobs []*state.Job) error {
	out := struct {
		Source string              `json:"source"`
		Daemon *control.DaemonInfo `json:"daemon,omitempty"`
		Hooks  *control.HookInfo   `json:"hooks,omitempty"`
		Jobs   []statusJob         `json:"jobs"`
	}{Source: source, Daemon: info, Hooks: hk, Jobs: make([]statusJob, 0, len(jobs))}
	for _, j := range jobs {
		out.Jobs = append(out.Jobs, toStatus(j))
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func writeTable(w io.Writer, jobs []*state.Job) error {
	if len(jobs) == 0 {
		_, err := fmt.Fprintln(w, "no jobs")
		return err
	}
	t := table{header: []string{"ID", "PATH", "STAGE", "SIZE", "PROGRESS", "ATTEMPTS", "NEXT RETRY", "RESULT"}}
	for _, j := range jobs {
		next := "-"
		if !j.NextRetry.IsZero() && j.Stage == state.StageFailed {
			next = j.NextRetry.Local().Format(time.RFC3339)
		}
		t.add(j.ID, printable(j.Key.Path()), j.DisplayStage(), humanBytes(jobSize(j)),
			jobProgress(j), strconv.Itoa(attemptsMade(j)), next, jobResult(j))
	}
	return t.write(w)
}

// jobProgress is the upload's progress, then the procedure's.
func jobProgress(j *state.Job) string {
	if j.Stage == state.StageDone && j.Play != nil && j.Play.State == state.PlayProcessing {
		return fmt.Sprintf("%d%%", j.Play.Progress)
	}
	return fmt.Sprintf("%.0f%%", 100*j.Progress())
}

// jobResult is the job's outcome, and where its file went when it was
// renamed after the upload.
func jobResult(j *state.Job) string {
	out := jobOutcome(j)
	if j.Stage == state.StageDone && j.RenamedTo != "" {
		out += " " + printable("(renamed to "+j.RenamedPath()+")")
	}
	return out
}

func jobOutcome(j *state.Job) string {
	switch {
	case j.Stage == state.StageDone && j.Play != nil && j.Play.State == state.PlayFailed && j.Play.Error != nil:
		return printable("FileId " + j.Result.FileID + " processing failed: " + j.Play.Error.Code + ": " + j.Play.Error.Message)
	case j.Stage == state.StageDone && j.Play != nil && j.Play.Outputs != nil && len(j.Play.Outputs.Streams)+len(j.Play.Outputs.Transcodes) > 0:
		o := j.Play.Outputs
		play := ""
		if len(o.Streams) > 0 {
			play = o.Streams[0].URL
		} else {
			play = o.Transcodes[0].URL
		}
		return printable(fmt.Sprintf("FileId %s %s (+%d outputs)", j.Result.FileID, play, len(o.Transcodes)+len(o.Streams)+len(o.Snapshots)))
	case j.Stage == state.StageDone && j.Result.FileID != "":
		if j.Result.MediaURL != "" {
			return printable("FileId " + j.Result.FileID + " " + j.Result.MediaURL)
		}
		return "FileId " + j.Result.FileID
	case j.LastError != nil && (j.Stage == state.StageFailed || j.Stage == state.StageQuarantined):
		msg := j.LastError.Code + ": " + j.LastError.Message
		if j.QuarantinePath != "" {
			msg += " (moved to " + j.QuarantinePath + ")"
		}
		return printable(msg)
	}
	return "-"
}

// printable quotes text that holds control characters or invalid UTF-8,
// so a hostile file name cannot break or forge table lines.
func printable(s string) string {
	if !utf8.ValidString(s) || strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) }) >= 0 {
		return strconv.Quote(s)
	}
	return s
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
