package clustertest

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/meshcdn/meshcdn/store"
)

// threeRegions: 0↔1 60 ms, 0↔2 200 ms, 1↔2 120 ms round trip, none inside a region.
func threeRegions(t *testing.T) *SimNet {
	t.Helper()
	ms := time.Millisecond
	n, err := NewSimNet([][]Link{
		{{}, {RTT: 60 * ms}, {RTT: 200 * ms}},
		{{RTT: 60 * ms}, {}, {RTT: 120 * ms}},
		{{RTT: 200 * ms}, {RTT: 120 * ms}, {}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func simTransports(t *testing.T, n *SimNet, regions ...int) []*SimTransport {
	t.Helper()
	var out []*SimTransport
	for _, r := range regions {
		tr, err := n.Transport(r)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = tr.Shutdown() })
		out = append(out, tr)
	}
	return out
}

func recvPacket(t *testing.T, tr *SimTransport) *memberlist.Packet {
	t.Helper()
	select {
	case p := <-tr.PacketCh():
		return p
	case <-time.After(5 * time.Second):
		t.Fatalf("no packet reached %s", tr.Addr())
		return nil
	}
}

// A packet takes at least the one-way latency of its own region pair.
func TestSimNetLatencyPerRegionPair(t *testing.T) {
	n := threeRegions(t)
	tr := simTransports(t, n, 0, 1, 2, 2)
	for _, c := range []struct {
		from, to int
		min      time.Duration
	}{{0, 1, 30 * time.Millisecond}, {0, 2, 100 * time.Millisecond}, {1, 2, 60 * time.Millisecond}, {2, 3, 0}} {
		sent := time.Now()
		if _, err := tr[c.from].WriteTo([]byte("hello"), tr[c.to].Addr()); err != nil {
			t.Fatal(err)
		}
		p := recvPacket(t, tr[c.to])
		if got := p.Timestamp.Sub(sent); got < c.min {
			t.Errorf("region %d → %d: arrived after %v, want at least %v", tr[c.from].Region(), tr[c.to].Region(), got, c.min)
		}
		if string(p.Buf) != "hello" || p.From.String() != tr[c.from].Addr() {
			t.Errorf("got %q from %v, want hello from %s", p.Buf, p.From, tr[c.from].Addr())
		}
	}
	if got := int(tr[0].SentBytes()); got != 2*len("hello") {
		t.Errorf("region 0 sent %d bytes, want %d", got, 2*len("hello"))
	}
}

// Loss applies to its own link only, at about its rate.
func TestSimNetLoss(t *testing.T) {
	n := threeRegions(t)
	n.SetLink(0, 1, Link{Loss: 0.5})
	tr := simTransports(t, n, 0, 1, 0)
	const sent = 2000
	var wg sync.WaitGroup
	counts := make([]int, 3)
	for _, to := range []int{1, 2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range sent {
				_, _ = tr[0].WriteTo([]byte{1}, tr[to].Addr())
			}
		}()
	}
	wg.Wait()
	dropped := int(tr[0].Dropped())
	if dropped < 0.4*sent || dropped > 0.6*sent {
		t.Fatalf("dropped %d of %d on a 50 %% link (and 0 %% on the other)", dropped, sent)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for counts[1]+counts[2] < 2*sent-dropped {
		select {
		case <-tr[1].PacketCh():
			counts[1]++
		case <-tr[2].PacketCh():
			counts[2]++
		case <-ctx.Done():
			t.Fatalf("delivered %v of %d", counts, 2*sent-dropped)
		}
	}
	if counts[2] != sent || counts[1] != sent-dropped {
		t.Errorf("delivered %d on the lossy link and %d on the clean one; want %d and %d", counts[1], counts[2], sent-dropped, sent)
	}
}

// A stream costs a round trip to open and one way per direction after.
func TestSimNetStream(t *testing.T) {
	n := threeRegions(t)
	tr := simTransports(t, n, 0, 2)
	go func() {
		c := <-tr[1].StreamCh()
		buf := make([]byte, 4)
		if _, err := io.ReadFull(c, buf); err == nil && string(buf) == "ping" {
			_, _ = c.Write([]byte("pong"))
		}
		_ = c.Close()
	}()
	start := time.Now()
	c, err := tr[0].DialTimeout(tr[1].Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "pong" {
		t.Fatalf("read %q, %v; want pong then EOF", got, err)
	}
	if el := time.Since(start); el < 400*time.Millisecond {
		t.Errorf("dial + request + reply over a 200 ms link took %v, want at least 400 ms", el)
	}
	if tr[0].SentBytes() != 4 || tr[1].SentBytes() != 4 {
		t.Errorf("sent %d and %d stream bytes, want 4 each", tr[0].SentBytes(), tr[1].SentBytes())
	}
	if _, err := tr[0].DialTimeout("10.9.9.9:7946", time.Second); err == nil {
		t.Error("dial to an address nobody holds succeeded")
	}
}

// The real cluster runs over the simulated network and a purge reaches
// every region.
func TestSimNetCluster(t *testing.T) {
	n := threeRegions(t)
	for a := range 3 {
		for b := range 3 {
			l := n.Link(a, b)
			n.SetLink(a, b, Link{RTT: l.RTT / 10, Jitter: time.Millisecond, Loss: 0.01})
		}
	}
	sim := &SimNodes{Net: n, RegionOf: func(i int) int { return i % 3 }, Names: []string{"a", "b", "c"}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var mu sync.Mutex
	applied := map[int]bool{}
	c, err := Start(ctx, Options{Nodes: 6, Region: sim.Region, Configure: sim.Configure,
		Observe: func(node int, p store.Purge) { mu.Lock(); applied[node] = true; mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 6 {
		if tr := sim.Trans(i); tr == nil || c.Node(i).Addr() != tr.Addr() {
			t.Fatalf("node %d is not on the simulated network (addr %s)", i, c.Node(i).Addr())
		}
	}
	res, err := c.Node(0).Purge(ctx, store.Purge{Keys: []string{"k"}}, true)
	if err != nil || !res.Complete {
		t.Fatalf("purge: %+v, %v", res, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(applied) != 6 {
		t.Errorf("applied on %d nodes, want 6", len(applied))
	}
}

// A link's bandwidth spaces a node's packets to a region out (their last
// byte leaves one after the other) and drops what would queue longer
// than the link's queue bound.
func TestSimNetBandwidth(t *testing.T) {
	n := threeRegions(t)
	n.SetLink(0, 1, Link{Bandwidth: 10_000, Queue: 450 * time.Millisecond}) // 1000 B: 100 ms each
	tr := simTransports(t, n, 0, 1, 2)
	start := time.Now()
	pkt := make([]byte, 1000)
	for range 20 {
		if _, err := tr[0].WriteTo(pkt, tr[1].Addr()); err != nil {
			t.Fatal(err)
		}
	}
	// Queued behind 0, 100, …, 400 ms: five leave; the other fifteen would wait longer.
	if d := tr[0].Dropped(); d != 15 {
		t.Fatalf("dropped %d of 20 packets over a 10 kB/s link with a 450 ms queue, want 15", d)
	}
	var last time.Time
	for range 5 {
		last = recvPacket(t, tr[1]).Timestamp
	}
	if got := last.Sub(start); got < 500*time.Millisecond {
		t.Errorf("five 1000-byte packets over 10 kB/s arrived within %v, want at least 500 ms", got)
	}
	// Another region's link is not limited.
	if _, err := tr[0].WriteTo(pkt, tr[2].Addr()); err != nil {
		t.Fatal(err)
	}
	recvPacket(t, tr[2])
	if tr[0].Dropped() != 15 {
		t.Errorf("a packet over the unlimited link was dropped")
	}
}

// Cut partitions a region: packets and dials across are refused, open
// streams break, the region's inside stays up; healing restores it.
func TestSimNetCut(t *testing.T) {
	n := threeRegions(t)
	tr := simTransports(t, n, 0, 1, 1)
	go func() {
		for c := range tr[0].StreamCh() {
			_, _ = io.Copy(io.Discard, c)
			_ = c.Close()
		}
	}()
	open, err := tr[1].DialTimeout(tr[0].Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	n.Cut(1, true)
	if _, err := tr[1].WriteTo([]byte("x"), tr[0].Addr()); err != nil || tr[1].Dropped() != 1 {
		t.Fatalf("packet across the cut: err %v, dropped %d", err, tr[1].Dropped())
	}
	if _, err := tr[1].DialTimeout(tr[0].Addr(), 100*time.Millisecond); err == nil {
		t.Fatal("dial across the cut succeeded")
	}
	if _, err := open.Write([]byte("y")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := open.Write([]byte("z")); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a stream across the cut stayed open")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := tr[1].WriteTo([]byte("in"), tr[2].Addr()); err != nil {
		t.Fatal(err)
	}
	recvPacket(t, tr[2]) // inside the region: delivered
	n.Cut(1, false)
	if _, err := tr[1].WriteTo([]byte("healed"), tr[0].Addr()); err != nil {
		t.Fatal(err)
	}
	if p := recvPacket(t, tr[0]); string(p.Buf) != "healed" {
		t.Fatalf("got %q after healing", p.Buf)
	}
}
