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
	// An argument that matches nothing, or a job in flight without --force,
	// is reported; the other arguments are still forgotten.
	bad := &argErrors{env: env, name: "forget"}
	cwd := workingDir(env)
	var targets []*state.Job
	for _, a := range pos {
		j, err := resolveOne(ctx, jobs, cwd, a)
		if err != nil {
			bad.add(err)
			continue
		}
		if j.Stage.InFlight() && !*force {
			bad.add(fmt.Errorf("job %s (%s) is %s: %w; pass --force to forget it anyway", j.ID, printable(j.Key.Path()), j.Stage, state.ErrInFlight))
			continue
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
			bad.add(fmt.Errorf("forget %s: %w", j.ID, err))
			continue
		}
		fmt.Fprintf(env.stdout, "forgot %s %s\n", j.ID, printable(j.Key.Path()))
	}
	return bad.err()
}
