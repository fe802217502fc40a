package cluster_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/meshcdn/meshcdn/cluster"
	"github.com/meshcdn/meshcdn/cluster/clustertest"
	"github.com/meshcdn/meshcdn/store"
)

// within: generous deadlines so that a slow -race run on a busy machine
// does not fail; the speed itself is measured by the benchmarks.
const within = 30 * time.Second

func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func startCluster(t testing.TB, opts clustertest.Options) *clustertest.Cluster {
	t.Helper()
	c, err := clustertest.Start(ctxFor(t, within), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// put stores an object tagged with key under url on node i.
func put(t testing.TB, st *store.Store, url, key string) {
	t.Helper()
	now := time.Now()
	o := &store.Object{Primary: url, Status: 200, Header: http.Header{}, Body: []byte("x"), Keys: []string{key},
		RequestTime: now, ResponseTime: now, Lifetime: time.Hour}
	if err := st.Insert(o, st.Fence()); err != nil {
		t.Fatal(err)
	}
}

func present(st *store.Store, url string) bool {
	_, found := st.Lookup(url, func([]string) string { return "" })
	return found
}

// waitGone waits until url is gone from every running node's store.
func waitGone(t testing.TB, c *clustertest.Cluster, url string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var left []string
		for _, i := range c.Running() {
			if present(c.Store(i), url) {
				left = append(left, clustertest.NodeName(i))
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still cached on %v", url, left)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPurgeReachesEveryNode(t *testing.T) {
	for _, n := range []int{3, 10, 30} {
		t.Run(fmt.Sprintf("nodes=%d", n), func(t *testing.T) {
			if n == 30 && testing.Short() {
				t.Skip("30 nodes: skipped with -short")
			}
			c := startCluster(t, clustertest.Options{Nodes: n})
			for round := 0; round < 3; round++ {
				url := fmt.Sprintf("example.com/obj/%d", round)
				key := fmt.Sprintf("key-%d", round)
				for i := range n {
					put(t, c.Store(i), url, key)
				}
				from := rand.IntN(n)
				res, err := c.Node(from).Purge(ctxFor(t, within), store.Purge{Keys: []string{key}}, true)
				if err != nil {
					t.Fatal(err)
				}
				if !res.Complete || len(res.Acked) != n-1 || len(res.Pending) != 0 || res.Local != 1 {
					t.Fatalf("purge via %s: %+v", clustertest.NodeName(from), res)
				}
				// Acked means applied: nothing may be left anywhere now.
				for i := range n {
					if present(c.Store(i), url) {
						t.Fatalf("%s still cached on %s after a complete purge", url, clustertest.NodeName(i))
					}
				}
			}
		})
	}
}

var _ = sync.Mutex{}
var _ = cluster.ErrClosed
