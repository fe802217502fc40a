package clustertest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// ErrSimUnreachable is returned for a stream dial to an address no
// simulated node holds (or a node that shut down).
var ErrSimUnreachable = errors.New("clustertest: simulated address unreachable")

// Link is the simulated path between two regions (both directions).
type Link struct {
	RTT    time.Duration // round trip; each packet gets RTT/2 one way
	Jitter time.Duration // uniform extra delay in [0, Jitter] per packet or stream chunk
	Loss   float64       // fraction (0…1) of packets dropped; streams are not lossy (TCP repairs)
	// Bandwidth (bytes per second, 0 = unlimited) of each node's path
	// over this link: a node's packets and stream chunks to one region
	// leave one after the other at this rate; a packet that would wait
	// longer than Queue (default 200 ms) to leave is dropped (a full
	// router buffer), a stream chunk waits.
	Bandwidth int64
	Queue     time.Duration
	// Down cuts the link: packets are dropped, stream dials fail and
	// open streams over it break (a partition).
	Down bool
}

const defaultQueue = 200 * time.Millisecond

// SimNet is an in-memory network between memberlist transports of one
// process: no sockets. Every node is in a region; a packet from region a
// to region b is delivered after Links[a][b].RTT/2 plus jitter, or
// dropped with probability Links[a][b].Loss. Stream (TCP) dials take one
// RTT (the handshake) and every chunk written on a stream arrives one way
// later. Bandwidth is not limited. Safe for concurrent use.
type SimNet struct {
	mu    sync.RWMutex
	links [][]Link
	nodes map[string]*SimTransport // "ip:port" → transport
	next  int
	tap   func(Sent)
}

// Sent describes one packet handed to the network (for tracing).
type Sent struct {
	From, To string        // simulated addresses
	Buf      []byte        // the packet; the callee must not keep or modify it
	At       time.Time     // when it was sent
	Delay    time.Duration // one-way delay it gets (0 when dropped)
	Dropped  bool
}

// SetTap makes f see every packet sent from now on (nil: none), dropped
// ones included, on the sender's goroutine; f must be fast and must not
// block.
func (s *SimNet) SetTap(f func(Sent)) {
	s.mu.Lock()
	s.tap = f
	s.mu.Unlock()
}

func (s *SimNet) tapped() func(Sent) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.tap
}

// NewSimNet returns a network whose links[a][b] describe region a → b
// (a square matrix; index = region number).
func NewSimNet(links [][]Link) (*SimNet, error) {
	for i, row := range links {
		if len(row) != len(links) {
			return nil, fmt.Errorf("clustertest: link matrix row %d has %d entries, want %d", i, len(row), len(links))
		}
		for j, l := range row {
			if l.RTT < 0 || l.Jitter < 0 || l.Loss < 0 || l.Loss > 1 || l.Bandwidth < 0 || l.Queue < 0 {
				return nil, fmt.Errorf("clustertest: link %d→%d out of range: %+v", i, j, l)
			}
		}
	}
	return &SimNet{links: links, nodes: map[string]*SimTransport{}}, nil
}

// SetLink replaces the link a → b (one direction).
func (s *SimNet) SetLink(a, b int, l Link) {
	s.mu.Lock()
	s.links[a][b] = l
	s.mu.Unlock()
}

// Cut takes every link between region r and the others down (both
// directions), or brings them back up (down false): a partition of one
// region and its healing. Links inside r stay as they are.
func (s *SimNet) Cut(r int, down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for o := range s.links {
		if o != r {
			s.links[r][o].Down = down
			s.links[o][r].Down = down
		}
	}
}

// Link returns the link a → b.
func (s *SimNet) Link(a, b int) Link {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.links[a][b]
}

// Regions is the number of regions.
func (s *SimNet) Regions() int { return len(s.links) }

