package cluster_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/meshcdn/meshcdn/cluster"
	"github.com/meshcdn/meshcdn/cluster/clustertest"
	"github.com/meshcdn/meshcdn/store"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
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

			// A killed node is detected by every other node; purges go on
			// without it; restarted, it rejoins and catches up with every
			// origin's sequence, and the next purge reaches it too.
			victim := rand.IntN(n)
			if err := c.Kill(victim); err != nil {
				t.Fatal(err)
			}
			for _, i := range c.Running() {
				if err := c.WaitState(ctxFor(t, within), i, victim, "dead"); err != nil {
					t.Fatal(err)
				}
			}
			from := (victim + 1 + rand.IntN(n-1)) % n
			// Failed, not left: named as unreachable, so not complete.
			res, err := c.Node(from).Purge(ctxFor(t, within), store.Purge{Keys: []string{"while-dead"}}, true)
			if err != nil || res.Complete || len(res.Acked) != n-2 || len(res.Unreachable) != 1 || res.Unreachable[0] != clustertest.NodeName(victim) {
				t.Fatalf("purge while %s is dead: %+v %v", clustertest.NodeName(victim), res, err)
			}
			if err := c.Restart(victim, nil); err != nil {
				t.Fatal(err)
			}
			if err := c.WaitConverged(ctxFor(t, within)); err != nil {
				t.Fatal(err)
			}
			put(t, c.Store(victim), "example.com/after-restart", "after-restart")
			res, err = c.Node(from).Purge(ctxFor(t, within), store.Purge{Keys: []string{"after-restart"}}, true)
			if err != nil || !res.Complete || len(res.Acked) != n-1 {
				t.Fatalf("purge after the restart: %+v %v", res, err)
			}
			if present(c.Store(victim), "example.com/after-restart") {
				t.Fatal("the restarted node did not apply a complete purge")
			}
			want := c.Node(from).Members()
			for _, m := range c.Node(victim).Members() {
				if m.Name == clustertest.NodeName(from) && m.Seq != want[from].Seq {
					t.Fatalf("restarted node at seq %d of %s, which is at %d", m.Seq, m.Name, want[from].Seq)
				}
			}
		})
	}
}

// tracker records which purge (identified by its first key) each node
// applied, and how many times.
type tracker struct {
	mu      sync.Mutex
	applied map[int]map[string]int
}

func newTracker() *tracker { return &tracker{applied: map[int]map[string]int{}} }

func (tr *tracker) observe(node int, p store.Purge) {
	if len(p.Keys) == 0 {
		return
	}
	tr.mu.Lock()
	m := tr.applied[node]
	if m == nil {
		m = map[string]int{}
		tr.applied[node] = m
	}
	m[p.Keys[0]]++
	tr.mu.Unlock()
}

// missing lists, per node, the keys not applied yet.
func (tr *tracker) missing(nodes []int, keys []string) map[int]int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	out := map[int]int{}
	for _, i := range nodes {
		for _, k := range keys {
			if tr.applied[i][k] == 0 {
				out[i]++
			}
		}
	}
	return out
}

// dupes counts purges applied more than once on a node.
func (tr *tracker) dupes() int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	n := 0
	for _, m := range tr.applied {
		for _, c := range m {
			if c > 1 {
				n++
			}
		}
	}
	return n
}

