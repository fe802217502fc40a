// Package clustertest starts in-process meshcdn clusters on loopback and
// injects network faults between their nodes, for tests in cluster/ and in
// test/ (real memberlist, real sockets, real stores).
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

	"github.com/meshcdn/meshcdn/cluster"
)

// ErrInjected is returned for a stream (TCP) connection the fault plan refuses.
var ErrInjected = errors.New("clustertest: connection refused by injected fault")

// Faults is a fault plan shared by the transports of one cluster. Links
// are named by node names; every rule applies to the sender's outgoing
// packets (UDP) and to stream (TCP) dials. Safe for concurrent use.
type Faults struct {
	mu         sync.RWMutex
	loss       float64
	linkLoss   map[[2]string]float64
	blocked    map[[2]string]bool // from → to
	delayMin   time.Duration
	delayMax   time.Duration
	dup        float64
	streamLoss float64
	names      map[string]string // "ip:port" → node name

	dropped, delayed, duplicated, refused, packets atomic.Uint64
}

// FaultStats counts what the plan did; Packets counts every packet the
// nodes handed to their transports (dropped ones included).
type FaultStats struct{ Dropped, Delayed, Duplicated, Refused, Packets uint64 }

// NewFaults returns a plan that injects nothing yet.
func NewFaults() *Faults {
	return &Faults{linkLoss: map[[2]string]float64{}, blocked: map[[2]string]bool{}, names: map[string]string{}}
}

// SetLoss drops this fraction (0…1) of all packets.
func (f *Faults) SetLoss(p float64) { f.mu.Lock(); f.loss = p; f.mu.Unlock() }

// SetLinkLoss drops this fraction of the packets from → to.
func (f *Faults) SetLinkLoss(from, to string, p float64) {
	f.mu.Lock()
	f.linkLoss[[2]string{from, to}] = p
	f.mu.Unlock()
}

// SetDelay delays every packet and stream dial by a uniform random time in
// [min, max] (packets may then arrive out of order).
func (f *Faults) SetDelay(min, max time.Duration) {
	f.mu.Lock()
	f.delayMin, f.delayMax = min, max
	f.mu.Unlock()
}

// SetDuplicate sends this fraction of packets twice.
func (f *Faults) SetDuplicate(p float64) { f.mu.Lock(); f.dup = p; f.mu.Unlock() }

// SetStreamLoss refuses this fraction of stream dials.
func (f *Faults) SetStreamLoss(p float64) { f.mu.Lock(); f.streamLoss = p; f.mu.Unlock() }

// Block cuts the link from → to (one way: to can still send to from;
// streams need both directions and fail either way).
func (f *Faults) Block(from, to string) {
	f.mu.Lock()
	f.blocked[[2]string{from, to}] = true
	f.mu.Unlock()
}

// Partition cuts every link between a and b in both directions.
func (f *Faults) Partition(a, b []string) {
	f.mu.Lock()
	for _, x := range a {
		for _, y := range b {
			f.blocked[[2]string{x, y}] = true
			f.blocked[[2]string{y, x}] = true
		}
	}
	f.mu.Unlock()
}

// Isolate cuts name off from every other known node in both directions.
func (f *Faults) Isolate(name string) {
	f.mu.Lock()
	for _, other := range f.names {
		if other != name {
			f.blocked[[2]string{name, other}] = true
			f.blocked[[2]string{other, name}] = true
		}
	}
	f.mu.Unlock()
}

// Heal removes every block (loss, delay and duplication stay).
func (f *Faults) Heal() {
	f.mu.Lock()
	f.blocked = map[[2]string]bool{}
	f.mu.Unlock()
}

// Reset removes every fault.
func (f *Faults) Reset() {
	f.mu.Lock()
	f.loss, f.dup, f.streamLoss, f.delayMin, f.delayMax = 0, 0, 0, 0, 0
	f.linkLoss = map[[2]string]float64{}
	f.blocked = map[[2]string]bool{}
	f.mu.Unlock()
}

// Stats returns what the plan has done so far.
func (f *Faults) Stats() FaultStats {
	return FaultStats{f.dropped.Load(), f.delayed.Load(), f.duplicated.Load(), f.refused.Load(), f.packets.Load()}
}

type fate struct {
	drop  bool
	delay time.Duration
	dup   bool
}

