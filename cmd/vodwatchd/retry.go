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
	// An argument that matches nothing, or a job that is not failed, is
	// reported; the other arguments are still retried.
	bad := &argErrors{env: env, name: "retry"}
	cwd := workingDir(env)
	for _, a := range pos {
		j, err := resolveOne(ctx, jobs, cwd, a)
		if err != nil {
			bad.add(err)
			continue
		}
		if j.Stage != state.StageFailed && j.Stage != state.StageQuarantined {
			bad.add(fmt.Errorf("job %s (%s) is %s, not failed or quarantined", j.ID, printable(j.Key.Path()), j.Stage))
			continue
		}
		targets = append(targets, j)
	}
	seen := map[string]bool{}
	queued := 0
	for _, j := range targets {
		if seen[j.ID] {
			continue
		}
		seen[j.ID] = true
		r, err := jobs.Retry(ctx, j.ID)
		if err != nil {
			bad.add(fmt.Errorf("retry %s: %w", j.ID, err))
			continue
		}
		queued++
		fmt.Fprintf(env.stdout, "queued %s %s\n", r.ID, printable(r.SourcePath()))
	}
	switch {
	case queued == 0 && bad.n == 0:
		fmt.Fprintln(env.stdout, "no failed or quarantined jobs")
	case queued > 0 && source == "file":
		fmt.Fprintln(env.stdout, "the daemon is not running: the jobs run when it starts")
	}
	return bad.err()
}
