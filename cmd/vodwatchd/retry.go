package main

import (
	"context"
	"fmt"

	"github.com/vodwatchd/vodwatchd/internal/state"
)

func cmdRetry(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "retry")
	var sf stateFlags
	sf.register(fs)
	all := fs.Bool("failed", false, "retry every failed and quarantined job")
	fs.Usage = func() {
		fmt.Fprintln(env.stderr, "usage: vodwatchd retry [--state PATH | --config F] JOB...|--failed")
		fs.PrintDefaults()
	}
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 && !*all {
		return fmt.Errorf("%w: name the jobs to retry, or pass --failed", errUsage)
	}
	jobs, source, closeJobs, err := openJobs(ctx, &sf, true)
	if err != nil {
		return err
	}
	defer closeJobs()
	var targets []*state.Job
	if *all {
		if targets, err = jobs.List(ctx, state.Filter{Stages: []state.Stage{state.StageFailed, state.StageQuarantined}}); err != nil {
			return err
		}
	}
	// Resolve every argument before changing anything.
	for _, a := range pos {
		j, err := resolveOne(ctx, jobs, a)
		if err != nil {
			return err
		}
		if j.Stage != state.StageFailed && j.Stage != state.StageQuarantined {
			return fmt.Errorf("job %s (%s) is %s, not failed or quarantined", j.ID, printable(j.Key.Path()), j.Stage)
		}
		targets = append(targets, j)
	}
	seen := map[string]bool{}
	for _, j := range targets {
		if seen[j.ID] {
			continue
		}
		seen[j.ID] = true
		r, err := jobs.Retry(ctx, j.ID)
		if err != nil {
			return fmt.Errorf("retry %s: %w", j.ID, err)
		}
		fmt.Fprintf(env.stdout, "queued %s %s\n", r.ID, printable(r.SourcePath()))
	}
	if len(seen) == 0 {
		fmt.Fprintln(env.stdout, "no failed or quarantined jobs")
	} else if source == "file" {
		fmt.Fprintln(env.stdout, "the daemon is not running: the jobs run when it starts")
	}
	return nil
}
