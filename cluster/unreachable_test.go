package cluster_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/meshcdn/meshcdn/cluster/clustertest"
	"github.com/meshcdn/meshcdn/store"
)

// TestPurgeNamesUnreachableMember: a partitioned member (failed for the
// others, but running and serving what it cached) cannot get a purge. The
// answer names it as unreachable and is not complete, with or without
// waiting; once the partition heals it gets the purge and answers are
// complete again.
func TestPurgeNamesUnreachableMember(t *testing.T) {
	f := clustertest.NewFaults()
	c := startCluster(t, clustertest.Options{Nodes: 3, Faults: f})
	cut := clustertest.NodeName(2)
	put(t, c.Store(2), "example.com/old", "old")
	f.Isolate(cut)
	for _, i := range []int{0, 1} {
		if err := c.WaitState(ctxFor(t, within), i, 2, "dead"); err != nil {
			t.Fatal(err)
		}
	}

	res, err := c.Node(0).Purge(ctxFor(t, within), store.Purge{Keys: []string{"old"}}, true)
	if err != nil {
		t.Fatal(err)
	}
	if res.Complete || !slices.Equal(res.Unreachable, []string{cut}) || !slices.Equal(res.Acked, []string{clustertest.NodeName(1)}) || len(res.Pending) != 0 {
		t.Fatalf("wait=all with %s partitioned: %+v", cut, res)
	}
	if !present(c.Store(2), "example.com/old") {
		t.Fatal("the partitioned node applied a purge it cannot have received")
	}
	res, err = c.Node(1).Purge(context.Background(), store.Purge{Keys: []string{"other"}}, false)
	if err != nil || res.Complete || !slices.Equal(res.Unreachable, []string{cut}) {
		t.Fatalf("without waiting, %s partitioned: %+v %v", cut, res, err)
	}
	// The partitioned node sees the others as failed: its own purges are
	// not complete either.
	if err := c.WaitState(ctxFor(t, within), 2, 0, "dead"); err != nil {
		t.Fatal(err)
	}
	res, err = c.Node(2).Purge(ctxFor(t, within), store.Purge{Keys: []string{"inside"}}, true)
	if err != nil || res.Complete || len(res.Unreachable) != 2 {
		t.Fatalf("purge on the partitioned node: %+v %v", res, err)
	}

	f.Heal()
	if err := c.WaitConverged(ctxFor(t, within)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the missed purge to reach the healed node", func() bool { return !present(c.Store(2), "example.com/old") })
	res, err = c.Node(0).Purge(ctxFor(t, within), store.Purge{Keys: []string{"after"}}, true)
	if err != nil || !res.Complete || len(res.Unreachable) != 0 || len(res.Acked) != 2 {
		t.Fatalf("after healing: %+v %v", res, err)
	}
}

// TestPurgeLeftMemberNotWaitedFor: a member that left gracefully is not
// part of the cluster any more: neither pending nor unreachable.
func TestPurgeLeftMemberNotWaitedFor(t *testing.T) {
	c := startCluster(t, clustertest.Options{Nodes: 3})
	if err := c.Leave(2, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitState(ctxFor(t, within), 0, 2, "left"); err != nil {
		t.Fatal(err)
	}
	res, err := c.Node(0).Purge(ctxFor(t, within), store.Purge{Keys: []string{"k"}}, true)
	if err != nil || !res.Complete || len(res.Unreachable) != 0 || len(res.Acked) != 1 {
		t.Fatalf("%+v %v", res, err)
	}
}

// TestIsolated: a node that hears from no member that has not left is
// isolated once that lasts longer than the bound; a healthy one is not, nor
// is one whose peers all left (a cluster of one), whatever the bound.
func TestIsolated(t *testing.T) {
	f := clustertest.NewFaults()
	c := startCluster(t, clustertest.Options{Nodes: 3, Faults: f})
	if _, iso := c.Node(2).Isolated(within); iso {
		t.Fatal("healthy node isolated")
	}
	f.Isolate(clustertest.NodeName(2))
	waitFor(t, "isolation to be noticed", func() bool { _, iso := c.Node(2).Isolated(time.Second); return iso })
	if last, _ := c.Node(2).Isolated(time.Second); time.Since(last) <= time.Second {
		t.Fatalf("isolated, but last contact %v ago", time.Since(last))
	}
	f.Heal()
	waitFor(t, "the isolation to end", func() bool { _, iso := c.Node(2).Isolated(time.Second); return !iso })

	solo := startCluster(t, clustertest.Options{Nodes: 2})
	if err := solo.Leave(1, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := solo.WaitState(ctxFor(t, within), 0, 1, "left"); err != nil {
		t.Fatal(err)
	}
	if _, iso := solo.Node(0).Isolated(0); iso {
		t.Fatal("node whose peers left is isolated")
	}
}
