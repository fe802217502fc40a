package test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshcdn/meshcdn/cluster"
	"github.com/meshcdn/meshcdn/cluster/clustertest"
	"github.com/meshcdn/meshcdn/edge"
	"github.com/meshcdn/meshcdn/store"
)

// BenchmarkShield: N in-process nodes (a real memberlist cluster, real
// edge proxies on loopback sockets) in front of one origin. Every proxy
// has two sites with the same origin: off.example (shield off) and
// on.example (shield: cluster), so both modes run on the same cluster.
//
//   - refill: an object cached on every node is purged (wait=all), then
//     4 clients per node request it at once; origin-fetches/purge is the
//     figure (shield off: one per node; cluster: 1).
//   - miss: purge, then one request on a node that does not own the
//     object: its latency (p50, p99) with and without the hop to the
//     owner, both measured in the same loop.
//   - hit: a fresh object requested again on one node, with and without
//     shielding in the same loop (µs per hit): the hit path does not
//     change with shielding.
//
// make bench-shield runs it; README.md ("Shielding") has the figures.
func BenchmarkShield(b *testing.B) {
	for _, n := range []int{3, 10, 30} {
		b.Run("nodes="+strconv.Itoa(n), func(b *testing.B) {
			env := startShieldBench(b, n)
			defer env.close()
			for _, mode := range []string{"off", "cluster"} {
				b.Run("refill/shield="+mode, func(b *testing.B) { env.refill(b, mode) })
			}
			b.Run("miss", env.miss)
			b.Run("hit", env.hit)
		})
	}
}

type shieldBench struct {
	c       *clustertest.Cluster
	proxies []*edge.Proxy
	edges   []*httptest.Server
	peers   []*httptest.Server
	org     *versionedOrigin
	osrv    *httptest.Server
	hc      *http.Client
	objects atomic.Int64
	regs    []*prometheus.Registry
}

// peerFallbacks sums, over the nodes, the peer fetches that went to the
// origin instead (owner silent, failing or refusing).
func (env *shieldBench) peerFallbacks() float64 {
	var n float64
	for _, reg := range env.regs {
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() != "meshcdn_edge_peer_fetches_total" {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, lp := range m.GetLabel() {
					if lp.GetName() == "outcome" && lp.GetValue() != "ok" && lp.GetValue() != "not_modified" {
						n += m.GetCounter().GetValue()
					}
				}
			}
		}
	}
	return n
}

func startShieldBench(b *testing.B, n int) *shieldBench {
	b.Helper()
	env := &shieldBench{org: &versionedOrigin{versions: map[string]uint64{}}}
	env.osrv = httptest.NewServer(env.org)
	ou, _ := url.Parse(env.osrv.URL)
	cur := make([]atomic.Pointer[edge.Proxy], n)
	for i := range n {
		env.peers = append(env.peers, httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if p := cur[i].Load(); p != nil {
				p.ServePeer(w, r)
				return
			}
			http.Error(w, "down", http.StatusServiceUnavailable)
		})))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := clustertest.Start(ctx, clustertest.Options{Nodes: n,
		Configure: func(i int, cfg *cluster.Config) { cfg.AdminAddr = strings.TrimPrefix(env.peers[i].URL, "http://") }})
	if err != nil {
		b.Fatal(err)
	}
	env.c = c
	for i := range n {
		node := c.Node(i)
		reg := prometheus.NewRegistry()
		env.regs = append(env.regs, reg)
		p, err := edge.New(edge.Config{
			Registerer: reg,
			Sites: []*edge.Site{
				{Name: "off", Hosts: []string{"off.example"}, Origin: ou},
				{Name: "on", Hosts: []string{"on.example"}, Origin: ou, Shield: "cluster"},
			},
			Store: c.Store(i), NodeName: node.Name(), Shield: node.ShieldView(shieldSecret),
		})
		if err != nil {
			b.Fatal(err)
		}
		cur[i].Store(p)
		env.proxies = append(env.proxies, p)
		env.edges = append(env.edges, httptest.NewServer(p))
	}
	env.hc = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}}
	return env
}

func (env *shieldBench) close() {
	for _, s := range env.edges {
		s.Close()
	}
	for _, p := range env.proxies {
		p.Close()
	}
	for _, s := range env.peers {
		s.Close()
	}
	env.c.Close()
	env.osrv.Close()
}

