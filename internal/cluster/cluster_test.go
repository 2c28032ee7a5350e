package cluster

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/cluster/etcdtest"
)

const testTTL = 2 * time.Second

// stops holds each test node's way to stop its Run loop.
var stops sync.Map // *Node -> func()

func join(t *testing.T, ctx context.Context, ep, name string) *Node {
	t.Helper()
	return joinTTL(t, ctx, ep, name, testTTL)
}

func joinTTL(t *testing.T, ctx context.Context, ep, name string, ttl time.Duration) *Node {
	t.Helper()
	n, err := Join(ctx, Config{Endpoints: []string{ep}, Node: name, LeaseTTL: ttl, Prefix: "/test/" + t.Name()})
	if err != nil {
		t.Fatalf("join %s: %v", name, err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = n.Run(rctx) }()
	stop := sync.OnceFunc(func() { cancel(); <-done })
	stops.Store(n, stop)
	t.Cleanup(func() { stop(); n.Close() })
	return n
}

// kill freezes a node as a crash or SIGSTOP does: its loop stops and its
// lease is no longer kept alive, but it still believes it holds it.
func kill(n *Node) {
	if stop, ok := stops.Load(n); ok {
		stop.(func())()
	}
	n.mu.Lock()
	stop := n.stopKA
	n.stopKA = nil
	n.mu.Unlock()
	stop()
}

func TestClaimsAndDoneRegistry(t *testing.T) {
	etcd := etcdtest.Start(t)
	ctx := t.Context()
	// A lease long enough that its time left, in whole seconds, is never
	// 0 on a loaded machine.
	a := joinTTL(t, ctx, etcd.Endpoint(), "a", 10*time.Second)
	b := joinTTL(t, ctx, etcd.Endpoint(), "b", 10*time.Second)

	steps := []struct {
		name string
		run  func() (Outcome, error)
		want Outcome
	}{
		{"a claims j1", func() (Outcome, error) { c, err := a.Claim(ctx, "j1"); return c.Outcome, err }, Acquired},
		{"b finds j1 held", func() (Outcome, error) { c, err := b.Claim(ctx, "j1"); return c.Outcome, err }, Elsewhere},
		{"a claims j1 again", func() (Outcome, error) { c, err := a.Claim(ctx, "j1"); return c.Outcome, err }, Acquired},
		{"b claims j2", func() (Outcome, error) { c, err := b.Claim(ctx, "j2"); return c.Outcome, err }, Acquired},
		{"a finds j2 held", func() (Outcome, error) { c, err := a.Claim(ctx, "j2"); return c.Outcome, err }, Elsewhere},
	}
	for _, s := range steps {
		got, err := s.run()
		if err != nil || got != s.want {
			t.Fatalf("%s: got %v, %v; want %v", s.name, got, err, s.want)
		}
	}
	if err := b.Confirm(ctx, "j1"); !errors.Is(err, ErrNotHolder) {
		t.Fatalf("b confirms a's claim: %v, want ErrNotHolder", err)
	}
	if err := a.Confirm(ctx, "j1"); err != nil {
		t.Fatalf("a confirms its claim: %v", err)
	}
	rec, err := a.RecordDone(ctx, "j1", DoneRecord{FileID: "f-a"})
	if err != nil || rec.FileID != "f-a" || rec.Node != "a" {
		t.Fatalf("a records j1: %+v, %v", rec, err)
	}
	// A second commit for the same job (a duplicate) loses: the first holds.
	rec, err = b.RecordDone(ctx, "j1", DoneRecord{FileID: "f-b"})
	if err != nil || rec.FileID != "f-a" {
		t.Fatalf("b records a duplicate: %+v, %v; want f-a to hold", rec, err)
	}
	if err := a.FinishPost(ctx, "j1"); err != nil {
		t.Fatalf("a finishes the post-action: %v", err)
	}
	c, err := b.Claim(ctx, "j1")
	if err != nil || c.Outcome != Done || c.Record == nil || c.Record.FileID != "f-a" || !c.Record.PostDone {
		t.Fatalf("b claims a done job: %+v, %v", c, err)
	}
	v, err := a.Inspect(ctx)
	if err != nil || len(v.Nodes) != 2 || v.Done != 1 || len(v.Claims) != 1 || v.Claims[0] != (JobClaim{Job: "j2", Node: "b"}) {
		t.Fatalf("view: %+v, %v", v, err)
	}
	for _, nd := range v.Nodes {
		if nd.TTLLeft <= 0 || nd.Lease == "" {
			t.Fatalf("node %+v: no live lease shown", nd)
		}
	}
}

// A done job whose post-action has not run is handed to the next claimer
// with its record, so that node runs the post-action.
func TestPostActionLeftToTheNextHolder(t *testing.T) {
	etcd := etcdtest.Start(t)
	ctx := t.Context()
	a := join(t, ctx, etcd.Endpoint(), "a")
	b := join(t, ctx, etcd.Endpoint(), "b")
	if c, err := a.Claim(ctx, "j"); err != nil || c.Outcome != Acquired {
		t.Fatalf("claim: %+v %v", c, err)
	}
	if _, err := a.RecordDone(ctx, "j", DoneRecord{FileID: "f"}); err != nil {
		t.Fatal(err)
	}
	a.Release(ctx, "j")
	c, err := b.Claim(ctx, "j")
	if err != nil || c.Outcome != Acquired || c.Record == nil || c.Record.FileID != "f" || c.Record.PostDone {
		t.Fatalf("b claims: %+v, %v; want acquired with the record", c, err)
	}
}

// A dead node's claims expire with its lease; the next claimer learns that
// the dead node may have committed, and the dead node can never confirm.
func TestTakeoverAfterLeaseExpiry(t *testing.T) {
	etcd := etcdtest.Start(t)
	ctx := t.Context()
	a := join(t, ctx, etcd.Endpoint(), "a")
	b := join(t, ctx, etcd.Endpoint(), "b")
	if _, err := a.Claim(ctx, "j"); err != nil {
		t.Fatal(err)
	}
	if err := a.Confirm(ctx, "j"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for !b.HeldElsewhere("j") {
		if time.Now().After(deadline) {
			t.Fatal("b's claim cache never saw a's claim")
		}
		time.Sleep(20 * time.Millisecond)
	}
	holder, _ := a.holder()
	killed := time.Now()
	kill(a)
	select {
	case <-waitChanged(b, "j"):
	case <-time.After(testTTL + 5*time.Second):
		t.Fatal("a's claim did not expire within the lease TTL")
	}
	took := time.Since(killed)
	c, err := b.Claim(ctx, "j")
	if err != nil || c.Outcome != Acquired || c.Started == nil || c.Started.Holder != holder {
		t.Fatalf("b's takeover claim: %+v, %v; want acquired, started by %s", c, err, holder)
	}
	t.Logf("claim released %s after the holder died (lease TTL %s)", took.Round(time.Millisecond), testTTL)
	// The frozen node, resumed, still believes in its lease: etcd refuses
	// its confirmation, so it never commits.
	if err := a.Confirm(ctx, "j"); !errors.Is(err, ErrNotHolder) {
		t.Fatalf("resumed node confirms: %v, want ErrNotHolder", err)
	}
}

func waitChanged(n *Node, job string) <-chan struct{} {
	out := make(chan struct{})
	go func() {
		for n.HeldElsewhere(job) {
			<-n.Changed()
		}
		close(out)
	}()
	return out
}

// A node whose lease is lost registers again with a new lease; its old
// claims no longer confirm, and it may claim again.
func TestLeaseLostAndRegisteredAgain(t *testing.T) {
	etcd := etcdtest.Start(t)
	ctx := t.Context()
	a := join(t, ctx, etcd.Endpoint(), "a")
	if _, err := a.Claim(ctx, "j"); err != nil {
		t.Fatal(err)
	}
	_, old := a.holder()
	if _, err := a.cli.Revoke(ctx, old); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(testTTL + 5*time.Second)
	for {
		if _, l := a.holder(); l != 0 && l != old {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the node did not register again after losing its lease")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := a.Confirm(ctx, "j"); !errors.Is(err, ErrNotHolder) {
		t.Fatalf("confirm under the new lease: %v, want ErrNotHolder", err)
	}
	if c, err := a.Claim(ctx, "j"); err != nil || c.Outcome != Acquired {
		t.Fatalf("claim again: %+v %v", c, err)
	}
}

// A second node of the same name waits until the first's lease expires.
func TestSameNameWaitsForTheOldLease(t *testing.T) {
	etcd := etcdtest.Start(t)
	ctx := t.Context()
	a := join(t, ctx, etcd.Endpoint(), "a")
	kill(a)
	start := time.Now()
	join(t, ctx, etcd.Endpoint(), "a")
	if waited := time.Since(start); waited < testTTL/2 {
		t.Fatalf("joined after %s, before the old registration (TTL %s) could expire", waited, testTTL)
	}
}

func TestRetryReachesTheHolder(t *testing.T) {
	etcd := etcdtest.Start(t)
	ctx := t.Context()
	a := join(t, ctx, etcd.Endpoint(), "a")
	if _, err := a.Claim(ctx, "j"); err != nil {
		t.Fatal(err)
	}
	unheld, err := RequestRetry(ctx, a.Client(), a.cfg.Prefix, []string{"j", "nobody"})
	if err != nil || len(unheld) != 1 || unheld[0] != "nobody" {
		t.Fatalf("request: unheld %v, %v", unheld, err)
	}
	select {
	case job := <-a.Retries():
		if job != "j" {
			t.Fatalf("retry delivered for %q", job)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the holder never got the retry")
	}
	if err := Forget(ctx, a.Client(), a.cfg.Prefix, []string{"j"}); err != nil {
		t.Fatal(err)
	}
}

func TestConfigRefused(t *testing.T) {
	for _, c := range []Config{
		{Node: "a", LeaseTTL: testTTL},
		{Endpoints: []string{"x:1"}, Node: "a/b", LeaseTTL: testTTL},
		{Endpoints: []string{"x:1"}, Node: "", LeaseTTL: testTTL},
		{Endpoints: []string{"x:1"}, Node: "a", LeaseTTL: time.Second},
	} {
		if _, err := Join(t.Context(), c); err == nil {
			t.Fatalf("Join(%+v) accepted", c)
		}
	}
}