func (tr *tracker) waitAll(t testing.TB, nodes []int, keys []string, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		miss := tr.missing(nodes, keys)
		if len(miss) == 0 {
			return time.Since(start)
		}
		if time.Since(start) > d {
			t.Fatalf("after %v, purges not applied (node → count): %v", d, miss)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func TestMembershipMetadataAndLeave(t *testing.T) {
	c := startCluster(t, clustertest.Options{Nodes: 4})
	ms := c.Node(1).Members()
	if len(ms) != 4 {
		t.Fatalf("members %+v", ms)
	}
	for i, m := range ms {
		if m.Name != clustertest.NodeName(i) || m.State != "alive" || m.Region != fmt.Sprintf("region-%d", i%3) ||
			m.HTTPAddr != fmt.Sprintf("127.0.0.1:%d", 8000+i) || m.AdminAddr != fmt.Sprintf("127.0.0.1:%d", 9000+i) ||
			m.Addr != c.Node(i).Addr() || m.LastSeen.IsZero() {
			t.Errorf("member %d: %+v", i, m)
		}
	}
	if err := c.Leave(3, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 1, 2} {
		if err := c.WaitState(ctxFor(t, within), i, 3, "left"); err != nil {
			t.Fatal(err)
		}
	}
	// A purge now waits only for the three that are left.
	res, err := c.Node(0).Purge(ctxFor(t, within), store.Purge{Keys: []string{"k"}}, true)
	if err != nil || !res.Complete || len(res.Acked) != 2 {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestKilledNodeDetectedAndRestartCatchesUp(t *testing.T) {
	f := clustertest.NewFaults()
	tr := newTracker()
	c := startCluster(t, clustertest.Options{Nodes: 5, Faults: f, Observe: tr.observe})
	const victim = 4
	if err := c.Kill(victim); err != nil {
		t.Fatal(err)
	}
	for i := range victim {
		if err := c.WaitState(ctxFor(t, within), i, victim, "dead"); err != nil {
			t.Fatal(err)
		}
	}
	// The dead node is no longer sent to, and it is named as unreachable.
	res, err := c.Node(0).Purge(ctxFor(t, within), store.Purge{Keys: []string{"while-dead"}}, true)
	if err != nil || res.Complete || len(res.Acked) != 3 || len(res.Unreachable) != 1 {
		t.Fatalf("%+v %v", res, err)
	}

	// Restart it cut off from everyone: it boots, caches an object, and a
	// purge for that object is accepted elsewhere before it manages to join.
	f.Isolate(clustertest.NodeName(victim))
	if err := c.Restart(victim, nil); err != nil {
		t.Fatal(err)
	}
	put(t, c.Store(victim), "example.com/fresh-after-boot", "before-join")
	res, err = c.Node(1).Purge(ctxFor(t, within), store.Purge{Keys: []string{"before-join"}}, true)
	if err != nil || res.Complete || len(res.Acked) != 3 || len(res.Unreachable) != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	if !present(c.Store(victim), "example.com/fresh-after-boot") {
		t.Fatal("isolated node applied a purge it cannot have heard of")
	}
	f.Heal()
	if err := c.WaitConverged(ctxFor(t, within)); err != nil {
		t.Fatal(err)
	}
	waitGone(t, c, "example.com/fresh-after-boot")
	// It reaches every origin's sequence.
	deadline := time.Now().Add(within)
	for {
		behind := ""
		for _, m := range c.Node(victim).Members() {
			if m.Name != clustertest.NodeName(victim) {
				for _, i := range c.Running() {
					if clustertest.NodeName(i) == m.Name {
						own := c.Node(i).Members()[i].Seq
						if m.Seq != own {
							behind = fmt.Sprintf("%s at %d of %d", m.Name, m.Seq, own)
						}
					}
				}
			}
		}
		if behind == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("restarted node behind: %s", behind)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// And it takes part in new purges.
	res, err = c.Node(victim).Purge(ctxFor(t, within), store.Purge{Keys: []string{"from-restarted"}}, true)
	if err != nil || !res.Complete || len(res.Acked) != 4 {
		t.Fatalf("%+v %v", res, err)
	}
	if n := tr.dupes(); n != 0 {
		t.Fatalf("%d purges applied twice", n)
	}
}

func TestWaitTimesOutWithPending(t *testing.T) {
	f := clustertest.NewFaults()
	c := startCluster(t, clustertest.Options{Nodes: 3, Faults: f})
	// node-02 still looks alive (probes take a while to fail) but gets nothing.
	f.Block(clustertest.NodeName(0), clustertest.NodeName(2))
	f.Block(clustertest.NodeName(1), clustertest.NodeName(2))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	res, err := c.Node(0).Purge(ctx, store.Purge{Keys: []string{"k"}}, true)
	if err != nil {
		t.Fatal(err)
	}
	if res.Complete || len(res.Pending) != 1 || res.Pending[0] != clustertest.NodeName(2) || len(res.Acked) != 1 {
		t.Fatalf("%+v", res)
	}
	f.Heal()
}

func TestPacketLoss20(t *testing.T) {
	f := clustertest.NewFaults()
	tr := newTracker()
	c := startCluster(t, clustertest.Options{Nodes: 5, Faults: f, Observe: tr.observe})
	f.SetLoss(0.2)
	var keys []string
	for i := range 100 {
		k := fmt.Sprintf("loss-%d", i)
		keys = append(keys, k)
		if _, err := c.Node(i%5).Purge(context.Background(), store.Purge{Keys: []string{k}}, false); err != nil {
			t.Fatal(err)
		}
	}
	d := tr.waitAll(t, seq(5), keys, within)
	t.Logf("20%% packet loss: 100 purges on all 5 nodes %v after the last was accepted; faults %+v", d, f.Stats())
	if n := tr.dupes(); n != 0 {
		t.Fatalf("%d purges applied twice", n)
	}
	// With loss, wait=all still completes.
	res, err := c.Node(2).Purge(ctxFor(t, within), store.Purge{Keys: []string{"loss-wait"}}, true)
	if err != nil || !res.Complete {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestPartitionHeal(t *testing.T) {
	f := clustertest.NewFaults()
	tr := newTracker()
	c := startCluster(t, clustertest.Options{Nodes: 6, Faults: f, Observe: tr.observe})
	a := []string{clustertest.NodeName(0), clustertest.NodeName(1), clustertest.NodeName(2)}
	b := []string{clustertest.NodeName(3), clustertest.NodeName(4), clustertest.NodeName(5)}
	f.Partition(a, b)
	// Long enough for each side to declare the other dead.
	if err := c.WaitState(ctxFor(t, within), 0, 3, "dead"); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitState(ctxFor(t, within), 3, 0, "dead"); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for i := range 40 {
		k := fmt.Sprintf("split-%d", i)
		keys = append(keys, k)
		if _, err := c.Node(i%6).Purge(context.Background(), store.Purge{Keys: []string{k}}, false); err != nil {
			t.Fatal(err)
		}
	}
	if miss := tr.missing(seq(6), keys); len(miss) != 6 {
		t.Fatalf("purges crossed the partition: %v", miss)
	}
	f.Heal()
	// The README states 2 s on an idle machine; 10 s leaves room for -race
	// on a loaded one and still fails a heal that only anti-entropy's
	// push/pull (10 s) or nothing at all would repair.
	const healBound = 10 * time.Second
	d := tr.waitAll(t, seq(6), keys, healBound)
	t.Logf("two-way partition healed: every missed purge applied %v after the heal (bound %v)", d, healBound)
	if err := c.WaitConverged(ctxFor(t, within)); err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		if g := c.Node(i).Stats().Gaps; g != 0 {
			t.Errorf("%s dropped its cache (%d gaps) although the log retained everything", clustertest.NodeName(i), g)
		}
	}
}

func TestOneWayPartition(t *testing.T) {
	f := clustertest.NewFaults()
	tr := newTracker()
	c := startCluster(t, clustertest.Options{Nodes: 4, Faults: f, Observe: tr.observe})
	// node-00 cannot reach node-03; node-03 can reach node-00. Purges from
	// node-00 must reach node-03 through the others (anti-entropy), and
	// node-03's acknowledgements reach node-00.
	f.Block(clustertest.NodeName(0), clustertest.NodeName(3))
	var keys []string
	for i := range 10 {
		k := fmt.Sprintf("oneway-%d", i)
		keys = append(keys, k)
		if _, err := c.Node(0).Purge(context.Background(), store.Purge{Keys: []string{k}}, false); err != nil {
			t.Fatal(err)
		}
	}
	d := tr.waitAll(t, seq(4), keys, within)
	t.Logf("one-way partition: purges reached the cut-off node in %v", d)
	res, err := c.Node(0).Purge(ctxFor(t, within), store.Purge{Keys: []string{"oneway-wait"}}, true)
	if err != nil || !res.Complete {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestDuplicatesAndReordering(t *testing.T) {
	f := clustertest.NewFaults()
	tr := newTracker()
	c := startCluster(t, clustertest.Options{Nodes: 4, Faults: f, Observe: tr.observe})
	f.SetDuplicate(0.5)
	f.SetDelay(0, 20*time.Millisecond)
	var keys []string
	for i := range 100 {
		k := fmt.Sprintf("dup-%d", i)
		keys = append(keys, k)
		if _, err := c.Node(i%4).Purge(context.Background(), store.Purge{Keys: []string{k}}, false); err != nil {
			t.Fatal(err)
		}
	}
	tr.waitAll(t, seq(4), keys, within)
	if n := tr.dupes(); n != 0 {
		t.Fatalf("%d purges applied twice", n)
	}
	var dup uint64
	for i := range 4 {
		dup += c.Node(i).Stats().Duplicate
	}
	if st := f.Stats(); st.Duplicated == 0 || st.Delayed == 0 || dup == 0 {
		t.Fatalf("no duplicates were injected or seen: %+v, %d", st, dup)
	}
}

func TestLargePurgeSplitAndTCP(t *testing.T) {
	tr := newTracker()
	c := startCluster(t, clustertest.Options{Nodes: 3, Observe: tr.observe})
	keys := make([]string, 3000)
	for i := range keys {
		keys[i] = fmt.Sprintf("%04d-%s", i, strings.Repeat("k", 200)) // ~600 KB of keys
	}
	for i := range 3 {
		put(t, c.Store(i), "example.com/last", keys[len(keys)-1])
	}
	res, err := c.Node(0).Purge(ctxFor(t, within), store.Purge{Keys: keys}, true)
	if err != nil || !res.Complete {
		t.Fatalf("%+v %v", res, err)
	}
	if !strings.Contains(res.ID, "-") || res.Seq != 6 {
		t.Fatalf("3000 keys should be 6 entries: %+v", res)
	}
	for i := range 3 {
		if present(c.Store(i), "example.com/last") {
			t.Fatalf("last key not purged on %d", i)
		}
	}
	if _, err := c.Node(0).Purge(context.Background(), store.Purge{Keys: []string{strings.Repeat("x", cluster.MaxKeyLen+1)}}, false); !errors.Is(err, cluster.ErrInvalidPurge) {
		t.Fatalf("oversize key: %v", err)
	}
	if _, err := c.Node(0).Purge(context.Background(), store.Purge{}, false); !errors.Is(err, cluster.ErrInvalidPurge) {
		t.Fatalf("empty purge: %v", err)
	}
}

func TestFallenBehindDropsCache(t *testing.T) {
	f := clustertest.NewFaults()
	c := startCluster(t, clustertest.Options{Nodes: 3, Faults: f, RetainLog: 16})
	const lagger = 2
	put(t, c.Store(lagger), "example.com/unrelated", "unrelated")
	put(t, c.Store(0), "example.com/unrelated", "unrelated")
	f.Isolate(clustertest.NodeName(lagger))
	if err := c.WaitState(ctxFor(t, within), 0, lagger, "dead"); err != nil {
		t.Fatal(err)
	}
	for i := range 100 { // far more than the 16 retained; acknowledged one by one by the other live node
		res, err := c.Node(i%2).Purge(ctxFor(t, within), store.Purge{Keys: []string{fmt.Sprintf("gap-%d", i)}}, true)
		if err != nil || len(res.Acked) != 1 || len(res.Unreachable) != 1 {
			t.Fatalf("%+v %v", res, err)
		}
	}
	f.Heal()
	deadline := time.Now().Add(within)
	for c.Node(lagger).Stats().Gaps == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the lagging node never noticed it fell behind the retained log")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if present(c.Store(lagger), "example.com/unrelated") {
		t.Fatal("the lagging node kept an object it cannot prove fresh")
	}
	if !present(c.Store(0), "example.com/unrelated") || c.Node(0).Stats().Gaps != 0 || c.Node(1).Stats().Gaps != 0 {
		t.Fatal("nodes that were not behind dropped their cache")
	}
}

func TestIsolationStaleCutoff(t *testing.T) {
	f := clustertest.NewFaults()
	c := startCluster(t, clustertest.Options{Nodes: 3, Faults: f, Configure: func(i int, cfg *cluster.Config) {
		cfg.IsolationBound = 700 * time.Millisecond
	}})
	if !c.Node(0).StaleCutoff().IsZero() {
		t.Fatal("cutoff while connected")
	}
	f.Isolate(clustertest.NodeName(0))
	isolatedAt := time.Now()
	deadline := time.Now().Add(within)
	for c.Node(0).StaleCutoff().IsZero() {
		if time.Now().After(deadline) {
			t.Fatal("no stale cutoff while isolated")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if lc := c.Node(0).LastContact(); lc.After(isolatedAt.Add(time.Second)) || c.Node(0).StaleCutoff() != lc {
		t.Fatalf("last contact %v, isolated at %v", lc, isolatedAt)
	}
	f.Heal()
	for !c.Node(0).StaleCutoff().IsZero() {
		if time.Now().After(deadline) {
			t.Fatal("cutoff stays after the heal")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func key(b byte) []byte { return []byte(strings.Repeat(string(rune('a'+b)), 32)) }

func TestWrongKeyCannotJoin(t *testing.T) {
	c := startCluster(t, clustertest.Options{Nodes: 2, Keys: [][]byte{key(1)}})
	for _, keys := range [][][]byte{{key(2)}, nil} {
		core, logs := observer.New(zap.ErrorLevel)
		n, err := cluster.Start(cluster.Config{NodeName: "intruder", BindAddr: "127.0.0.1", Join: []string{c.Node(0).Addr()},
			Keys: keys, Logger: zap.New(core)}, store.New(store.Config{}))
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(within)
		for n.JoinError() == nil {
			if time.Now().After(deadline) {
				t.Fatal("no join error")
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err := n.JoinError(); !errors.Is(err, cluster.ErrKeyMismatch) {
			t.Fatalf("keys %d: join error %v", len(keys), err)
		}
		if logs.FilterMessageSnippet("gossip key mismatch").Len() == 0 {
			t.Fatalf("no clear log line: %v", logs.All())
		}
		if len(n.Members()) != 1 || len(c.Node(0).Members()) != 2 {
			t.Fatalf("intruder joined: %v / %v", n.Members(), c.Node(0).Members())
		}
		_ = n.Shutdown()
	}
	if c.Node(0).Stats().Errors["decrypt"] == 0 {
		t.Fatalf("decrypt errors not counted: %v", c.Node(0).Stats().Errors)
	}
}

// Hand-built wire messages (the documented format), for a rogue to send.
func wStr(b []byte, s string) []byte { return append(binary.AppendUvarint(b, uint64(len(s))), s...) }

func wHeader(typ byte, sender string, epoch uint64) []byte {
	return binary.AppendUvarint(wStr([]byte{0xCD, 0x01, typ}, sender), epoch)
}

// wEntry is a framed entry purging one key.
func wEntry(origin string, epoch, seq uint64, at int64, key string) []byte {
	b := binary.AppendUvarint(wStr(nil, origin), epoch)
	b = binary.AppendUvarint(b, seq)
	b = binary.AppendVarint(b, at)
	b = append(b, 0, 1) // flags, one key
	b = append(wStr(b, key), 0)
	return append(binary.AppendUvarint(nil, uint64(len(b))), b...)
}

func wPurges(sender string, epoch uint64, entries ...[]byte) []byte {
	b := binary.AppendUvarint(wHeader(1, sender, epoch), uint64(len(entries)))
	for _, e := range entries {
		b = append(b, e...)
	}
	return b
}

func wAck(sender string, epoch, acked, contig uint64) []byte {
	b := binary.AppendUvarint(wHeader(2, sender, epoch), acked)
	return append(binary.AppendUvarint(b, contig), 0)
}

func wDigest(sender string, epoch uint64, origin string, oEpoch, contig uint64) []byte {
	b := append(wHeader(3, sender, epoch), 2, 0, 1) // full, floor 0, one item
	b = binary.AppendUvarint(wStr(b, origin), oEpoch)
	return binary.AppendUvarint(b, contig)
}

// wReplay is a replay claim "(from, to] is covered" with no entries and
// nothing missing.
func wReplay(sender string, epoch uint64, origin string, oEpoch, from, to uint64) []byte {
	b := binary.AppendUvarint(wStr(wHeader(4, sender, epoch), origin), oEpoch)
	b = binary.AppendUvarint(binary.AppendUvarint(b, from), to)
	return append(b, 0, 0, 0, 0) // floor, lost time, no missing, no entries
}

func metaEpoch(t *testing.T, meta []byte) uint64 {
	t.Helper()
	if len(meta) < 3 {
		t.Fatalf("metadata %x", meta)
	}
	e, n := binary.Uvarint(meta[2:])
	if n <= 0 {
		t.Fatalf("metadata %x", meta)
	}
	return e
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestHostileSequenceNumbers: sequence numbers near 2^64 from a rogue
// member used to crash a node (2^64-2, 2^64-1, 5, 2 in one PURGES message:
// slice bounds panic in the retained log) or hang it (2^64-1, then
// 1 000 000: endless eviction holding n.mu). They are refused as "field",
// and the node keeps applying legitimate purges.
func TestHostileSequenceNumbers(t *testing.T) {
	tr := newTracker()
	c := startCluster(t, clustertest.Options{Nodes: 3, Observe: tr.observe})
	r := rogue(t, c.Node(0).Addr())
	target := memberNode(t, r, clustertest.NodeName(0))
	const top = ^uint64(0)
	now := time.Now().UnixNano()
	fake := func(seqs ...uint64) []byte {
		var es [][]byte
		for _, q := range seqs {
			es = append(es, wEntry("rogue", 1, q, now, "hostile"))
		}
		return wPurges("rogue", 1, es...)
	}
	ep1 := metaEpoch(t, memberNode(t, r, clustertest.NodeName(1)).Meta)
	msgs := [][]byte{
		fake(top-1, top, 5, 2),
		fake(top, 1_000_000),
		fake(top),
		fake(1<<62 + 1),
		wAck("rogue", 1, 1, top),
		wDigest("rogue", 1, "rogue", 1, top),
		wDigest("rogue", 1, clustertest.NodeName(1), ep1, 1<<62+1),
		wReplay("rogue", 1, "rogue", 1, top-5, top),
		wReplay("rogue", 1, clustertest.NodeName(1), ep1, 0, top),
	}
	before := c.Node(0).Stats().Errors["field"]
	for _, m := range msgs {
		if err := r.SendReliable(target, m); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "every hostile message counted as field", func() bool {
		return c.Node(0).Stats().Errors["field"]-before >= uint64(len(msgs))
	})
	// Legitimate for the wire (a stream of its own, far ahead), after
	// 2^64-1 above: must neither hang nor disturb anything.
	if err := r.SendReliable(target, fake(1_000_000)); err != nil {
		t.Fatal(err)
	}
	for _, from := range []int{1, 0, 2} {
		k := fmt.Sprintf("after-hostile-%d", from)
		res, err := c.Node(from).Purge(ctxFor(t, within), store.Purge{Keys: []string{k}}, true)
		if err != nil || !res.Complete {
			t.Fatalf("purge via %d: %+v %v", from, res, err)
		}
		tr.waitAll(t, seq(3), []string{k}, within)
	}
	for _, m := range c.Node(0).Members() {
		if m.Seq > 1 {
			t.Errorf("%s: seq %d on node-00", m.Name, m.Seq)
		}
	}
}

// TestNoClaimingOthersSequences: entries of a PURGES message must be the
// sender's own, and replay claims are taken only from a live member at its
// current boot; otherwise a stranger could make node-00 take node-01's
// coming sequence numbers as applied, and node-01's real purges would be
// dropped there as duplicates (and acknowledged!).
func TestNoClaimingOthersSequences(t *testing.T) {
	tr := newTracker()
	c := startCluster(t, clustertest.Options{Nodes: 3, Observe: tr.observe})
	r := rogue(t, c.Node(0).Addr())
	target := memberNode(t, r, clustertest.NodeName(0))
	n1 := clustertest.NodeName(1)
	ep1 := metaEpoch(t, memberNode(t, r, n1).Meta)
	ep2 := metaEpoch(t, memberNode(t, r, clustertest.NodeName(2)).Meta)
	seq1 := func() uint64 {
		for _, m := range c.Node(0).Members() {
			if m.Name == n1 {
				return m.Seq
			}
		}
		return 0
	}
	errs := func(reason string) uint64 { return c.Node(0).Stats().Errors[reason] }
	send := func(m []byte) {
		if err := r.SendReliable(target, m); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().UnixNano()

	// 1. PURGES carrying node-01's next sequence numbers, sent by another
	// sender (the rogue under its own name, and under node-02's).
	var es [][]byte
	for q := uint64(1); q <= 10; q++ {
		es = append(es, wEntry(n1, ep1, q, now, "bogus"))
	}
	for i, sender := range []struct {
		name  string
		epoch uint64
	}{{"rogue", 1}, {clustertest.NodeName(2), ep2}} {
		o := errs("origin")
		send(wPurges(sender.name, sender.epoch, es...))
		waitFor(t, "the pre-claiming purges handled", func() bool { return errs("origin") > o || seq1() > 0 })
		if s := seq1(); s != 0 {
			t.Fatalf("case %d: node-00 took node-01's seqs up to %d from %s", i, s, sender.name)
		}
	}
	// 2. Replay claims over node-01's stream from a stranger, and from a
	// member's name at another boot.
	for i, m := range [][]byte{
		wReplay("rogue", 1, n1, ep1, 0, 100),
		wReplay(clustertest.NodeName(2), ep2+1, n1, ep1, 0, 200),
	} {
		u := errs("unknown_sender")
		send(m)
		waitFor(t, "the replay claim handled", func() bool { return errs("unknown_sender") > u || seq1() > 0 })
		if s := seq1(); s != 0 {
			t.Fatalf("case %d: node-00 took node-01's seqs up to %d on a replay claim from a non-member", i, s)
		}
	}
	// node-01's real purges reach node-00.
	for i := range 3 {
		put(t, c.Store(i), "example.com/claimed", "claimed-1")
	}
	res, err := c.Node(1).Purge(ctxFor(t, within), store.Purge{Keys: []string{"claimed-1"}}, true)
	if err != nil || !res.Complete {
		t.Fatalf("%+v %v", res, err)
	}
	tr.waitAll(t, seq(3), []string{"claimed-1"}, 10*time.Second)
	if present(c.Store(0), "example.com/claimed") {
		t.Fatal("node-00 acknowledged node-01's purge without applying it")
	}
}

// TestLongURLPurge: the API accepts URLs up to 8 KiB; the cluster carries
// them (over TCP, they do not fit a packet) instead of refusing them.
func TestLongURLPurge(t *testing.T) {
	c := startCluster(t, clustertest.Options{Nodes: 2})
	url := "example.com/" + strings.Repeat("u", 4096-len("example.com/"))
	for i := range 2 {
		put(t, c.Store(i), url, "long")
	}
	res, err := c.Node(0).Purge(ctxFor(t, within), store.Purge{URLs: []string{url}}, true)
	if err != nil || !res.Complete || len(res.Acked) != 1 || res.Local != 1 {
		t.Fatalf("4 KiB URL: %+v %v", res, err)
	}
	for i := range 2 {
		if present(c.Store(i), url) {
			t.Fatalf("4 KiB URL still cached on %d", i)
		}
	}
	longest := "example.com/" + strings.Repeat("m", cluster.MaxURLLen-len("example.com/"))
	put(t, c.Store(1), longest, "longest")
	if res, err := c.Node(0).Purge(ctxFor(t, within), store.Purge{URLs: []string{longest}}, true); err != nil || !res.Complete {
		t.Fatalf("%d-byte URL: %+v %v", cluster.MaxURLLen, res, err)
	}
	if present(c.Store(1), longest) {
		t.Fatal("8 KiB URL still cached on node-01")
	}
	if _, err := c.Node(0).Purge(context.Background(), store.Purge{URLs: []string{longest + "x"}}, false); !errors.Is(err, cluster.ErrInvalidPurge) {
		t.Fatalf("URL over %d bytes: %v", cluster.MaxURLLen, err)
	}
	if _, err := c.Node(0).Purge(context.Background(), store.Purge{Keys: []string{url}}, false); !errors.Is(err, cluster.ErrInvalidPurge) {
		t.Fatalf("4 KiB key: %v", err)
	}
}

// TestKeyRotation follows the documented procedure with rolling restarts:
// add the new key as secondary everywhere, make it primary, drop the old.
func TestKeyRotation(t *testing.T) {
	const n = 3
	k1, k2 := key(1), key(2)
	c := startCluster(t, clustertest.Options{Nodes: n, Keys: [][]byte{k1}})
	for step, keys := range [][][]byte{{k1, k2}, {k2, k1}, {k2}} {
		for i := range n {
			if err := c.Leave(i, 3*time.Second); err != nil {
				t.Fatal(err)
			}
			if err := c.Restart(i, keys); err != nil {
				t.Fatal(err)
			}
			if err := c.WaitConverged(ctxFor(t, within)); err != nil {
				t.Fatalf("step %d node %d: %v", step, i, err)
			}
		}
		res, err := c.Node(step%n).Purge(ctxFor(t, within), store.Purge{Keys: []string{fmt.Sprintf("rot-%d", step)}}, true)
		if err != nil || !res.Complete || len(res.Acked) != n-1 {
			t.Fatalf("step %d: %+v %v", step, res, err)
		}
	}
	// The old key no longer gets in.
	old, err := cluster.Start(cluster.Config{NodeName: "old-key", BindAddr: "127.0.0.1", Join: []string{c.Node(0).Addr()},
		Keys: [][]byte{k1}}, store.New(store.Config{}))
	if err != nil {
		t.Fatal(err)
	}
	defer old.Shutdown()
	deadline := time.Now().Add(within)
	for !errors.Is(old.JoinError(), cluster.ErrKeyMismatch) {
		if time.Now().After(deadline) {
			t.Fatalf("old key: %v", old.JoinError())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rogue joins the cluster as a plain memberlist node that can send
// arbitrary user messages.
func rogue(t *testing.T, join string) *memberlist.Memberlist {
	t.Helper()
	mc := memberlist.DefaultLANConfig()
	mc.Name, mc.BindAddr, mc.BindPort = "rogue", "127.0.0.1", 0
	mc.LogOutput = io.Discard
	ml, err := memberlist.Create(mc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ml.Shutdown() })
	if _, err := ml.Join([]string{join}); err != nil {
		t.Fatal(err)
	}
	return ml
}

func memberNode(t *testing.T, ml *memberlist.Memberlist, name string) *memberlist.Node {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		for _, m := range ml.Members() {
			if m.Name == name {
				cp := *m
				return &cp
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s not seen", name)
	return nil
}

func TestBadInputCountedNodesStayUp(t *testing.T) {
	tr := newTracker()
	c := startCluster(t, clustertest.Options{Nodes: 3, Observe: tr.observe})
	r := rogue(t, c.Node(0).Addr())
	target := memberNode(t, r, clustertest.NodeName(0))

	hdr := func(typ byte) []byte { return []byte{0xCD, 0x01, typ, 5, 'r', 'o', 'g', 'u', 'e', 1} }
	valid := func(seq int) []byte {
		// One purge entry of the rogue's own (made-up) stream, built by
		// hand from the documented format.
		body := []byte{5, 'r', 'o', 'g', 'u', 'e', 1, byte(seq), 2, 0, 1, 3, 'k', '-', byte('0' + seq%10), 0}
		return append(append(hdr(1), 1, byte(len(body))), body...)
	}
	msgs := map[string][]byte{
		"magic":     []byte("garbage that is not ours"),
		"version":   {0xCD, 0x09, 1, 0},
		"type":      append(hdr(77), 0),
		"truncated": valid(1)[:12],
		"trailing":  append(valid(1), 0xFF),
		"limit":     append(hdr(1), 0xFF, 0xFF, 0xFF, 0xFF, 0x0F),
	}
	for reason, m := range msgs {
		for range 3 {
			if err := r.SendBestEffort(target, m); err != nil {
				t.Fatal(reason, err)
			}
		}
	}
	big := append(hdr(1), make([]byte, 9<<20)...) // over the 8 MiB message limit
	if err := r.SendReliable(target, big); err != nil {
		t.Fatal(err)
	}
	// Raw garbage straight at the gossip port, outside memberlist's framing.
	if conn, err := net.Dial("udp", c.Node(0).Addr()); err == nil {
		for range 10 {
			_, _ = conn.Write([]byte("\x00\x01garbage"))
		}
		_ = conn.Close()
	}
	// A flood of well-formed purges from a made-up origin.
	for i := range 2000 {
		_ = r.SendBestEffort(target, valid(i%100+1))
	}
	deadline := time.Now().Add(within)
	for {
		errs := c.Node(0).Stats().Errors
		missing := ""
		for reason := range msgs {
			if errs[reason] == 0 {
				missing += " " + reason
			}
		}
		if missing == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not counted:%s (counted %v)", missing, errs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("errors counted on node-00: %v", c.Node(0).Stats().Errors)
	// Still up and still purging everywhere.
	res, err := c.Node(1).Purge(ctxFor(t, within), store.Purge{Keys: []string{"after-abuse"}}, true)
	if err != nil || !res.Complete {
		t.Fatalf("%+v %v", res, err)
	}
	tr.waitAll(t, seq(3), []string{"after-abuse"}, within)
}

func TestPurgeFloodNoLoss(t *testing.T) {
	tr := newTracker()
	c := startCluster(t, clustertest.Options{Nodes: 4, Observe: tr.observe})
	const total = 4000
	keys := make([]string, total)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < total; i += 4 {
				keys[i] = fmt.Sprintf("flood-%d", i)
				if _, err := c.Node(g).Purge(context.Background(), store.Purge{Keys: []string{keys[i]}}, false); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	d := tr.waitAll(t, seq(4), keys, within)
	t.Logf("%d purges from 4 nodes at once: applied on all 4 nodes %v after the last was accepted", total, d)
	if n := tr.dupes(); n != 0 {
		t.Fatalf("%d applied twice", n)
	}
}

func TestMetrics(t *testing.T) {
	regs := make([]*prometheus.Registry, 2)
	c := startCluster(t, clustertest.Options{Nodes: 2, Registerer: func(i int) prometheus.Registerer {
		regs[i] = prometheus.NewRegistry()
		return regs[i]
	}})
	if _, err := c.Node(0).Purge(ctxFor(t, within), store.Purge{Keys: []string{"m"}}, true); err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	mfs, err := regs[0].Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range m.GetLabel() {
				name += "{" + l.GetName() + "=" + l.GetValue() + "}"
			}
			switch {
			case m.GetCounter() != nil:
				got[name] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				got[name] = m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				got[name] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	for name, min := range map[string]float64{
		"meshcdn_cluster_purges_sent_total":         1,
		"meshcdn_cluster_purges_accepted_total":     1,
		"meshcdn_cluster_purges_applied_total":      1,
		"meshcdn_cluster_purges_received_total":     0,
		"meshcdn_cluster_purges_duplicate_total":    0,
		"meshcdn_cluster_purges_replayed_total":     0,
		"meshcdn_cluster_purge_ack_latency_seconds": 1,
		"meshcdn_cluster_members{state=alive}":      2,
		"meshcdn_cluster_members{state=dead}":       0,
	} {
		v, ok := got[name]
		if !ok || v < min {
			t.Errorf("%s = %v (present %v), want ≥ %v", name, v, ok, min)
		}
	}
	// A restarted node in the same process registers again without conflict.
	if err := c.Kill(1); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(1, nil); err != nil {
		t.Fatal(err)
	}
}

// TestAckedMeansApplied: under 20 % packet loss and a node restart, once
// Purge(wait) reports Complete, no node that was a target still holds the
// object (an acknowledgement is only sent after the store applied it).
func TestAckedMeansApplied(t *testing.T) {
	f := clustertest.NewFaults()
	c := startCluster(t, clustertest.Options{Nodes: 4, Faults: f})
	f.SetLoss(0.2)
	for round := range 30 {
		if round == 10 {
			if err := c.Kill(3); err != nil {
				t.Fatal(err)
			}
		}
		if round == 20 {
			if err := c.Restart(3, nil); err != nil {
				t.Fatal(err)
			}
		}
		url, k := fmt.Sprintf("example.com/v/%d", round), fmt.Sprintf("v-%d", round)
		running := c.Running()
		for _, i := range running {
			put(t, c.Store(i), url, k)
		}
		from := running[round%len(running)]
		res, err := c.Node(from).Purge(ctxFor(t, within), store.Purge{Keys: []string{k}}, true)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range res.Acked {
			for _, i := range running {
				if clustertest.NodeName(i) == name && present(c.Store(i), url) {
					t.Fatalf("round %d: %s acknowledged but still holds %s", round, name, url)
				}
			}
		}
		if present(c.Store(from), url) {
			t.Fatalf("round %d: not applied locally", round)
		}
	}
}

// TestJoinAnyOrderAndDNS: a node whose join address is not up yet keeps
// retrying until it is; a DNS name (every A/AAAA record tried) works.
func TestJoinAnyOrderAndDNS(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	early, err := cluster.Start(cluster.Config{NodeName: "early", BindAddr: "127.0.0.1",
		Join: []string{"localhost:" + strconv.Itoa(port)}}, store.New(store.Config{}))
	if err != nil {
		t.Fatal(err)
	}
	defer early.Shutdown()
	time.Sleep(300 * time.Millisecond) // its first attempts fail: nobody there yet
	if early.JoinError() == nil || len(early.Members()) != 1 {
		t.Fatalf("joined nothing? %v %v", early.JoinError(), early.Members())
	}
	late, err := cluster.Start(cluster.Config{NodeName: "late", BindAddr: "127.0.0.1", BindPort: port}, store.New(store.Config{}))
	if err != nil {
		t.Fatal(err)
	}
	defer late.Shutdown()
	deadline := time.Now().Add(within)
	for len(late.Members()) != 2 || len(early.Members()) != 2 || early.JoinError() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("no join: %v %v %v", early.JoinError(), early.Members(), late.Members())
		}
		time.Sleep(20 * time.Millisecond)
	}
	res, err := late.Purge(ctxFor(t, within), store.Purge{URLs: []string{"example.com/x"}}, true)
	if err != nil || !res.Complete || len(res.Acked) != 1 {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestDeadNodeReaped(t *testing.T) {
	c := startCluster(t, clustertest.Options{Nodes: 3, Timing: cluster.Timing{ReconnectTimeout: time.Second}})
	if err := c.Kill(2); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitState(ctxFor(t, within), 0, 2, "dead"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(within)
	for len(c.Node(0).Members()) != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("dead member never reaped: %v", c.Node(0).Members())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A node that boots, caches an object and only then becomes known to the
// origin of a purge of that object (accepted meanwhile, acknowledged by
// every other node, its old boot named as unreachable) gets the purge by direct send as soon as the origin learns of it —
// not only when a later digest exchange replays it. Replays are held back
// here (ReplayAfter of an hour), so only the direct send can deliver it.
func TestNewBootGetsRecentPurgesDirectly(t *testing.T) {
	f := clustertest.NewFaults()
	c := startCluster(t, clustertest.Options{Nodes: 3, Faults: f, Timing: cluster.Timing{ReplayAfter: time.Hour}})
	const late = 2
	if err := c.Kill(late); err != nil {
		t.Fatal(err)
	}
	for i := range late {
		if err := c.WaitState(ctxFor(t, within), i, late, "dead"); err != nil {
			t.Fatal(err)
		}
	}
	f.Isolate(clustertest.NodeName(late))
	if err := c.Restart(late, nil); err != nil {
		t.Fatal(err)
	}
	put(t, c.Store(late), "example.com/cached-before-known", "late-key")
	res, err := c.Node(0).Purge(ctxFor(t, within), store.Purge{Keys: []string{"late-key"}}, true)
	if err != nil || res.Complete || len(res.Acked) != 1 || len(res.Unreachable) != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	f.Heal()
	if err := c.WaitConverged(ctxFor(t, within)); err != nil {
		t.Fatal(err)
	}
	waitGone(t, c, "example.com/cached-before-known")
	if r := c.Node(late).Stats().Replayed; r != 0 {
		t.Errorf("replayed %d, want the direct send only", r)
	}
}

// A burst of purges is coalesced: many entries share one packet per peer
// (at most one flush per BatchDelay while busy), so the packets sent are a
// small fraction of the purges — without coalescing every purge would
// take at least one packet to each of the two peers, plus acknowledgements.
func TestBurstCoalesced(t *testing.T) {
	f := clustertest.NewFaults()
	c := startCluster(t, clustertest.Options{Nodes: 3, Faults: f})
	const callers, each = 16, 125
	before := f.Stats().Packets
	var wg sync.WaitGroup
	for g := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := c.Node(0).Purge(context.Background(), store.Purge{Keys: []string{fmt.Sprintf("burst-%d-%d", g, i)}}, false); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	// Every purge reaches both peers.
	deadline := time.Now().Add(within)
	for {
		done := true
		for _, i := range []int{1, 2} {
			if c.Node(i).Members()[0].Seq < callers*each {
				done = false
			}
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("burst not applied everywhere: %+v / %+v", c.Node(1).Members()[0], c.Node(2).Members()[0])
		}
		time.Sleep(5 * time.Millisecond)
	}
	packets := f.Stats().Packets - before
	t.Logf("%d purges to 2 peers in %d packets (all of memberlist's included)", callers*each, packets)
	if packets >= callers*each {
		t.Fatalf("%d packets for %d purges: not coalesced", packets, callers*each)
	}
}
