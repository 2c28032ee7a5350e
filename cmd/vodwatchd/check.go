package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/config"
	"github.com/vodwatchd/vodwatchd/internal/credentials"
	"github.com/vodwatchd/vodwatchd/internal/daemon"
	"github.com/vodwatchd/vodwatchd/internal/fileid"
	"github.com/vodwatchd/vodwatchd/internal/manifest"
	"github.com/vodwatchd/vodwatchd/internal/rootlock"
	"github.com/vodwatchd/vodwatchd/internal/rules"
	"github.com/vodwatchd/vodwatchd/internal/watcher"
)

// onlineCheck verifies with a harmless API call that the configured
// credentials are accepted; it prints its own result lines to env.stdout
// and returns an error when the check fails. Secrets must never be printed.
type onlineCheck func(ctx context.Context, env *cmdEnv, cfg *config.Config) error

// checkDeps is what the check command reads of the machine, so tests can
// point it elsewhere.
type checkDeps struct {
	online       onlineCheck
	inotifyLimit string // file holding fs.inotify.max_user_watches
	// watchesInUse counts this user's inotify watches (nil: from /proc).
	watchesInUse func(context.Context) (int, error)
	now          func() time.Time
}

func cmdCheck(ctx context.Context, env *cmdEnv, args []string) error {
	return runCheck(ctx, env, args, checkDeps{
		online:       checkOnline,
		inotifyLimit: "/proc/sys/fs/inotify/max_user_watches",
		now:          time.Now,
	})
}

// errCheckFailed marks a check that found problems (already printed).
var errCheckFailed = errors.New("check failed")

func runCheck(ctx context.Context, env *cmdEnv, args []string, deps checkDeps) error {
	flags := newFlagSet(env, "check")
	cfgPath := flags.String("config", "/etc/vodwatchd/config.yaml", "configuration file")
	online := flags.Bool("online", false, "also verify the credentials with a harmless API call")
	as := flags.String("as", "", "also check that `USER` (the service user, e.g. vodwatchd) may read and write what the daemon needs")
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		var es config.Errors
		if errors.As(err, &es) {
			for _, e := range es {
				fmt.Fprintln(env.stderr, e.Error())
			}
			return fmt.Errorf("%s: %d error(s)", *cfgPath, len(es))
		}
		return err
	}
	c := &checker{ctx: ctx, env: env, cfg: cfg, deps: deps}
	c.report()
	if *as != "" {
		id, err := lookupIdentity(*as)
		if err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		c.checkAs(id)
	}
	if *online {
		c.runOnline()
	}
	for _, p := range flags.Args() {
		c.explain(p)
	}
	if c.failed > 0 {
		return fmt.Errorf("%w: %d problem(s)", errCheckFailed, c.failed)
	}
	return nil
}

// checker prints one line per check and counts failures.
type checker struct {
	ctx    context.Context
	env    *cmdEnv
	cfg    *config.Config
	deps   checkDeps
	failed int
}

func (c *checker) line(status, format string, args ...any) {
	if status == "FAIL" {
		c.failed++
	}
	fmt.Fprintf(c.env.stdout, "%-5s %s\n", status, fmt.Sprintf(format, args...))
}

func (c *checker) report() {
	n := 0
	for _, w := range c.cfg.Watch {
		n += len(w.Rules)
	}
	c.line("ok", "config %s: %d watch folder(s), %d rule(s)", c.cfg.File, len(c.cfg.Watch), n)
	for _, w := range c.cfg.Warnings {
		c.line("warn", "%s", w)
	}
	c.checkState()
	c.checkRoots()
	c.checkCredentials()
	c.checkInotify()
}

// nearestDir returns dir or its closest existing ancestor; exact says
// whether dir itself exists. Something in the way that is not a folder is
// an error.
func nearestDir(dir string) (found string, exact bool, err error) {
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		switch {
		case err == nil && fi.IsDir():
			return d, d == dir, nil
		case err == nil:
			return "", false, fmt.Errorf("%s is not a folder", d)
		case !errors.Is(err, fs.ErrNotExist):
			return "", false, err
		case filepath.Dir(d) == d:
			return "", false, err
		}
	}
}