func (f *Faults) packetFate(from, toAddr string) fate {
	f.mu.RLock()
	defer f.mu.RUnlock()
	to := f.names[toAddr]
	if f.blocked[[2]string{from, to}] {
		return fate{drop: true}
	}
	p := f.loss
	if lp, ok := f.linkLoss[[2]string{from, to}]; ok {
		p = max(p, lp)
	}
	if p > 0 && rand.Float64() < p {
		return fate{drop: true}
	}
	var ft fate
	if f.delayMax > 0 {
		ft.delay = f.delayMin + time.Duration(rand.Int64N(int64(f.delayMax-f.delayMin)+1))
	}
	ft.dup = f.dup > 0 && rand.Float64() < f.dup
	return ft
}

func (f *Faults) streamFate(from, toAddr string) (refuse bool, delay time.Duration) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	to := f.names[toAddr]
	if f.blocked[[2]string{from, to}] || f.blocked[[2]string{to, from}] {
		return true, 0
	}
	if f.streamLoss > 0 && rand.Float64() < f.streamLoss {
		return true, 0
	}
	if f.delayMax > 0 {
		delay = f.delayMin + time.Duration(rand.Int64N(int64(f.delayMax-f.delayMin)+1))
	}
	return false, delay
}

// Transport is a memberlist transport (a cluster.NetTransport underneath)
// that applies the plan to what its node sends.
type Transport struct {
	f     *Faults
	name  string
	inner *cluster.NetTransport
	port  int
	addr  string

	closed atomic.Bool
}

var _ memberlist.NodeAwareTransport = (*Transport)(nil)

// Transport opens a transport for node name on bindAddr:port (0 = free
// port) whose traffic follows the plan.
func (f *Faults) Transport(name, bindAddr string, port int) (*Transport, error) {
	inner, err := cluster.NewNetTransport(bindAddr, port, nil)
	if err != nil {
		return nil, fmt.Errorf("clustertest: transport for %s: %w", name, err)
	}
	port = inner.Port()
	addr := net.JoinHostPort(bindAddr, strconv.Itoa(port))
	f.mu.Lock()
	f.names[addr] = name
	f.mu.Unlock()
	return &Transport{f: f, name: name, inner: inner, port: port, addr: addr}, nil
}

// Port is the bound port (UDP and TCP).
func (t *Transport) Port() int { return t.port }

// FinalAdvertiseAddr implements memberlist.Transport.
func (t *Transport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	return t.inner.FinalAdvertiseAddr(ip, port)
}

// WriteTo implements memberlist.Transport.
func (t *Transport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

// WriteToAddress implements memberlist.NodeAwareTransport.
func (t *Transport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	t.f.packets.Add(1)
	ft := t.f.packetFate(t.name, a.Addr)
	if ft.drop {
		t.f.dropped.Add(1)
		return time.Now(), nil
	}
	n := 1
	if ft.dup {
		t.f.duplicated.Add(1)
		n = 2
	}
	if ft.delay <= 0 {
		var err error
		for range n {
			_, err = t.inner.WriteToAddress(b, a)
		}
		return time.Now(), err
	}
	t.f.delayed.Add(1)
	buf := append([]byte(nil), b...)
	time.AfterFunc(ft.delay, func() {
		if t.closed.Load() {
			return
		}
		for range n {
			_, _ = t.inner.WriteToAddress(buf, a)
		}
	})
	return time.Now(), nil
}

// PacketCh implements memberlist.Transport.
func (t *Transport) PacketCh() <-chan *memberlist.Packet { return t.inner.PacketCh() }

// DialTimeout implements memberlist.Transport.
func (t *Transport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

// DialAddressTimeout implements memberlist.NodeAwareTransport.
func (t *Transport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	refuse, delay := t.f.streamFate(t.name, a.Addr)
	if refuse {
		t.f.refused.Add(1)
		return nil, fmt.Errorf("dial %s: %w", a.Addr, ErrInjected)
	}
	if delay > 0 {
		time.Sleep(min(delay, timeout))
	}
	return t.inner.DialAddressTimeout(a, timeout)
}

// StreamCh implements memberlist.Transport.
func (t *Transport) StreamCh() <-chan net.Conn { return t.inner.StreamCh() }

// Shutdown implements memberlist.Transport.
func (t *Transport) Shutdown() error {
	t.closed.Store(true) // delayed packets still in flight are discarded
	return t.inner.Shutdown()
}
