package cluster_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/meshcdn/meshcdn/cluster"
	"github.com/meshcdn/meshcdn/cluster/clustertest"
	"github.com/meshcdn/meshcdn/store"
)

// TestForceLeaveFailedMember: a member that crashed keeps every wait=all
// purge incomplete; once the operator forces it out on one node, every
// node counts it as left and purges are complete again. Live members,
// unknown names and the node itself cannot be forced out.
func TestForceLeaveFailedMember(t *testing.T) {
	c := startCluster(t, clustertest.Options{Nodes: 4})
	gone := clustertest.NodeName(3)

	if err := c.Node(0).ForceLeave(clustertest.NodeName(1)); !errors.Is(err, cluster.ErrMemberAlive) {
		t.Fatalf("force-leave of a live member: %v, want ErrMemberAlive", err)
	}
	if err := c.Node(0).ForceLeave("no-such-node"); !errors.Is(err, cluster.ErrUnknownMember) {
		t.Fatalf("force-leave of an unknown member: %v", err)
	}
	if err := c.Node(0).ForceLeave(clustertest.NodeName(0)); !errors.Is(err, cluster.ErrSelf) {
		t.Fatalf("force-leave of self: %v", err)
	}

	if err := c.Kill(3); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 1, 2} {
		if err := c.WaitState(ctxFor(t, within), i, 3, "dead"); err != nil {
			t.Fatal(err)
		}
	}
	res, err := c.Node(1).Purge(ctxFor(t, within), store.Purge{Keys: []string{"a"}}, true)
	if err != nil || res.Complete || !slices.Equal(res.Unreachable, []string{gone}) {
		t.Fatalf("wait=all with %s crashed: %+v %v", gone, res, err)
	}

	if err := c.Node(0).ForceLeave(gone); err != nil {
		t.Fatal(err)
	}
	// The message reaches the other nodes: their purges are complete too.
	for _, i := range []int{0, 1, 2} {
		if err := c.WaitState(ctxFor(t, within), i, 3, "left"); err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
	}
	for _, i := range []int{0, 1, 2} {
		res, err := c.Node(i).Purge(ctxFor(t, within), store.Purge{Keys: []string{"b"}}, true)
		if err != nil || !res.Complete || len(res.Unreachable) != 0 || len(res.Acked) != 2 {
			t.Fatalf("node %d after force-leave: %+v %v", i, res, err)
		}
	}
	// Forcing out a member that already left is not an error.
	if err := c.Node(2).ForceLeave(gone); err != nil {
		t.Fatalf("second force-leave: %v", err)
	}
}