// writable creates and removes a temporary file in dir.
func writable(dir string) error {
	f, err := os.CreateTemp(dir, ".vodwatchd-check-*")
	if err != nil {
		return err
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

func (c *checker) checkState() {
	dir := filepath.Dir(c.cfg.State)
	existing, exact, err := nearestDir(dir)
	if err != nil {
		c.line("FAIL", "state %s: cannot create folder %s: %v", c.cfg.State, dir, err)
		return
	}
	if err := writable(existing); err != nil {
		c.line("FAIL", "state %s: folder %s is not writable: %v", c.cfg.State, existing, err)
		return
	}
	if !exact {
		c.line("ok", "state %s: folder %s will be created (%s is writable)", c.cfg.State, dir, existing)
		return
	}
	c.line("ok", "state %s: folder is writable", c.cfg.State)
}

func (c *checker) checkRoots() {
	for i, w := range c.cfg.Watch {
		fi, err := os.Stat(w.Path)
		switch {
		case errors.Is(err, fs.ErrNotExist) && w.Create:
			existing, _, werr := nearestDir(w.Path)
			if werr == nil {
				werr = writable(existing)
			}
			if werr != nil {
				c.line("FAIL", "watch[%d] %s: missing, and cannot be created: %v", i, w.Path, werr)
			} else {
				c.line("ok", "watch[%d] %s: missing, will be created at start-up (create: true)", i, w.Path)
			}
		case err != nil:
			c.line("FAIL", "watch[%d] %s: %v", i, w.Path, err)
		case !fi.IsDir():
			c.line("FAIL", "watch[%d] %s: not a folder", i, w.Path)
		default:
			c.checkRootHolder(i, w.Path, w.Mode)
		}
	}
}

// checkRootHolder reports an existing root, and the vodwatchd that holds
// its lock now, if any (read from the kernel's lock list, never by taking
// the lock): this configuration's own daemon is fine; another one, with a
// state file of its own, keeps this configuration's daemon off the folder.
// A cluster member takes no lock, so nothing is looked up.
func (c *checker) checkRootHolder(i int, root string, mode config.Mode) {
	if c.cfg.Cluster != nil {
		c.line("ok", "watch[%d] %s: folder exists (mode %s)", i, root, mode)
		return
	}
	held, err := rootlock.Holder(root)
	switch {
	case err != nil:
		c.line("warn", "watch[%d] %s: folder exists (mode %s); cannot tell whether another vodwatchd watches it: %v", i, root, mode, err)
	case held == nil:
		c.line("ok", "watch[%d] %s: folder exists (mode %s)", i, root, mode)
	case ownState(held.Owner, c.cfg.State):
		c.line("ok", "watch[%d] %s: folder exists (mode %s); watched now by this configuration's daemon (%s)", i, root, mode, held.Owner)
	case ownState(held.Owner, config.EmulatorStatePath(c.cfg.State)):
		c.line("ok", "watch[%d] %s: folder exists (mode %s); watched now by this configuration's emulator run (%s)", i, root, mode, held.Owner)
	default:
		c.line("FAIL", "watch[%d] %s: %v", i, root, held)
	}
}

// ownState reports whether a lock owner's text (rootlock.Owner) names the
// state file state.
func ownState(owner, state string) bool {
	p, ok := rootlock.OwnerState(owner)
	return ok && filepath.Clean(p) == filepath.Clean(state)
}

func (c *checker) checkCredentials() {
	cr := c.cfg.VOD.Credentials
	if cr.Kind == config.CredFile {
		if fi, err := os.Stat(cr.Path); err == nil && fi.Mode().Perm()&0o077 != 0 {
			c.line("warn", "credentials file %s is readable by group/others (mode %04o): chmod 600 it", cr.Path, fi.Mode().Perm())
		}
	}
	if cr.Kind == config.CredSystemd && c.env.getenv("CREDENTIALS_DIRECTORY") == "" {
		for _, name := range []string{"secret_id", "secret_key"} {
			p := filepath.Join(cr.Path, name)
			if fi, err := os.Stat(p); err == nil && fi.Mode().Perm()&0o077 != 0 {
				c.line("warn", "credential %s is readable by group/others (mode %04o): chmod 600 it", p, fi.Mode().Perm())
			}
		}
	}
	if cr.Kind == config.CredCVMRole {
		c.line("ok", "credentials: cvm-role (fetched from the instance metadata service at run time; verify with --online)")
		return
	}
	if strings.Contains(cr.Path, "${CREDENTIALS_DIRECTORY}") || strings.Contains(cr.Path, "$CREDENTIALS_DIRECTORY") {
		c.line("warn", "credentials (%s): only the service has $CREDENTIALS_DIRECTORY, so they cannot be read here; "+
			"credentials: systemd:DIR (DIR = where LoadCredential= reads them) lets check read the same files", describeCred(cr))
		return
	}
	s, err := credentials.Resolve(cr, c.env.getenv)
	if err != nil {
		c.line("FAIL", "credentials (%s): %v", describeCred(cr), err)
		return
	}
	c.line("ok", "credentials (%s): secret id %s, secret key present", describeCred(cr), maskID(s.SecretID))
}

func describeCred(cr config.Credentials) string {
	switch cr.Kind {
	case config.CredFile:
		return "file:" + cr.Path
	case config.CredProfile:
		return "profile:" + cr.Profile
	case config.CredSystemd:
		return "systemd:" + cr.Path
	}
	return string(cr.Kind)
}

// maskID shows only the first four characters of a secret id.
func maskID(id string) string {
	if len(id) <= 8 {
		return "****"
	}
	return id[:4] + strings.Repeat("*", 4)
}

func (c *checker) checkInotify() {
	var roots []watcher.BudgetRoot
	for i := range c.cfg.Watch {
		w := &c.cfg.Watch[i]
		if w.Mode == config.ModePoll {
			continue
		}
		if fi, err := os.Stat(w.Path); err != nil || !fi.IsDir() {
			continue // reported by the watch folder check
		}
		roots = append(roots, watcher.BudgetRoot{Path: w.Path, Ignore: w.IgnoreFunc()})
	}
	if len(roots) == 0 {
		c.line("ok", "inotify: no folders to watch yet")
		return
	}
	raw, err := os.ReadFile(c.deps.inotifyLimit)
	if err != nil {
		c.line("warn", "inotify: cannot read the limit (%v)", err)
		return
	}
	limit, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || limit <= 0 {
		c.line("warn", "inotify: bad limit in %s: %q", c.deps.inotifyLimit, strings.TrimSpace(string(raw)))
		return
	}
	b, err := watcher.CheckBudget(c.ctx, roots, limit, c.deps.watchesInUse)
	if err != nil {
		c.line("warn", "inotify: cannot count the folders to watch: %v", err)
		return
	}
	inUse := ""
	if b.InUse >= 0 {
		inUse = fmt.Sprintf(" + %d watch(es) already in use", b.InUse)
	}
	switch {
	case b.Err() != nil:
		c.line("FAIL", "inotify: %v", b.Err())
	case b.Needed() > limit/2:
		c.line("warn", "inotify: %d folder(s) to watch%s use over half of fs.inotify.max_user_watches=%d (shared with other programs); consider raising it",
			b.Dirs, inUse, limit)
	default:
		c.line("ok", "inotify: %d folder(s) to watch%s, limit %d", b.Dirs, inUse, limit)
	}
}

func (c *checker) runOnline() {
	if c.deps.online == nil {
		c.line("FAIL", "online: no online check available")
		return
	}
	err := c.deps.online(c.ctx, c.env, c.cfg)
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range joined.Unwrap() {
			c.line("FAIL", "online: %v", e)
		}
		return
	}
	if err != nil {
		c.line("FAIL", "online: %v", err)
	}
}

// explain prints which watch and rule take path and what they would send.
func (c *checker) explain(arg string) {
	out := c.env.stdout
	fmt.Fprintf(out, "\n%s\n", arg)
	abs, err := filepath.Abs(arg)
	if err != nil {
		fmt.Fprintf(out, "  not taken: %v\n", err)
		return
	}
	wi, rel := c.findWatch(abs)
	if wi < 0 {
		fmt.Fprintf(out, "  not taken: not inside any watch folder\n")
		return
	}
	w := &c.cfg.Watch[wi]
	fmt.Fprintf(out, "  watch:     watch[%d] %s (mode %s)\n", wi, w.Path, w.Mode)
	fi, statErr := os.Lstat(abs)
	switch {
	case rel == ".":
		fmt.Fprintf(out, "  not taken: this is the watch root; files under it are matched one by one\n")
		return
	case statErr == nil && fi.IsDir():
		fmt.Fprintf(out, "  not taken: a folder; files under it are matched one by one\n")
		return
	case statErr == nil && !fi.Mode().IsRegular():
		fmt.Fprintf(out, "  not taken: not a regular file (%s); symlinks, FIFOs and devices are skipped\n", fi.Mode().Type())
		return
	}
	fmt.Fprintf(out, "  path:      %s\n", rel)
	if w.Ignored(rel) {
		fmt.Fprintf(out, "  not taken: ignored (ignore list: %s)\n", strings.Join(w.Ignore, " "))
		return
	}
	if media, ok := daemon.SidecarOf(rel); ok && statErr == nil && exists(filepath.Join(w.Path, filepath.FromSlash(media))) {
		fmt.Fprintf(out, "  not taken: vodwatchd's own sidecar of %s (result or error), never uploaded\n", media)
		return
	}
	if ms := daemon.ClaimedBy(w.Path, rel); len(ms) > 0 {
		fmt.Fprintf(out, "  not taken: part of the HLS/DASH bundle of %s (uploaded with it, never on its own)\n", strings.Join(ms, ", "))
		return
	}
	set := rules.New(w, c.deps.now)
	if media, ok := set.IsCover(rel, siblings(abs)); ok {
		fmt.Fprintf(out, "  not taken: cover of %s (uploaded with it, never on its own)\n", media)
		return
	}
	r, ok := set.Match(rel)
	if !ok {
		fmt.Fprintf(out, "  not taken: no rule matches; the file is left alone\n")
		return
	}
	facts := rules.FileFacts{Root: w.Path, Rel: rel, ModTime: c.deps.now()}
	if statErr == nil {
		facts.Size, facts.ModTime = fi.Size(), fi.ModTime()
		facts.JobID = daemon.JobKey(w.Path, rel, fileid.FromInfo(fi)).ID()
	} else {
		fmt.Fprintf(out, "  note:      the file does not exist; size 0 and mtime now assumed, and the job id is only known once it does\n")
	}
	fmt.Fprintf(out, "  rule:      %s (%s, match %q)\n", r.Name, r.Pos, r.Match)
	if facts.JobID != "" {
		fmt.Fprintf(out, "  job:       %s (this version of the file; status, retry and forget take it)\n", facts.JobID)
	}
	if statErr == nil && fi.Size() == 0 && !r.AllowEmpty {
		fmt.Fprintf(out, "  not taken: zero-byte file, refused with a warning (allow_empty: true on the rule uploads it)\n")
		return
	}
	p, err := r.Params(facts)
	if err != nil {
		fmt.Fprintf(out, "  error:     %v\n", err)
		c.failed++
		return
	}
	printParams(out, p, siblings(abs))
	if _, isManifest := manifest.KindOf(rel); isManifest && statErr == nil {
		explainBundle(c.ctx, out, abs, p.BundleTimeout)
	}
}

// explainBundle says whether the manifest at abs is complete, and lists
// the files it still misses, as the daemon would find them.
func explainBundle(ctx context.Context, out io.Writer, abs string, timeout time.Duration) {
	b, err := manifest.Resolve(ctx, abs, manifest.Options{})
	var miss *manifest.MissingError
	switch {
	case errors.As(err, &miss):
		names := make([]string, 0, min(len(miss.Missing), 10))
		for _, f := range miss.Missing[:min(len(miss.Missing), 10)] {
			names = append(names, f.Rel)
		}
		more := ""
		if len(miss.Missing) > len(names) {
			more = fmt.Sprintf(" and %d more", len(miss.Missing)-len(names))
		}
		fmt.Fprintf(out, "  missing:   %d file(s): %s%s (the bundle waits up to %s, then fails)\n", len(miss.Missing), strings.Join(names, ", "), more, timeout)
	case err != nil:
		fmt.Fprintf(out, "  invalid:   %v (the job fails with BundleInvalid)\n", err)
	default:
		fmt.Fprintf(out, "  complete:  %d referenced file(s), %s\n", len(b.Files), humanBytes(b.Size()))
	}
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// findWatch returns the watch whose root holds abs, and the slash path
// relative to it; -1 when none does.
func (c *checker) findWatch(abs string) (int, string) {
	cands := []string{abs}
	if r, err := filepath.EvalSymlinks(filepath.Dir(abs)); err == nil {
		cands = append(cands, filepath.Join(r, filepath.Base(abs)))
	}
	for _, p := range cands {
		for i, w := range c.cfg.Watch {
			roots := []string{w.Path}
			if r, err := filepath.EvalSymlinks(w.Path); err == nil {
				roots = append(roots, r)
			}
			for _, root := range roots {
				rel, err := filepath.Rel(root, p)
				if err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
					return i, filepath.ToSlash(rel)
				}
			}
		}
	}
	return -1, ""
}

// siblings lists the names in the folder of abs ("" names when unreadable).
func siblings(abs string) []string {
	ents, err := os.ReadDir(filepath.Dir(abs))
	if err != nil {
		return nil
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func printParams(out io.Writer, p rules.Params, sibs []string) {
	row := func(k, v string) { fmt.Fprintf(out, "  %-10s %s\n", k+":", v) }
	row("media", fmt.Sprintf("type %s, name %q", p.MediaType, p.MediaName))
	if p.MediaType == "m3u8" || p.MediaType == "mpd" {
		row("bundle", fmt.Sprintf("HLS/DASH: waits until every referenced file is present (timeout %s)", p.BundleTimeout))
	}
	row("procedure", orNone(p.Procedure))
	row("class", strconv.FormatInt(p.ClassID, 10))
	row("storage", orDefault(p.StorageRegion, "the account's default region"))
	row("sub app", strconv.FormatUint(p.SubAppID, 10))
	row("expires", orDefault(p.ExpireTime, "never"))
	row("source", fmt.Sprintf("%q", p.SourceContext))
	if p.SessionContext != "" {
		row("session", fmt.Sprintf("%q", p.SessionContext))
	}
	row("cover", describeCover(p, sibs))
	if p.ReadyMarker != "" {
		row("ready", "waits for "+p.ReadyMarker)
	}
	row("priority", strconv.Itoa(p.Priority))
	row("parts", fmt.Sprintf("%d in flight", p.ConcurrentUploadNumber))
	row("after", describeAfter(p.After))
	if p.Dedupe {
		row("dedupe", "skipped if the same content was uploaded before")
	}
}

func describeCover(p rules.Params, sibs []string) string {
	if len(p.CoverCandidates) == 0 {
		return "none"
	}
	have := map[string]bool{}
	for _, s := range sibs {
		have[s] = true
	}
	for _, c := range p.CoverCandidates {
		if have[filepath.Base(c)] {
			return c + " (present)"
		}
	}
	return fmt.Sprintf("none present yet; waits up to %s for one of %s", p.CoverWait, strings.Join(p.CoverCandidates, ", "))
}

func describeAfter(a config.After) string {
	s := string(a.Action)
	if a.Action == config.AfterMove {
		s += " to " + a.To
	}
	if a.Sidecar {
		s += ", with a .vod.json sidecar"
	}
	if a.PruneEmpty {
		s += ", removing the folders it leaves empty"
	}
	if a.When == config.AfterWhenReady && a.Action != config.AfterKeep {
		s += ", once VOD made it playable (ready)"
	}
	return s
}

func orNone(s string) string { return orDefault(s, "none") }

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
