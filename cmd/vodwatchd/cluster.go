package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/vodwatchd/vodwatchd/internal/app"
	"github.com/vodwatchd/vodwatchd/internal/cluster"
	"github.com/vodwatchd/vodwatchd/internal/config"
)

// clusterConfig is the configuration named by --config when it has a
// cluster: section (nil otherwise: the commands act on this node only).
func clusterConfig(sf *stateFlags) *config.Config {
	if sf.config == "" {
		return nil
	}
	cfg, err := config.Load(sf.config)
	if err != nil || cfg.Cluster == nil {
		return nil
	}
	return cfg
}

// maxClaimsShown bounds the claimed jobs `status` lists.
const maxClaimsShown = 50

// writeCluster prints the cluster's nodes, their leases and who holds
// which job; an unreachable etcd is a line, not a failure.
func writeCluster(ctx context.Context, w io.Writer, cfg *config.Config, getenv func(string) string) {
	v, err := app.ClusterView(ctx, cfg, getenv)
	if err != nil {
		fmt.Fprintf(w, "cluster: cannot read etcd (%s): %v\n", strings.Join(cfg.Cluster.Endpoints, ","), err)
		return
	}
	claims := map[string]int{}
	for _, c := range v.Claims {
		claims[c.Node]++
	}
	fmt.Fprintf(w, "cluster: %d nodes, %d jobs claimed, %d done (prefix %s, this node %s)\n",
		len(v.Nodes), len(v.Claims), v.Done, cfg.Cluster.Prefix, cfg.Cluster.Node)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tADDRESS\tLEASE\tTTL LEFT\tUP SINCE\tCLAIMS")
	for _, n := range v.Nodes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\n", printable(n.Name), orDash(printable(n.Address)), n.Lease,
			n.TTLLeft, n.Started.Local().Format(time.DateTime), claims[n.Name])
	}
	_ = tw.Flush()
	writeClaims(w, v.Claims)
}

func writeClaims(w io.Writer, claims []cluster.JobClaim) {
	if len(claims) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLAIMED JOB\tHELD BY")
	for i, c := range claims {
		if i == maxClaimsShown {
			fmt.Fprintf(tw, "... %d more\t\n", len(claims)-i)
			break
		}
		fmt.Fprintf(tw, "%s\t%s\n", printable(c.Job), printable(c.Node))
	}
	_ = tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// withCluster runs f with a client of the cluster's etcd (retry and
// forget act cluster-wide through it).
func withCluster(ctx context.Context, cfg *config.Config, getenv func(string) string, f func(context.Context, *clientv3.Client, string) error) error {
	cc, err := app.ClusterConfig(cfg, getenv, nil)
	if err != nil {
		return err
	}
	cli, err := cluster.Dial(cc)
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(ctx, cc.DialTimeout+10*time.Second)
	defer cancel()
	return f(ctx, cli, cc.Prefix)
}
