package cluster_test

import (
	"fmt"
	"testing"

	"github.com/meshcdn/meshcdn/cluster"
	"github.com/meshcdn/meshcdn/cluster/clustertest"
	"github.com/meshcdn/meshcdn/store"
)

// dissemCluster starts n nodes in regions of three (node i in region
// i/3) that first send purges as d says.
func dissemCluster(t *testing.T, n int, d cluster.Dissemination, relays int, f *clustertest.Faults, tr *tracker) *clustertest.Cluster {
	t.Helper()
	return startCluster(t, clustertest.Options{Nodes: n, Faults: f, Observe: tr.observe,
		Region: func(i int) string { return fmt.Sprintf("r%d", i/3) },
		Configure: func(_ int, cfg *cluster.Config) {
			cfg.Dissemination, cfg.RelaysPerRegion = d, relays
		}})
}

func all(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// purgeAll purges key from node from, waiting for every acknowledgement,
// and checks that it completed and that every node applied it.
func purgeAll(t *testing.T, c *clustertest.Cluster, tr *tracker, from int, key string) {
	t.Helper()
	res, err := c.Node(from).Purge(ctxFor(t, within), store.Purge{Keys: []string{key}}, true)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Complete || len(res.Acked) != c.Len()-1 {
		t.Fatalf("purge %s via %s: %+v", key, clustertest.NodeName(from), res)
	}
	if miss := tr.missing(all(c.Len()), []string{key}); len(miss) != 0 {
		t.Fatalf("purge %s complete but not applied on %v", key, miss)
	}
}

// Relay: the origin sends once per region, one relay per region passes it
// on; every node applies it and wait=all completes.
func TestRelayReachesEveryNode(t *testing.T) {
	tr := newTracker()
	c := dissemCluster(t, 9, cluster.Relay, 1, nil, tr)
	for k, from := range []int{0, 4, 8} {
		before := relayed(c)
		purgeAll(t, c, tr, from, fmt.Sprintf("relay-%d", k))
		if got := relayed(c) - before; got != 3 {
			t.Fatalf("purge %d: %d relay messages passed on, want one per region (3)", k, got)
		}
	}
}

func relayed(c *clustertest.Cluster) uint64 {
	var s uint64
	for _, i := range c.Running() {
		s += c.Node(i).Stats().Relayed
	}
	return s
}

// Relay: a relay that cannot pass the purge on (its links to the rest of
// its region are cut) is repaired by the origin's retransmissions: every
// node still applies it and wait=all completes.
func TestRelayFailureRepaired(t *testing.T) {
	f := clustertest.NewFaults()
	tr := newTracker()
	c := dissemCluster(t, 6, cluster.Relay, 1, f, tr)
	region1 := []string{clustertest.NodeName(3), clustertest.NodeName(4), clustertest.NodeName(5)}
	for _, a := range region1 {
		for _, b := range region1 {
			if a != b {
				f.Block(a, b)
			}
		}
	}
	retx := c.Node(0).Stats().Retransmitted
	purgeAll(t, c, tr, 0, "relay-cut")
	// Two members behind the cut relay: the origin's gossip copy may
	// reach one of them, retransmission the rest.
	if c.Node(0).Stats().Retransmitted-retx < 1 {
		t.Fatalf("the members behind the cut relay were not repaired by retransmission: %+v", c.Node(0).Stats())
	}
}

// Gossip: the origin sends nothing directly at first; the purge spreads
// over gossip, every node applies it and wait=all completes.
func TestGossipReachesEveryNode(t *testing.T) {
	tr := newTracker()
	c := dissemCluster(t, 6, cluster.Gossip, 0, nil, tr)
	for k, from := range []int{0, 5} {
		purgeAll(t, c, tr, from, fmt.Sprintf("gossip-%d", k))
	}
	for _, i := range []int{0, 5} {
		if st := c.Node(i).Stats(); st.Sent != st.Retransmitted {
			t.Fatalf("node %d sent %d entries directly beyond %d retransmissions under gossip dissemination", i, st.Sent, st.Retransmitted)
		}
	}
}

// An unknown dissemination is a configuration error.
func TestDisseminationUnknown(t *testing.T) {
	_, err := cluster.Start(cluster.Config{NodeName: "x", BindAddr: "127.0.0.1", Dissemination: "carrier-pigeon"}, store.New(store.Config{}))
	if err == nil {
		t.Fatal("unknown dissemination accepted")
	}
}
