package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/vodwatchd/vodwatchd/internal/buildinfo"
)

// cmdVersion prints the version, the Go version and the modules the binary
// was built with, as text or (--json) as one JSON object.
func cmdVersion(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "version")
	asJSON := fs.Bool("json", false, "print JSON instead of text")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	info := buildinfo.Read()
	if *asJSON {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(info); err != nil {
			return fmt.Errorf("writing version: %w", err)
		}
		return nil
	}
	return writeVersion(env.stdout, info)
}

func writeVersion(w io.Writer, info buildinfo.Info) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "vodwatchd %s\n", info.Version)
	fmt.Fprintf(tw, "go:\t%s %s\n", info.GoVersion, info.Platform)
	if info.Revision != "" {
		dirty := ""
		if info.Modified {
			dirty = " (modified)"
		}
		fmt.Fprintf(tw, "commit:\t%s%s %s\n", info.Revision, dirty, info.Time)
	}
	if len(info.Deps) > 0 {
		fmt.Fprintln(tw, "modules:")
	}
	for _, d := range info.Deps {
		line := "  " + d.Path + "\t" + d.Version
		if d.Replace != "" {
			line += "\t=> " + d.Replace
		}
		fmt.Fprintln(tw, line)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing version: %w", err)
	}
	return nil
}