func hostOf(mode string) string {
	if mode == "off" {
		return "off.example"
	}
	return "on.example"
}

func (env *shieldBench) get(b *testing.B, i int, host, path string) time.Duration {
	req, _ := http.NewRequest("GET", env.edges[i].URL+path, nil)
	req.Host = host
	t0 := time.Now()
	resp, err := env.hc.Do(req)
	if err != nil {
		b.Error(err)
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	d := time.Since(t0)
	if resp.StatusCode != 200 {
		b.Errorf("GET %s%s on node %d: %d", host, path, i, resp.StatusCode)
	}
	return d
}

// purge bumps the object's version and purges it on every node (wait=all).
func (env *shieldBench) purge(b *testing.B, k string) {
	env.org.bump(k)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := env.c.Node(0).Purge(ctx, store.Purge{Keys: []string{"obj/" + k}}, true)
	if err != nil || !res.Complete {
		b.Fatalf("purge: %+v %v", res, err)
	}
}

func (env *shieldBench) newObject() string {
	return "bench-" + strconv.FormatInt(env.objects.Add(1), 10)
}

func (env *shieldBench) refill(b *testing.B, mode string) {
	const clients = 4
	host, k := hostOf(mode), env.newObject()
	path := "/obj/" + k
	for i := range env.edges { // cached everywhere
		env.get(b, i, host, path)
	}
	var fetches int64
	fallbacks := env.peerFallbacks()
	b.ResetTimer()
	for range b.N {
		env.purge(b, k)
		before := env.org.fetches.Load()
		var wg sync.WaitGroup
		for i := range env.edges {
			for range clients {
				wg.Add(1)
				go func() { defer wg.Done(); env.get(b, i, host, path) }()
			}
		}
		wg.Wait()
		fetches += env.org.fetches.Load() - before
	}
	b.StopTimer()
	b.ReportMetric(float64(fetches)/float64(b.N), "origin-fetches/purge")
	b.ReportMetric((env.peerFallbacks()-fallbacks)/float64(b.N), "peer-fallbacks/purge")
}

// miss and hit measure both modes in the same loop, alternating which goes
// first, so that the machine's load falls on both alike (an A/B in one
// run): off.example and on.example are the same origin and the same node.

func (env *shieldBench) miss(b *testing.B) {
	k := env.newObject()
	path := "/obj/" + k
	// A node that does not own the object under shielding.
	names := make([]string, len(env.edges))
	for i := range names {
		names[i] = env.c.Node(i).Name()
	}
	owner := cluster.Owner(store.KeyFor(hostOf("cluster"), path, ""), names)
	child := (owner + 1) % len(env.edges)
	env.get(b, child, hostOf("off"), path)
	env.get(b, child, hostOf("cluster"), path)
	var lat [2][]time.Duration
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		env.purge(b, k) // both sites' copies (one key)
		b.StartTimer()
		for j := range 2 {
			m := (i + j) % 2
			lat[m] = append(lat[m], env.get(b, child, hostOf([2]string{"off", "cluster"}[m]), path))
		}
	}
	b.StopTimer()
	for m, name := range [2]string{"off", "cluster"} {
		slices.Sort(lat[m])
		b.ReportMetric(float64(lat[m][len(lat[m])/2].Microseconds()), name+"-p50-µs")
		b.ReportMetric(float64(lat[m][(len(lat[m])*99)/100].Microseconds()), name+"-p99-µs")
	}
	p50 := func(m int) float64 { return float64(lat[m][len(lat[m])/2].Microseconds()) }
	b.ReportMetric(p50(1)-p50(0), "added-p50-µs")
}

func (env *shieldBench) hit(b *testing.B) {
	k := env.newObject()
	path := "/obj/" + k
	for _, mode := range []string{"off", "cluster"} {
		env.get(b, 0, hostOf(mode), path)
		env.get(b, 0, hostOf(mode), path)
	}
	var sum [2]time.Duration
	b.ResetTimer()
	for i := range b.N {
		for j := range 2 {
			m := (i + j) % 2
			sum[m] += env.get(b, 0, hostOf([2]string{"off", "cluster"}[m]), path)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(sum[0].Microseconds())/float64(b.N), "off-µs/hit")
	b.ReportMetric(float64(sum[1].Microseconds())/float64(b.N), "cluster-µs/hit")
}
