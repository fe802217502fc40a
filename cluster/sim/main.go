// Command sim runs N real meshcdn cluster nodes (memberlist and the purge
// path) in one process over clustertest.SimNet, six regions with
// published inter-region round trips, and reports how long a purge takes
// to be applied on every node against the physical floor, and what it
// costs its sender. Real time: latencies are the real ones; memberlist
// and anti-entropy timers are lengthened (see timing) so hundreds of
// nodes fit on two cores.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/meshcdn/meshcdn/cluster"
	"github.com/meshcdn/meshcdn/cluster/clustertest"
	"github.com/meshcdn/meshcdn/store"
)

func main() {
	sizes := flag.String("nodes", "100", "cluster sizes to run, comma-separated (each 6..1000)")
	purges := flag.Int("purges", 30, "purges per cluster size, one at a time, accepting nodes rotating over the regions (1..1000)")
	loss := flag.Float64("loss", 0.01, "packet loss on every link (0..0.5)")
	budget := flag.Duration("budget", 400*time.Second, "time allowed per cluster size (start, purges)")
	designs := flag.String("designs", "direct,relay,gossip", "purge dissemination designs to compare, comma-separated (direct, relay, gossip)")
	relays := flag.Int("relays", 2, "relay design: relays per region (1..8)")
	out := flag.String("out", "cluster/sim/out", "directory for the latency CDF plots (SVG), one per cluster size; empty: none")
	cut := flag.Duration("partition", 0, "after the purges, cut sa-east-1 off for this long (purges continue elsewhere), heal, and report the catch-up (0: off)")
	churnFrac := flag.Float64("churn", 0, "after the purges, restart this fraction of the nodes at once (half killed, half leaving and joining again) and report membership convergence (0: off; at most 0.5)")
	slow := flag.Duration("trace", 0, "explain every purge applied everywhere later than this after the floor: the last node and every packet that carried the purge to it (0: off)")
	flag.Parse()
	if *purges < 1 || *purges > 1000 || *loss < 0 || *loss > 0.5 || *churnFrac < 0 || *churnFrac > 0.5 || *relays < 1 || *relays > 8 {
		fmt.Fprintln(os.Stderr, "sim: -purges must be 1..1000, -loss 0..0.5, -churn 0..0.5, -relays 1..8")
		os.Exit(2)
	}
	fmt.Printf("sim: %d regions %v, loss %.1f %%, jitter 1 ms + 5 %% of RTT, GOMAXPROCS %d, load average %s\n",
		len(regionNames), regionNames, *loss*100, runtime.GOMAXPROCS(0), loadavg())
	fmt.Println("latencies in ms: purge accepted → applied on every node, and the floor (largest one-way latency from the accepting node)")
	fmt.Println("sender: the accepting node's bytes and packets per purge; cluster: every node's bytes per purge; snd cpu: the sender's CPU ms per purge (below)")
	fmt.Printf("%5s %-6s %6s %8s | %-23s | %-23s | %-23s | %8s %6s %8s %7s | %s\n", "nodes", "design", "purges", "converge",
		"all applied p50/p99/max", "minus floor p50/p99/max", "each node p50/p99/max", "sender B", "pkts", "clustr B", "snd cpu", "load, not alive")
	var ds []cluster.Dissemination
	for _, d := range strings.Split(*designs, ",") {
		switch d := cluster.Dissemination(strings.TrimSpace(d)); d {
		case cluster.Direct, cluster.Relay, cluster.Gossip:
			ds = append(ds, d)
		default:
			fmt.Fprintf(os.Stderr, "sim: unknown design %q\n", d)
			os.Exit(2)
		}
	}
	failed := false
	for _, f := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 6 || n > 1000 {
			fmt.Fprintf(os.Stderr, "sim: bad cluster size %q\n", f)
			os.Exit(2)
		}
		var curves []curve
		for _, d := range ds {
			r, err := run(setup{n: n, purges: *purges, loss: *loss, budget: *budget, slow: *slow, design: d, relays: *relays, cut: *cut, churn: *churnFrac})
			if err != nil {
				fmt.Printf("%5d %-6s failed: %v\n", n, d, err)
				failed = true
				continue
			}
			curves = append(curves, curve{name: string(d), xs: r.excess})
		}
		if *out != "" && len(curves) > 0 {
			path, err := writeCDF(*out, n, *loss, curves)
			if err != nil {
				fmt.Fprintf(os.Stderr, "sim: plot: %v\n", err)
				failed = true
			} else {
				fmt.Printf("      CDF of all applied − floor: %s\n", path)
			}
		}
	}
	if failed {
		os.Exit(1)
	}
}

