package cluster_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshcdn/meshcdn/cluster"
	"github.com/meshcdn/meshcdn/cluster/clustertest"
	"github.com/meshcdn/meshcdn/store"
)

// TestPurgeHistory: the accepting node records the purge it accepted
// under the ID its answer gave; every other node records that it applied
// it, with the origin's stamp, so the entries can be matched across nodes.
func TestPurgeHistory(t *testing.T) {
	regs := []*prometheus.Registry{prometheus.NewRegistry(), prometheus.NewRegistry(), prometheus.NewRegistry()}
	c := startCluster(t, clustertest.Options{Nodes: 3, Registerer: func(i int) prometheus.Registerer { return regs[i] }})
	res, err := c.Node(0).Purge(ctxFor(t, within), store.Purge{Keys: []string{"a", "b"}, Soft: true}, true)
	if err != nil || !res.Complete {
		t.Fatalf("purge: %+v %v", res, err)
	}
	h0 := c.Node(0).PurgeHistory()
	if len(h0.Accepted) != 1 || len(h0.Applied) != 0 {
		t.Fatalf("node 0 history: %+v", h0)
	}
	acc := h0.Accepted[0]
	if acc.ID != res.ID || acc.Kind != "key" || acc.Count != 2 || !acc.Soft || acc.Stamp.IsZero() || acc.At.Before(acc.Stamp) {
		t.Fatalf("accepted record: %+v (result %s)", acc, res.ID)
	}
	for _, i := range []int{1, 2} {
		h := c.Node(i).PurgeHistory()
		if len(h.Accepted) != 0 || len(h.Applied) != 1 {
			t.Fatalf("node %d history: %+v", i, h)
		}
		ap := h.Applied[0]
		if ap.Origin != c.Node(0).Name() || ap.Seq != acc.Seq || !ap.Stamp.Equal(acc.Stamp) || ap.Kind != "key" || ap.At.IsZero() {
			t.Fatalf("node %d applied record %+v, accepted %+v", i, ap, acc)
		}
	}
	// The receivers observed the propagation time; the origin did not.
	for i, want := range []uint64{0, 1, 1} {
		if n := histogramCount(t, regs[i], "meshcdn_cluster_purge_propagation_seconds"); n != want {
			t.Errorf("node %d: %d propagation observations, want %d", i, n, want)
		}
	}
}

func histogramCount(t *testing.T, g prometheus.Gatherer, name string) uint64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// TestPurgeHistoryBounded: the ring keeps the last HistorySize purges,
// oldest first.
func TestPurgeHistoryBounded(t *testing.T) {
	c := startCluster(t, clustertest.Options{Nodes: 1})
	n := cluster.HistorySize + 10
	for i := 0; i < n; i++ {
		if _, err := c.Node(0).Purge(ctxFor(t, within), store.Purge{URLs: []string{"h/x"}}, false); err != nil {
			t.Fatal(err)
		}
	}
	h := c.Node(0).PurgeHistory()
	if len(h.Accepted) != cluster.HistorySize {
		t.Fatalf("%d records, want %d", len(h.Accepted), cluster.HistorySize)
	}
	for i, r := range h.Accepted {
		if want := uint64(n - cluster.HistorySize + 1 + i); r.Seq != want || r.Kind != "url" {
			t.Fatalf("record %d: %+v, want seq %d", i, r, want)
		}
	}
}
