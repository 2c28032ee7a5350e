package main

import (
	"context"
	"fmt"
	"slices"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/vodwatchd/vodwatchd/internal/cluster"
	"github.com/vodwatchd/vodwatchd/internal/config"

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
	ccfg := clusterConfig(&sf)
	var elsewhere []string // in a cluster: jobs another node may hold
	for _, a := range pos {
		j, err := resolveOne(ctx, jobs, cwd, a)
		if err != nil {
			bad.add(err)
			continue
		}
		if j.Stage != state.StageFailed && j.Stage != state.StageQuarantined {
			if ccfg != nil && !j.Stage.InFlight() && j.Stage != state.StageDone {
				elsewhere = append(elsewhere, j.ID)
				continue
			}
			bad.add(fmt.Errorf("job %s (%s) is %s, not failed or quarantined", j.ID, printable(j.Key.Path()), j.Stage))
			continue
		}
		targets = append(targets, j)
	}
	if len(elsewhere) > 0 {
		if err := retryInCluster(ctx, env, ccfg, elsewhere); err != nil {
			bad.add(err)
		}
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
	case queued == 0 && bad.n == 0 && len(elsewhere) == 0:
		fmt.Fprintln(env.stdout, "no failed or quarantined jobs")
	case queued > 0 && source == "file":
		fmt.Fprintln(env.stdout, "the daemon is not running: the jobs run when it starts")
	}
	return bad.err()
}

// retryInCluster asks the nodes holding jobs to retry them.
func retryInCluster(ctx context.Context, env *cmdEnv, cfg *config.Config, ids []string) error {
	return withCluster(ctx, cfg, env.getenv, func(ctx context.Context, cli *clientv3.Client, prefix string) error {
		unheld, err := cluster.RequestRetry(ctx, cli, prefix, ids)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if slices.Contains(unheld, id) {
				fmt.Fprintf(env.stdout, "%s: queued here and held by no node: it runs when a node claims it\n", id)
			} else {
				fmt.Fprintf(env.stdout, "%s: retry asked of the node holding it\n", id)
			}
		}
		return nil
	})
}
