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
	"syscall"
)

// command is one subcommand: it parses its own flags from args and writes
// its output to the given streams.
type command struct {
	summary string
	run     func(ctx context.Context, env *cmdEnv, args []string) error
}

// cmdEnv is what a subcommand may touch of the process: no globals.
type cmdEnv struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	wedge  <-chan struct{} // tests only: see app.Options.Wedge
}

func commands() map[string]command {
	return map[string]command{
		"run":      {"watch the configured folders and upload what settles", cmdRun},
		"upload":   {"upload one file or HLS/DASH bundle and print its FileId", cmdUpload},
		"status":   {"show jobs from the state file", cmdStatus},
		"retry":    {"put failed or quarantined jobs back in the queue", cmdRetry},
		"forget":   {"drop job records so files can be uploaded again", cmdForget},
		"check":    {"validate a config and explain which rule takes a path", cmdCheck},
		"emulator": {"run the local VOD/COS emulator", cmdEmulator},
		"version":  {"print the version and the modules it was built with", cmdVersion},
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

func runMain(ctx context.Context, env *cmdEnv, args []string) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(env.stderr, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(env.stderr, "vodwatchd: unknown command %q\n", args[0])
		usage(env.stderr, cmds)
		return 2
	}
	if err := c.run(ctx, env, args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(env.stderr, "vodwatchd %s: %v\n", args[0], err)
		if errors.Is(err, errUsage) {
			return 2
		}
		return 1
	}
	return 0
}

func usage(w io.Writer, cmds map[string]command) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "usage: vodwatchd COMMAND [flags]\n\ncommands:")
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'vodwatchd COMMAND -h' for a command's flags.")
}

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(env *cmdEnv, name string) *flag.FlagSet {
	fs := flag.NewFlagSet("vodwatchd "+name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	return fs
}
