package main

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/vodwatchd/vodwatchd/internal/cluster"

	"github.com/vodwatchd/vodwatchd/internal/state"
)

func cmdForget(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "forget")
	var sf stateFlags
	sf.register(fs)
	force := fs.Bool("force", false, "forget jobs even while they are in flight")
	fs.Usage = func() {
		fmt.Fprintln(env.stderr, "usage: vodwatchd forget [--state PATH | --config F] [--force] JOB...")
		fmt.Fprintln(env.stderr, "Forgotten files are uploaded again when they are seen again.")
		fs.PrintDefaults()
	}
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return fmt.Errorf("%w: name the jobs to forget", errUsage)
	}
	jobs, _, closeJobs, err := openJobs(ctx, &sf, true)
	if err != nil {
		return err
	}
	defer closeJobs()
	// Resolve and check every argument before changing anything.
	var targets []*state.Job
	for _, a := range pos {
		j, err := resolveOne(ctx, jobs, a)
		if err != nil {
			return err
		}
		if j.Stage.InFlight() && !*force {
			return fmt.Errorf("job %s (%s) is %s: %w; pass --force to forget it anyway", j.ID, printable(j.Key.Path()), j.Stage, state.ErrInFlight)
		}
		targets = append(targets, j)
	}
	if ccfg := clusterConfig(&sf); ccfg != nil {
		// Cluster-wide: the done registry would hand the old result back.
		ids := make([]string, len(targets))
		for i, j := range targets {
			ids[i] = j.ID
		}
		if err := withCluster(ctx, ccfg, env.getenv, func(ctx context.Context, cli *clientv3.Client, prefix string) error {
			return cluster.Forget(ctx, cli, prefix, ids)
		}); err != nil {
			return err
		}
	}
	for _, j := range targets {
		if err := jobs.Forget(ctx, j.ID, *force); err != nil {
			return fmt.Errorf("forget %s: %w", j.ID, err)
		}
		fmt.Fprintf(env.stdout, "forgot %s %s\n", j.ID, printable(j.Key.Path()))
	}
	return nil
}