// timing: the product's defaults lengthened for wide-area round trips
// (probe timeout above the largest RTT) and for hundreds of nodes on two
// cores (membership gossip, push-pull and the anti-entropy digest less
// often); beyond 150 nodes the probe, gossip and digest timers grow in
// proportion (×2 at 300, ×6.7 at 1000). Push-pull (full membership state
// with one random member) stays every 30 s: it is what makes hundreds of
// joins converge once gossip is slowed down. The purge path's own timers
// (BatchDelay, RetransmitMin/Max) stay the defaults.
func timing(n int) cluster.Timing {
	scale := func(d time.Duration) time.Duration {
		if n <= 150 {
			return d
		}
		return d * time.Duration(n) / 150
	}
	return cluster.Timing{
		ProbeInterval: scale(2 * time.Second), ProbeTimeout: scale(time.Second),
		GossipInterval: scale(200 * time.Millisecond), PushPullInterval: 30 * time.Second,
		StreamTimeout: 10 * time.Second, DigestInterval: scale(2 * time.Second), ReplayAfter: 2 * time.Second,
	}
}

// tracker records when each node applied each purge (by key).
type tracker struct {
	mu   sync.Mutex
	seen map[string][]time.Time // key → apply times
	who  map[string][]int       // key → node of each apply time
	done map[string]chan struct{}
	n    int
}

func (t *tracker) observe(node int, p store.Purge) {
	now := time.Now()
	if len(p.Keys) != 1 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	k := p.Keys[0]
	t.seen[k] = append(t.seen[k], now)
	t.who[k] = append(t.who[k], node)
	if len(t.seen[k]) == t.n {
		if ch, ok := t.done[k]; ok {
			close(ch)
		}
	}
}

func (t *tracker) expect(k string) <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	ch := make(chan struct{})
	t.done[k] = ch
	return ch
}

func (t *tracker) times(k string) []time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]time.Time(nil), t.seen[k]...)
}

// lastNode is the node that applied k last.
func (t *tracker) lastNode(k string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	ts, who := t.seen[k], t.who[k]
	last := 0
	for i := range ts {
		if ts[i].After(ts[last]) {
			last = i
		}
	}
	return who[last]
}

// setup is one simulated run: a cluster size and a design.
type setup struct {
	n, purges, relays int
	loss              float64
	budget, slow, cut time.Duration
	churn             float64
	design            cluster.Dissemination
}

// result is what one run measured.
type result struct {
	excess []time.Duration // per purge: applied on every node, minus the floor
}