// Transport returns a new transport for a node in region (0-based) at a
// fresh simulated address 10.<region>.x.y:7946.
func (s *SimNet) Transport(region int) (*SimTransport, error) {
	if region < 0 || region >= len(s.links) || region > 255 {
		return nil, fmt.Errorf("clustertest: region %d out of range [0,%d)", region, len(s.links))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	if s.next >= 1<<16 {
		return nil, errors.New("clustertest: simulated address space exhausted")
	}
	return s.transportLocked(region, net.IPv4(10, byte(region), byte(s.next>>8), byte(s.next)).To4()), nil
}

// Reopen returns a new transport at the address (and region) of old,
// which must have shut down: a node restarting on its old address.
func (s *SimNet) Reopen(old *SimTransport) (*SimTransport, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !old.closed.Load() || s.nodes[old.addr] != nil {
		return nil, fmt.Errorf("clustertest: %s is still in use", old.addr)
	}
	return s.transportLocked(old.region, old.ip), nil
}

func (s *SimNet) transportLocked(region int, ip net.IP) *SimTransport {
	t := &SimTransport{net: s, region: region, ip: ip, port: 7946,
		packetCh: make(chan *memberlist.Packet, 256), streamCh: make(chan net.Conn), done: make(chan struct{})}
	t.addr = net.JoinHostPort(ip.String(), strconv.Itoa(t.port))
	s.nodes[t.addr] = t
	return t
}

func (s *SimNet) lookup(addr string) *SimTransport {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.nodes[addr]
}

// oneWay draws the delay of one packet a → b, or drop.
func (s *SimNet) oneWay(a, b int, lossy bool) (d time.Duration, drop bool) {
	l := s.Link(a, b)
	if l.Down || lossy && l.Loss > 0 && rand.Float64() < l.Loss {
		return 0, true
	}
	d = l.RTT / 2
	if l.Jitter > 0 {
		d += time.Duration(rand.Int64N(int64(l.Jitter) + 1))
	}
	return d, false
}

// SimTransport is one node's memberlist transport on a SimNet.
type SimTransport struct {
	net    *SimNet
	region int
	ip     net.IP
	port   int
	addr   string

	packetCh chan *memberlist.Packet
	streamCh chan net.Conn
	done     chan struct{}
	closed   atomic.Bool

	sentBytes, sentPackets, dropped atomic.Uint64

	bwMu sync.Mutex
	free map[int]time.Time // destination region → when this node's path to it is free
}

// queue reserves this node's path to region r for size bytes sent now:
// the extra delay before the last byte leaves (0 without a bandwidth
// limit), or drop for a packet that would wait longer than the link's
// queue bound (streams always wait).
func (t *SimTransport) queue(r, size int, packet bool) (wait time.Duration, drop bool) {
	l := t.net.Link(t.region, r)
	if l.Bandwidth <= 0 {
		return 0, false
	}
	now := time.Now()
	t.bwMu.Lock()
	defer t.bwMu.Unlock()
	start := now
	if f := t.free[r]; f.After(now) {
		start = f
	}
	q := l.Queue
	if q <= 0 {
		q = defaultQueue
	}
	if packet && start.Sub(now) > q {
		return 0, true
	}
	done := start.Add(time.Duration(float64(size) / float64(l.Bandwidth) * float64(time.Second)))
	if t.free == nil {
		t.free = map[int]time.Time{}
	}
	t.free[r] = done
	return done.Sub(now), false
}

var _ memberlist.NodeAwareTransport = (*SimTransport)(nil)

// Addr is the simulated "ip:port".
func (t *SimTransport) Addr() string { return t.addr }

// IP and Port are the simulated address's parts.
func (t *SimTransport) IP() string { return t.ip.String() }

// Port is the simulated port.
func (t *SimTransport) Port() int { return t.port }

// Region is the node's region number.
func (t *SimTransport) Region() int { return t.region }

// SentBytes counts the bytes this node sent: packets (dropped ones
// included) and stream data.
func (t *SimTransport) SentBytes() uint64 { return t.sentBytes.Load() }

// SentPackets counts the packets this node sent (dropped ones included).
func (t *SimTransport) SentPackets() uint64 { return t.sentPackets.Load() }

// Dropped counts this node's packets the network dropped.
func (t *SimTransport) Dropped() uint64 { return t.dropped.Load() }

// FinalAdvertiseAddr implements memberlist.Transport: the simulated address.
func (t *SimTransport) FinalAdvertiseAddr(string, int) (net.IP, int, error) {
	return t.ip, t.port, nil
}

// WriteTo implements memberlist.Transport.
func (t *SimTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

// WriteToAddress implements memberlist.NodeAwareTransport: the packet
// reaches the destination's PacketCh after the link's one-way delay
// unless the link drops it (a packet to an unknown address vanishes, as
// over UDP).
func (t *SimTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	now := time.Now()
	if t.closed.Load() {
		return now, errors.New("clustertest: transport shut down")
	}
	t.sentPackets.Add(1)
	t.sentBytes.Add(uint64(len(b)))
	dst := t.net.lookup(a.Addr)
	if dst == nil {
		t.dropped.Add(1)
		return now, nil
	}
	d, drop := t.net.oneWay(t.region, dst.region, true)
	if !drop {
		w, full := t.queue(dst.region, len(b), true)
		d, drop = d+w, full
	}
	if tap := t.net.tapped(); tap != nil {
		tap(Sent{From: t.addr, To: a.Addr, Buf: b, At: now, Delay: d, Dropped: drop})
	}
	if drop {
		t.dropped.Add(1)
		return now, nil
	}
	buf := append([]byte(nil), b...)
	from := &net.UDPAddr{IP: t.ip, Port: t.port}
	time.AfterFunc(d, func() { dst.deliver(&memberlist.Packet{Buf: buf, From: from, Timestamp: time.Now()}) })
	return now, nil
}

func (t *SimTransport) deliver(p *memberlist.Packet) {
	if t.closed.Load() {
		return
	}
	select {
	case t.packetCh <- p:
	case <-t.done:
	}
}

// PacketCh implements memberlist.Transport.
func (t *SimTransport) PacketCh() <-chan *memberlist.Packet { return t.packetCh }

// DialTimeout implements memberlist.Transport.
func (t *SimTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

// DialAddressTimeout implements memberlist.NodeAwareTransport: after one
// round trip (the handshake) the far end's StreamCh receives its side.
func (t *SimTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	dst := t.net.lookup(a.Addr)
	if dst == nil || dst.closed.Load() || t.closed.Load() {
		return nil, fmt.Errorf("dial %s: %w", a.Addr, ErrSimUnreachable)
	}
	there, down := t.net.oneWay(t.region, dst.region, false)
	back, down2 := t.net.oneWay(dst.region, t.region, false)
	if down || down2 {
		time.Sleep(timeout)
		return nil, fmt.Errorf("dial %s: %w (link down)", a.Addr, ErrSimUnreachable)
	}
	if there+back > timeout {
		time.Sleep(timeout)
		return nil, fmt.Errorf("dial %s: simulated handshake %v exceeds timeout %v", a.Addr, there+back, timeout)
	}
	time.Sleep(there + back)
	client, server := delayedPipe(t.chunkDelay(dst), dst.chunkDelay(t), &t.sentBytes, &dst.sentBytes)
	select {
	case dst.streamCh <- server:
		return client, nil
	case <-dst.done:
	case <-t.done:
	case <-time.After(timeout):
	}
	_ = client.Close()
	_ = server.Close()
	return nil, fmt.Errorf("dial %s: %w", a.Addr, ErrSimUnreachable)
}

// chunkDelay is the delay of a stream chunk of n bytes from t to dst, or
// false when the link is down (the stream breaks).
func (t *SimTransport) chunkDelay(dst *SimTransport) func(n int) (time.Duration, bool) {
	return func(n int) (time.Duration, bool) {
		d, down := t.net.oneWay(t.region, dst.region, false)
		if down {
			return 0, false
		}
		w, _ := t.queue(dst.region, n, false)
		return d + w, true
	}
}

// StreamCh implements memberlist.Transport.
func (t *SimTransport) StreamCh() <-chan net.Conn { return t.streamCh }

// Shutdown implements memberlist.Transport: the address leaves the network.
func (t *SimTransport) Shutdown() error {
	if t.closed.Swap(true) {
		return nil
	}
	close(t.done)
	t.net.mu.Lock()
	if t.net.nodes[t.addr] == t {
		delete(t.net.nodes, t.addr)
	}
	t.net.mu.Unlock()
	return nil
}
