package cluster_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/meshcdn/meshcdn/cluster"
	"github.com/meshcdn/meshcdn/cluster/clustertest"
)

// Node.Owner is rendezvous hashing over the alive members (optionally of
// one region); when the owner of some keys fails, only those keys move,
// each to the member ranked next, and every node agrees.
func TestOwnerMovesOnlyTheFailedNodesKeys(t *testing.T) {
	c := startCluster(t, clustertest.Options{Nodes: 4, Region: func(i int) string { return fmt.Sprintf("r%d", i%2) }})
	keys := make([]string, 200)
	for i := range keys {
		keys[i] = fmt.Sprintf("example.com/obj/%d", i)
	}
	owners := map[string]string{}
	for _, k := range keys {
		var first string
		for i := range 4 {
			m, ok := c.Node(i).Owner(k, "")
			if !ok {
				t.Fatal("no owner")
			}
			if i == 0 {
				first = m.Name
			} else if m.Name != first {
				t.Fatalf("%s: node %d says %s, node 0 says %s", k, i, m.Name, first)
			}
		}
		owners[k] = first
		if m, _ := c.Node(0).Owner(k, "r1"); m.Region != "r1" {
			t.Fatalf("%s: owner in r1 is %+v", k, m)
		}
	}
	victim := 3
	if err := c.Kill(victim); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitState(ctxFor(t, within), 0, victim, "dead"); err != nil {
		t.Fatal(err)
	}
	names := c.Names()
	moved := 0
	for _, k := range keys {
		m, _ := c.Node(0).Owner(k, "")
		if owners[k] != clustertest.NodeName(victim) {
			if m.Name != owners[k] {
				t.Fatalf("%s moved from %s to %s although its owner is alive", k, owners[k], m.Name)
			}
			continue
		}
		moved++
		r := cluster.Ranked(k, names, 2)
		if want := names[r[1]]; m.Name != want {
			t.Fatalf("%s: new owner %s, want the next ranked %s", k, m.Name, want)
		}
	}
	if moved == 0 {
		t.Fatal("the failed node owned none of 200 keys")
	}
}

func TestPeerSecrets(t *testing.T) {
	k1, k2 := key(1), key(2)
	a, b := cluster.DerivePeerSecrets([][]byte{k1, k2}), cluster.DerivePeerSecrets([][]byte{k1})
	if len(a) != 2 || len(a[0]) != 32 || !bytes.Equal(a[0], b[0]) || bytes.Equal(a[0], a[1]) || bytes.Equal(a[0], k1[:32]) {
		t.Fatalf("derived secrets: %x", a)
	}
	c := startCluster(t, clustertest.Options{Nodes: 1, Keys: [][]byte{k1}})
	v := c.Node(0).ShieldView([]byte("configured-secret-0123"))
	s := v.Secrets()
	if len(s) != 2 || string(s[0]) != "configured-secret-0123" || !bytes.Equal(s[1], a[0]) {
		t.Fatalf("ShieldView secrets: %q", s)
	}
	if name, _, self, ok := v.Owner("k", ""); !ok || !self || name != c.Node(0).Name() {
		t.Fatalf("alone: owner %s self %v ok %v", name, self, ok)
	}
}
