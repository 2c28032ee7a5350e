// Command vodwatchd watches drop folders and uploads what lands there into
// Tencent Cloud VOD exactly once. Each subcommand lives in a file of its own.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/vodwatchd/vodwatchd/internal/buildinfo"
)

// command is one subcommand: it parses its own flags from args and writes
// its output to the given streams. synopsis and help make its usage text,
// the same shape for every command (see commandUsage).
type command struct {
	summary  string
	synopsis string // after "vodwatchd NAME"
	help     string // what it does, one paragraph
	run      func(ctx context.Context, env *cmdEnv, args []string) error
}

// cmdEnv is what a subcommand may touch of the process: no globals.
type cmdEnv struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	cwd    string          // tests only: the current folder (default os.Getwd)
	wedge  <-chan struct{} // tests only: see app.Options.Wedge
}

func commands() map[string]command {
	return map[string]command{
		"run": {"watch the configured folders and upload what settles",
			"[--config FILE] [--emulator] [--log-level LEVEL] [--log-format FORMAT]",
			"Watches the configured folders and uploads what settles. SIGHUP reloads\n" +
				"the configuration; SIGTERM stops after checkpointing. VODWATCHD_LOG_LEVEL\n" +
				"overrides log.level; --log-level overrides both.", cmdRun},
		"upload": {"upload one file or HLS/DASH bundle and print its FileId",
			"--region REGION [flags] FILE",
			"Uploads FILE (or the HLS/DASH bundle of a .m3u8/.mpd) into VOD and prints\n" +
				"its FileId. Credentials: TENCENTCLOUD_SECRET_ID/TENCENTCLOUD_SECRET_KEY\n" +
				"[/TENCENTCLOUD_SESSION_TOKEN], else the SDK chain (profile file, CVM role).", cmdUpload},
		"status": {"show jobs from the state file",
			"[--state PATH | --config FILE] [--failed|--active|--done] [--json] [--exit-zero] [PATH|JOB...]",
			"Shows the jobs of the state file (through the running daemon when there is\n" +
				"one). PATH may be relative to the current folder. Exits 1 when a listed\n" +
				"job is failed or quarantined, unless --exit-zero.", cmdStatus},
		"retry": {"put failed or quarantined jobs back in the queue",
			"[--state PATH | --config FILE] [--failed] [PATH|JOB...]",
			"Puts failed or quarantined jobs back in the queue. An argument that matches\n" +
				"nothing is reported (exit 1) and the others are still retried.", cmdRetry},
		"forget": {"drop job records so files can be uploaded again",
			"[--state PATH | --config FILE] [--force] PATH|JOB...",
			"Drops job records: forgotten files are uploaded again when they are seen\n" +
				"again. An argument that matches nothing is reported (exit 1) and the\n" +
				"others are still forgotten.", cmdForget},
		"check": {"validate a config and explain which rule takes a path",
			"[--config FILE] [--online] [--as USER] [PATH...]",
			"Validates the configuration and the machine (state folder, watch folders,\n" +
				"credentials, inotify limit); for each PATH explains which watch and rule\n" +
				"would take it and what would be sent to VOD. Exits 1 when a check fails.", cmdCheck},
		"emulator": {"run the local VOD/COS emulator",
			"--data DIR [flags]",
			"Runs the local VOD/COS emulator the tests use: ApplyUpload, CommitUpload,\n" +
				"COS, media serving and fault injection, on loopback.", cmdEmulator},
		"version": {"print the version and the modules it was built with",
			"[--json]",
			"Prints the version, the Go version and the modules of the build.\n" +
				"'vodwatchd --version' prints the first line only.", cmdVersion},
	}
}

// errUsage marks an error caused by the command line; main exits 2 for it.
var errUsage = errors.New("usage")

func main() {
	env := &cmdEnv{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runMain(ctx, env, os.Args[1:])
	stop()
	os.Exit(code)
}

// Exit statuses, the same for every command (README "The CLI").
const (
	exitOK      = 0 // done; for check, every check passed
	exitFailure = 1 // the command failed, a check failed, a job listed by status failed
	exitUsage   = 2 // bad command line
)

func runMain(ctx context.Context, env *cmdEnv, args []string) int {
	cmds := commands()
	if len(args) == 0 {
		usage(env.stderr, cmds)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help":
		usage(env.stdout, cmds)
		return exitOK
	case "-version", "--version":
		fmt.Fprintf(env.stdout, "vodwatchd %s\n", buildinfo.Read().Version)
		return exitOK
	case "help":
		return runHelp(ctx, env, cmds, args[1:])
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(env.stderr, "vodwatchd: unknown command %q\n", args[0])
		usage(env.stderr, cmds)
		return exitUsage
	}
	if err := c.run(ctx, env, args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		if !errors.Is(err, errReported) {
			fmt.Fprintf(env.stderr, "vodwatchd %s: %v\n", args[0], err)
		}
		if errors.Is(err, errUsage) {
			return exitUsage
		}
		return exitFailure
	}
	return exitOK
}

// errReported marks a failure whose details the command already printed;
// main only sets the exit status.
var errReported = errors.New("reported")

// runHelp prints the command list, or one command's usage, on stdout.
func runHelp(ctx context.Context, env *cmdEnv, cmds map[string]command, args []string) int {
	if len(args) == 0 {
		usage(env.stdout, cmds)
		return exitOK
	}
	c, ok := cmds[args[0]]
	if !ok || len(args) > 1 {
		fmt.Fprintf(env.stderr, "vodwatchd help: unknown command %q\n", strings.Join(args, " "))
		usage(env.stderr, cmds)
		return exitUsage
	}
	out := *env
	out.stderr = env.stdout
	if err := c.run(ctx, &out, []string{"-h"}); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(env.stderr, "vodwatchd help %s: %v\n", args[0], err)
		return exitFailure
	}
	return exitOK
}

func usage(w io.Writer, cmds map[string]command) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "usage: vodwatchd COMMAND [flags] [args]\n       vodwatchd --version\n\ncommands:")
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'vodwatchd help COMMAND' for a command's usage and flags.\n"+
		"Exit status: 0 success, 1 failure (a failed check, a failed job listed by\n"+
		"status, an argument that matched nothing), 2 bad command line.")
}

// commandUsage is every command's -h text: usage line, what it does, flags.
func commandUsage(w io.Writer, name string, c command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: vodwatchd %s %s\n\n%s\n", name, c.synopsis, c.help)
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprintln(w, "\nflags:")
		fs.PrintDefaults()
	}
}

// newFlagSet returns a flag set that reports errors instead of exiting.
// Its usage text is commandUsage's.
func newFlagSet(env *cmdEnv, name string) *flag.FlagSet {
	fs := flag.NewFlagSet("vodwatchd "+name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	c := commands()[name]
	fs.Usage = func() { commandUsage(fs.Output(), name, c, fs) }
	return fs
}
