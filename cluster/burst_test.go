package cluster_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/meshcdn/meshcdn/cluster"
	"github.com/meshcdn/meshcdn/cluster/clustertest"
	"github.com/meshcdn/meshcdn/store"
)

// A purge that one live member has not acknowledged yet stays with its
// origin, however many purges pass through meanwhile: a burst must not
// push it out of the origin's retained log, or the member that missed one
// packet ends up dropping its whole cache although the origin was alive
// and reachable again a moment later.
//
// node-00's packets to node-02 are cut while node-00 accepts one purge and
// then a burst of purges is accepted, by node-01 (far more than the
// retained log holds: every one reaches node-00 and node-02) or by node-00
// itself (more than the log's soft bound). Anti-entropy replays are
// disabled (ReplayAfter: 1 h), so the first purge can only reach node-02
// through node-00's retransmission once the link is back.
func TestBurstKeepsUnacknowledgedPurges(t *testing.T) {
	const retain = 64
	for _, tc := range []struct {
		name  string
		from  int
		count int
	}{
		{"burst from another node", 1, 4 * retain},
		{"burst from the origin", 0, retain + retain/2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := clustertest.NewFaults()
			tr := newTracker()
			c := startCluster(t, clustertest.Options{Nodes: 3, Faults: f, Observe: tr.observe, RetainLog: retain,
				Timing: cluster.Timing{ReplayAfter: time.Hour}})
			const late = 2
			put(t, c.Store(late), "example.com/purged", "burst-target")
			put(t, c.Store(late), "example.com/unrelated", "unrelated")

			f.Block(clustertest.NodeName(0), clustertest.NodeName(late))
			if _, err := c.Node(0).Purge(context.Background(), store.Purge{Keys: []string{"burst-target"}}, false); err != nil {
				t.Fatal(err)
			}
			burst := make([]string, tc.count)
			for i := range burst {
				burst[i] = fmt.Sprintf("burst-%d", i)
				if _, err := c.Node(tc.from).Purge(context.Background(), store.Purge{Keys: []string{burst[i]}}, false); err != nil {
					t.Fatal(err)
				}
			}
			tr.waitAll(t, []int{0, 1}, burst, within)
			if m := tr.missing([]int{late}, []string{"burst-target"}); m[late] != 1 {
				t.Fatal("the purge reached node-02 through the cut link")
			}
			f.Heal()

			// node-02 reaches node-00's last sequence (by applying, or by
			// a replay claim when node-00 no longer held the purges).
			own := uint64(1)
			if tc.from == 0 {
				own += uint64(tc.count)
			}
			deadline := time.Now().Add(within)
			for seqOf(c.Node(late), clustertest.NodeName(0)) < own {
				if time.Now().After(deadline) {
					t.Fatalf("node-02 never caught up with node-00: %+v", c.Node(late).Members())
				}
				time.Sleep(5 * time.Millisecond)
			}
			if g := c.Node(late).Stats().Gaps; g != 0 {
				t.Fatalf("node-02 dropped its cache (%d gaps): node-00 no longer held what it had not acknowledged", g)
			}
			if present(c.Store(late), "example.com/purged") || !present(c.Store(late), "example.com/unrelated") {
				t.Fatal("node-02 kept the purged object or lost one no purge concerned")
			}
			tr.waitAll(t, []int{late}, append(burst, "burst-target"), within)
		})
	}
}

// seqOf is the highest contiguous sequence of member's stream that n has.
func seqOf(n *cluster.Node, member string) uint64 {
	for _, m := range n.Members() {
		if m.Name == member {
			return m.Seq
		}
	}
	return 0
}

// A per-peer send queue that overflows defers what does not fit instead of
// dropping it: the flusher sends it from the origin's own log as the queue
// drains. Retransmission and anti-entropy replays are disabled (1 h), so a
// dropped entry would never arrive. One purge split into six entries is
// queued at once for each peer, whose queue holds four.
func TestFullSendQueueDefersNotDrops(t *testing.T) {
	restore := cluster.SetOutQueueEntries(4)
	t.Cleanup(restore) // after the cluster is closed (cleanups run last first)
	tr := newTracker()
	c := startCluster(t, clustertest.Options{Nodes: 3, Observe: tr.observe,
		Timing: cluster.Timing{RetransmitMin: time.Hour, RetransmitMax: time.Hour, ReplayAfter: time.Hour}})
	keys := make([]string, 6*cluster.MaxEntryKeys)
	var firsts []string // the tracker records each entry's first key
	for i := range keys {
		keys[i] = fmt.Sprintf("deferred-%d", i)
		if i%cluster.MaxEntryKeys == 0 {
			firsts = append(firsts, keys[i])
		}
	}
	if _, err := c.Node(0).Purge(context.Background(), store.Purge{Keys: keys}, false); err != nil {
		t.Fatal(err)
	}
	tr.waitAll(t, seq(3), firsts, within)
	if r := c.Node(0).Stats().Retransmitted; r != 0 {
		t.Fatalf("%d retransmissions with retransmission disabled", r)
	}
}

// A member that the origin wrongly declared dead for a moment (an
// overloaded machine, a short partition) is not dropped from the origin's
// retention at once: the purges it missed meanwhile stay in the origin's
// log (up to the hard bound) for Timing.DeadGossipTime, so when it is back
// it gets them instead of being told they are gone and dropping its cache.
func TestBriefDeathKeepsUnacknowledgedPurges(t *testing.T) {
	const retain = 64
	f := clustertest.NewFaults()
	tr := newTracker()
	c := startCluster(t, clustertest.Options{Nodes: 3, Faults: f, Observe: tr.observe, RetainLog: retain})
	const late = 2
	put(t, c.Store(late), "example.com/purged", "burst-target")
	put(t, c.Store(late), "example.com/unrelated", "unrelated")

	f.Isolate(clustertest.NodeName(late))
	if err := c.WaitState(ctxFor(t, within), 0, late, "dead"); err != nil {
		t.Fatal(err)
	}
	burst := []string{"burst-target"}
	for i := 0; i < retain+retain/2; i++ {
		burst = append(burst, fmt.Sprintf("burst-%d", i))
	}
	for _, k := range burst {
		if _, err := c.Node(0).Purge(context.Background(), store.Purge{Keys: []string{k}}, false); err != nil {
			t.Fatal(err)
		}
	}
	tr.waitAll(t, []int{1}, burst, within)
	f.Heal()
	if err := c.WaitConverged(ctxFor(t, within)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(within)
	for seqOf(c.Node(late), clustertest.NodeName(0)) < uint64(len(burst)) {
		if time.Now().After(deadline) {
			t.Fatalf("node-02 never caught up with node-00: %+v", c.Node(late).Members())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if g := c.Node(late).Stats().Gaps; g != 0 {
		t.Fatalf("node-02 dropped its cache (%d gaps) after a brief death", g)
	}
	tr.waitAll(t, []int{late}, burst, within)
	if present(c.Store(late), "example.com/purged") || !present(c.Store(late), "example.com/unrelated") {
		t.Fatal("node-02 kept the purged object or lost one no purge concerned")
	}
}
