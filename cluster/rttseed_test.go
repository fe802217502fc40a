package cluster_test

import (
	"testing"
	"time"

	"github.com/meshcdn/meshcdn/cluster/clustertest"
	"github.com/meshcdn/meshcdn/store"
)

// A node's first purge to a peer farther away than RetransmitMin is not
// sent twice: before any acknowledgement, the retransmission timeout comes
// from memberlist's ping round trip to that peer, not from RetransmitMin.
func TestFirstPurgeToFarPeerNotRetransmitted(t *testing.T) {
	f := clustertest.NewFaults()
	c := startCluster(t, clustertest.Options{Nodes: 2, Faults: f})
	f.SetDelay(60*time.Millisecond, 70*time.Millisecond) // one way: a round trip of 120–140 ms
	time.Sleep(3 * time.Second)                          // several probes each way measure it
	res, err := c.Node(0).Purge(ctxFor(t, within), store.Purge{Keys: []string{"far"}}, true)
	if err != nil || !res.Complete {
		t.Fatalf("%+v %v", res, err)
	}
	if st := c.Node(0).Stats(); st.Retransmitted != 0 {
		t.Fatalf("the first purge to a peer 120–140 ms away was retransmitted %d times before its acknowledgement arrived", st.Retransmitted)
	}
}
