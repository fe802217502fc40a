package cluster_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/meshcdn/meshcdn/cluster"
	"github.com/meshcdn/meshcdn/cluster/clustertest"
	"github.com/meshcdn/meshcdn/store"
)

// A node that has not received a purge another node applied does not
// cover the other's Applied vector; WaitApplied returns true once the
// purge arrives (here: once the partition heals), false on timeout.
func TestAppliedCoversAndWait(t *testing.T) {
	f := clustertest.NewFaults()
	c := startCluster(t, clustertest.Options{Nodes: 3, Faults: f})
	a, b := c.Node(0), c.Node(1)
	if !b.Covers(a.Applied()) {
		t.Fatal("nothing purged yet: b must cover a")
	}
	f.Partition([]string{a.Name()}, []string{b.Name()})
	if _, err := a.Purge(context.Background(), store.Purge{Keys: []string{"k"}}, false); err != nil {
		t.Fatal(err)
	}
	v := a.Applied()
	if len(v.Entries) != 1 || v.Entries[0].Origin != a.Name() || v.Entries[0].Seq != 1 || v.Entries[0].Time == 0 {
		t.Fatalf("a's vector after one purge: %+v", v)
	}
	if b.Covers(v) {
		t.Fatal("b covers a purge it cannot have received")
	}
	if b.WaitApplied(context.Background(), v, 50*time.Millisecond) {
		t.Fatal("WaitApplied true while partitioned")
	}
	done := make(chan bool, 1)
	go func() { done <- b.WaitApplied(context.Background(), v, within) }()
	time.Sleep(20 * time.Millisecond)
	f.Heal()
	if !<-done {
		t.Fatal("WaitApplied false after the partition healed")
	}
	if !b.Covers(v) {
		t.Fatal("Covers false after WaitApplied")
	}
	// A cancelled wait returns at once.
	if _, err := a.Purge(context.Background(), store.Purge{Keys: []string{"k2"}}, false); err != nil {
		t.Fatal(err)
	}
	f.Partition([]string{a.Name()}, []string{b.Name()})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if b.WaitApplied(ctx, cluster.Applied{Entries: []cluster.AppliedEntry{{Origin: a.Name(), Epoch: v.Entries[0].Epoch, Seq: 99, Time: time.Now().UnixNano()}}}, within) {
		t.Fatal("WaitApplied true for a cancelled context and an unknown seq")
	}
}

// A purge stream whose purges are all older than a node's boot (minus the
// skew margin) cannot concern its cache: a restarted node covers it
// without having applied it.
func TestAppliedOlderThanBootIsCovered(t *testing.T) {
	c := startCluster(t, clustertest.Options{Nodes: 2})
	old := cluster.Applied{Entries: []cluster.AppliedEntry{{Origin: "gone", Epoch: 1, Seq: 5, Time: time.Now().Add(-time.Hour).UnixNano()}}}
	if !c.Node(0).Covers(old) {
		t.Fatal("a stream older than the node's floor must be covered")
	}
	recent := cluster.Applied{Entries: []cluster.AppliedEntry{{Origin: "gone", Epoch: 1, Seq: 5, Time: time.Now().UnixNano()}}}
	if c.Node(0).Covers(recent) {
		t.Fatal("a recent stream the node never saw must not be covered")
	}
}

func TestAppliedEncoding(t *testing.T) {
	v := cluster.Applied{Entries: []cluster.AppliedEntry{
		{Origin: "node-a", Epoch: 1 << 60, Seq: 7, Time: 123},
		{Origin: "nœud b", Epoch: 2, Seq: 1 << 40, Time: time.Now().UnixNano()},
	}}
	got, err := cluster.ParseApplied(v.String())
	if err != nil || !reflect.DeepEqual(got, v) {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	if got, err := cluster.ParseApplied(""); err != nil || len(got.Entries) != 0 {
		t.Fatalf("empty: %+v %v", got, err)
	}
	for _, bad := range []string{"!!", "AA", "AQ", v.String() + "AA", "AgZub2RlLWGAgICAgICAgBAHew"} {
		if _, err := cluster.ParseApplied(bad); err == nil {
			t.Errorf("ParseApplied(%q) accepted", bad)
		}
	}
}

func FuzzParseApplied(f *testing.F) {
	f.Add(cluster.Applied{Entries: []cluster.AppliedEntry{{Origin: "a", Epoch: 1, Seq: 2, Time: 3}}}.String())
	f.Add("")
	f.Add("AQFhAQID")
	f.Fuzz(func(t *testing.T, s string) {
		v, err := cluster.ParseApplied(s)
		if err != nil {
			return
		}
		if len(v.Entries) > cluster.MaxAppliedEntries {
			t.Fatalf("%d entries", len(v.Entries))
		}
		again, err := cluster.ParseApplied(v.String())
		if err != nil || !reflect.DeepEqual(again, v) {
			t.Fatalf("re-encoding %q: %+v %v", s, again, err)
		}
	})
}
