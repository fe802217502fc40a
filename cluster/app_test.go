package cluster_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/meshcdn/meshcdn/cluster"
	"github.com/meshcdn/meshcdn/cluster/clustertest"
)

// TestAppMessages: an application message reaches the handler of its kind
// on the named member, over the encrypted TCP channel; an unknown kind is
// counted and dropped; oversized bodies and unknown members are refused.
func TestAppMessages(t *testing.T) {
	c := startCluster(t, clustertest.Options{Nodes: 2, Keys: [][]byte{bytes.Repeat([]byte{3}, 32)}})
	a, b := c.Node(0), c.Node(1)
	if !a.Encrypted() {
		t.Fatal("a cluster with keys says it is not encrypted")
	}
	got := make(chan [2]string, 1)
	b.Handle('x', func(from string, body []byte) { got <- [2]string{from, string(body)} })
	body := bytes.Repeat([]byte("z"), 100<<10) // larger than a packet
	if err := a.SendApp(b.Name(), 'x', body); err != nil {
		t.Fatal(err)
	}
	select {
	case g := <-got:
		if g[0] != a.Name() || g[1] != string(body) {
			t.Errorf("from %q, %d bytes", g[0], len(g[1]))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the message did not arrive")
	}
	if err := a.SendApp(b.Name(), 'y', []byte("nobody")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for b.Stats().Errors["app_kind"] == 0 {
		if time.Now().After(deadline) {
			t.Fatal("a message of an unhandled kind was not counted")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := a.SendApp(b.Name(), 'x', make([]byte, cluster.MaxAppBody+1)); err == nil {
		t.Error("an oversized body was sent")
	}
	if err := a.SendApp("nobody", 'x', nil); !errors.Is(err, cluster.ErrNoMember) {
		t.Errorf("to an unknown member: %v", err)
	}
}