func run(s setup) (result, error) {
	n, purges, slow := s.n, s.purges, s.slow
	ctx, cancel := context.WithTimeout(context.Background(), s.budget)
	defer cancel()
	net, err := clustertest.NewSimNet(links(s.loss))
	if err != nil {
		return result{}, err
	}
	sim := &clustertest.SimNodes{Net: net, RegionOf: func(i int) int { return i % len(regionNames) }, Names: regionNames}
	tr := &tracker{seen: map[string][]time.Time{}, who: map[string][]int{}, done: map[string]chan struct{}{}, n: n}
	var trc *tracer
	if slow > 0 {
		trc = newTracer(fmt.Sprintf("sim-%d-", n))
	}
	ac := newAcct()
	net.SetTap(func(p clustertest.Sent) {
		ac.tap(p)
		if trc != nil {
			trc.tap(p)
		}
	})
	start := time.Now()
	configure := func(i int, cfg *cluster.Config) {
		labelNode(i) // the node's goroutines carry node=i in CPU profiles (cpuprof.go)
		sim.Configure(i, cfg)
		cfg.Dissemination, cfg.RelaysPerRegion = s.design, s.relays
	}
	c, err := clustertest.Start(ctx, clustertest.Options{Nodes: n, Timing: timing(n), Region: sim.Region,
		Configure: configure, Observe: tr.observe})
	unlabel()
	if err != nil {
		return result{}, err
	}
	defer c.Close()
	converge := time.Since(start)

	// Background traffic (probes, gossip, digests) per node and second.
	time.Sleep(2 * time.Second)
	b0, p0, t0 := totalBytes(sim, n), totalPackets(sim, n), time.Now()
	time.Sleep(3 * time.Second)
	bgSecs := time.Since(t0).Seconds() * float64(n)
	bgRate, bgPkts := float64(totalBytes(sim, n)-b0)/bgSecs, float64(totalPackets(sim, n)-p0)/bgSecs

	stopDead := make(chan struct{})
	deadCh := falseDead(c, 2*time.Second, stopDead)
	var all, excess, each []time.Duration
	var bytesPer, pktsPer, clusterPer float64
	cpu0, wall0, done := cpuTime(), time.Now(), 0
	for k := 0; k < purges && ctx.Err() == nil; k++ {
		origin := (k*7 + k/len(regionNames)) % n
		key := fmt.Sprintf("sim-%d-%d", n, k)
		ch := tr.expect(key)
		oc := ac.of(sim.Trans(origin).Addr())
		sb, sp, cb, at := oc.bytes.Load(), oc.packets.Load(), ac.total.bytes.Load(), time.Now()
		if _, err := c.Node(origin).Purge(ctx, store.Purge{Keys: []string{key}}, false); err != nil {
			return result{}, fmt.Errorf("purge %d: %w", k, err)
		}
		select {
		case <-ch:
		case <-time.After(30 * time.Second):
			return result{}, fmt.Errorf("purge %d from %s: applied on %d of %d nodes after 30 s; %s", k, c.Instance(origin).Name, len(tr.times(key)), n, missing(c, tr, key, origin))
		case <-ctx.Done():
			return result{}, fmt.Errorf("purge %d: %w (raise -budget)", k, ctx.Err())
		}
		ts := tr.times(key)
		last := ts[0]
		for _, x := range ts {
			each = append(each, x.Sub(at))
			last = later(last, x)
		}
		all = append(all, last.Sub(at))
		excess = append(excess, last.Sub(at)-floor(sim.RegionOf(origin)))
		if trc != nil && excess[len(excess)-1] > slow {
			ln := tr.lastNode(key)
			fmt.Printf("      slow purge %s from %s (%s): applied everywhere +%s ms (floor %s), last %s (%s)\n", key,
				c.Instance(origin).Name, regionNames[sim.RegionOf(origin)], ms(last.Sub(at)), ms(floor(sim.RegionOf(origin))),
				c.Instance(ln).Name, regionNames[sim.RegionOf(ln)])
			fmt.Print(trc.explain(key, sim.Trans(ln).Addr(), at, func(a string) string {
				for i := range n {
					if t := sim.Trans(i); t != nil && t.Addr() == a {
						return c.Instance(i).Name
					}
				}
				return a
			}))
		}
		time.Sleep(700 * time.Millisecond) // acknowledgements, retransmissions
		bytesPer += float64(oc.bytes.Load() - sb)
		pktsPer += float64(oc.packets.Load() - sp)
		clusterPer += float64(ac.total.bytes.Load() - cb)
		done++
	}
	cpu, wall := cpuTime()-cpu0, time.Since(wall0)
	cpuPer, senderCPU, err := burstCPU(ctx, c, tr, n)
	close(stopDead)
	fd := <-deadCh
	if err != nil {
		return result{}, err
	}
	notAlive := 0
	for _, i := range c.Running() {
		for _, m := range c.Node(i).Members() {
			if m.State != "alive" {
				notAlive++
			}
		}
	}
	d := float64(done)
	fmt.Printf("%5d %-6s %6d %7.1fs | %s | %s | %s | %8.0f %6.0f %8.0f %7.2f | %s, %d\n", n, s.design, done, converge.Seconds(),
		dist(all), dist(excess), dist(each), bytesPer/d, pktsPer/d, clusterPer/d, 1000*senderCPU, loadavg(), notAlive)
	fmt.Printf("      CPU per purge over a %d-purge burst from one node: the sender %.2f ms, all nodes together %.2f ms (CPU profile by node, each node's background rate subtracted)\n",
		burstPurges, 1000*senderCPU, 1000*cpuPer)
	fmt.Printf("      background %.0f B/s, %.1f packets/s per node; process CPU %.0f %% of a core over the purges; at 1000 purges/s cluster-wide a node sends %.0f kB/s of purge traffic on average\n",
		bgRate, bgPkts, 100*cpu.Seconds()/wall.Seconds(), clusterPer/d*1000/float64(n)/1000)
	fmt.Printf("      false dead verdicts (running nodes seen dead, sampled every 2 s over the purges and the burst): at most %d (viewer, member) pairs at once, in %d samples\n", fd[0], fd[1])
	if s.cut > 0 {
		line, err := partition(ctx, c, sim, tr, n, s.cut)
		if err != nil {
			return result{}, fmt.Errorf("partition: %w", err)
		}
		fmt.Printf("      partition: %s\n", line)
	}
	if s.churn > 0 {
		line, err := churn(ctx, c, n, s.churn)
		if err != nil {
			return result{}, err
		}
		fmt.Printf("      churn: %s\n", line)
	}
	return result{excess: excess}, nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func totalPackets(sim *clustertest.SimNodes, n int) uint64 {
	return total(sim, n, (*clustertest.SimTransport).SentPackets)
}

func totalBytes(sim *clustertest.SimNodes, n int) uint64 {
	return total(sim, n, (*clustertest.SimTransport).SentBytes)
}

// total adds up one counter over the first n nodes' transports.
func total(sim *clustertest.SimNodes, n int, count func(*clustertest.SimTransport) uint64) uint64 {
	var s uint64
	for i := range n {
		if t := sim.Trans(i); t != nil {
			s += count(t)
		}
	}
	return s
}

const burstPurges = 100

// burstCPU sends burstPurges purges, 10 ms apart, from one accepting
// node, waits until every node applied them, and returns the CPU per
// purge of all nodes together and of the sender alone, from CPU profiles
// labelled by node (cpuprof.go): the burst's, minus each one's rate in an
// idle profile of 3 s just before.
func burstCPU(ctx context.Context, c *clustertest.Cluster, tr *tracker, n int) (all, sender float64, err error) {
	origin := 7 % n
	label := strconv.Itoa(origin)
	idle, idleDur, err := profile(func() error { time.Sleep(3 * time.Second); return nil })
	if err != nil {
		return 0, 0, err
	}
	busy, busyDur, err := profile(func() error {
		var chs []<-chan struct{}
		for k := range burstPurges {
			key := fmt.Sprintf("burst-%d-%d", n, k)
			chs = append(chs, tr.expect(key))
			var perr error
			pprof.Do(ctx, pprof.Labels("node", label), func(ctx context.Context) {
				_, perr = c.Node(origin).Purge(ctx, store.Purge{Keys: []string{key}}, false)
			})
			if perr != nil {
				return perr
			}
			time.Sleep(10 * time.Millisecond)
		}
		for _, ch := range chs {
			select {
			case <-ch:
			case <-time.After(30 * time.Second):
				return fmt.Errorf("burst: a purge not applied everywhere after 30 s")
			}
		}
		time.Sleep(time.Second) // acknowledgements
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	scale := busyDur.Seconds() / idleDur.Seconds()
	var sumBusy, sumIdle int64
	for _, v := range busy {
		sumBusy += v
	}
	for _, v := range idle {
		sumIdle += v
	}
	all = (float64(sumBusy) - float64(sumIdle)*scale) / 1e9 / burstPurges
	sender = (float64(busy[label]) - float64(idle[label])*scale) / 1e9 / burstPurges
	return all, sender, nil
}

// profile runs f under the CPU profiler and returns CPU time by node.
func profile(f func() error) (map[string]int64, time.Duration, error) {
	var buf bytes.Buffer
	if err := pprof.StartCPUProfile(&buf); err != nil {
		return nil, 0, err
	}
	start := time.Now()
	ferr := f()
	pprof.StopCPUProfile()
	d := time.Since(start)
	if ferr != nil {
		return nil, 0, ferr
	}
	by, err := cpuByNode(buf.Bytes())
	return by, d, err
}

// missing describes the nodes that did not apply key: how each sees the
// origin and how the origin sees it.
func missing(c *clustertest.Cluster, tr *tracker, key string, origin int) string {
	tr.mu.Lock()
	got := map[int]bool{}
	for _, i := range tr.who[key] {
		got[i] = true
	}
	tr.mu.Unlock()
	state := func(viewer, subject int) string {
		nd := c.Node(viewer)
		if nd == nil {
			return "down"
		}
		for _, m := range nd.Members() {
			if m.Name == c.Instance(subject).Name {
				return m.State
			}
		}
		return "unknown"
	}
	var b strings.Builder
	if nd := c.Node(origin); nd != nil {
		st := nd.Stats()
		fmt.Fprintf(&b, "the origin sent %d entries, %d retransmitted, errors %v; ", st.Sent, st.Retransmitted, st.Errors)
	}
	shown := 0
	for i := range c.Len() {
		if got[i] || shown >= 5 {
			continue
		}
		shown++
		var st cluster.Stats
		if nd := c.Node(i); nd != nil {
			st = nd.Stats()
		}
		fmt.Fprintf(&b, "%s sees the origin %s, the origin sees it %s, it received %d entries, applied %d, errors %v; ",
			c.Instance(i).Name, state(i, origin), state(origin, i), st.Received, st.Applied, st.Errors)
	}
	return b.String()
}
