package cluster

import (
	"fmt"
	"os"
	"time"
	"unicode/utf8"
)

// Timing holds the knobs that trade bandwidth for speed. Zero fields take
// the defaults shown; they are tuned for a LAN (or loopback) and are what
// the tests and benchmarks use.
type Timing struct {
	// Failure detection (memberlist SWIM). A failed node is suspected
	// after ProbeTimeout and declared dead after
	// SuspicionMult × max(1, log10(N)) × ProbeInterval (2 s for N ≤ 10,
	// 3 s for 30) unless it refutes. (Tighter values, e.g. 300ms/150ms,
	// cause false suspicions when 30 nodes share two busy cores.)
	ProbeInterval time.Duration // 500ms (memberlist LAN default 1s)
	ProbeTimeout  time.Duration // 250ms (LAN default 500ms)
	SuspicionMult int           // 4 (LAN default 4)
	// Gossip (membership, and purges queued for redundancy).
	GossipInterval time.Duration // 100ms (LAN default 200ms)
	GossipNodes    int           // 3
	// Full state push/pull over TCP with one random node; carries the
	// anti-entropy digest of every stream.
	PushPullInterval time.Duration // 10s (LAN default 30s)
	// How long memberlist keeps gossiping to a dead node (so it can
	// refute) and keeps it in its node table.
	DeadGossipTime time.Duration // 30s
	// A restarted node may reclaim its name from another address after it
	// has been dead this long.
	DeadNodeReclaim time.Duration // 10s
	// Every ReconnectInterval a failed (dead, not left) node is tried
	// again with a join, so a healed partition merges back quickly; failed
	// nodes are forgotten after ReconnectTimeout.
	ReconnectInterval time.Duration // 500ms
	ReconnectTimeout  time.Duration // 24h
	// Join retry backoff while no --join address answered.
	JoinRetryMin time.Duration // 250ms
	JoinRetryMax time.Duration // 15s
	// TCP dial/read/write timeout for streams (large purges, push/pull).
	StreamTimeout time.Duration // 3s

	// BatchDelay: during a burst (the previous flush carried more than one
	// purge for some peer) at most one flush per BatchDelay, so purges
	// accepted meanwhile are coalesced into one packet per peer and wait
	// at most BatchDelay. Outside bursts a purge goes out at once.
	BatchDelay time.Duration // 1ms
	// Retransmission of unacknowledged purges to a live node: first after
	// RetransmitMin, doubling up to RetransmitMax while no progress.
	RetransmitMin time.Duration // 50ms
	RetransmitMax time.Duration // 1s
	// Light anti-entropy: every DigestInterval this node sends its
	// per-origin sequence digest to one random live node.
	DigestInterval time.Duration // 200ms
	// Anti-entropy replays only purges this node has held for at least
	// ReplayAfter; younger ones are still being delivered by their origin
	// (direct send, retransmission), and replaying them too would only
	// flood a busy cluster with duplicates.
	ReplayAfter time.Duration // 500ms
	// PacketSize bounds a UDP message (before memberlist's own framing
	// and encryption); larger purges go over TCP.
	PacketSize int // 1200
	// SkewMargin: purges stamped more than this before this node booted
	// cannot concern its (then empty) cache and are not replayed to it.
	// Clocks must agree within this margin.
	SkewMargin time.Duration // 5s
	// StreamTTL: a purge stream (one boot of one node) with no purge newer
	// than this is forgotten.
	StreamTTL time.Duration // 24h
}

func (t *Timing) fill() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&t.ProbeInterval, 500*time.Millisecond)
	def(&t.ProbeTimeout, 250*time.Millisecond)
	if t.SuspicionMult <= 0 {
		t.SuspicionMult = 4
	}
	def(&t.GossipInterval, 100*time.Millisecond)
	if t.GossipNodes <= 0 {
		t.GossipNodes = 3
	}
	def(&t.PushPullInterval, 10*time.Second)
	def(&t.DeadGossipTime, 30*time.Second)
	def(&t.DeadNodeReclaim, 10*time.Second)
	def(&t.ReconnectInterval, 500*time.Millisecond)
	def(&t.ReconnectTimeout, 24*time.Hour)
	def(&t.JoinRetryMin, 250*time.Millisecond)
	def(&t.JoinRetryMax, 15*time.Second)
	def(&t.StreamTimeout, 3*time.Second)
	def(&t.BatchDelay, time.Millisecond)
	def(&t.RetransmitMin, 50*time.Millisecond)
	def(&t.RetransmitMax, time.Second)
	def(&t.DigestInterval, 200*time.Millisecond)
	def(&t.ReplayAfter, 500*time.Millisecond)
	if t.PacketSize <= 0 {
		t.PacketSize = 1200
	}
	if t.PacketSize < 512 {
		t.PacketSize = 512
	}
	def(&t.SkewMargin, 5*time.Second)
	def(&t.StreamTTL, 24*time.Hour)
}

// Limits on what this node keeps.
const (
	defaultRetainLog = 1 << 19  // entries per retained log (the byte bound binds first)
	maxRetainLog     = 1 << 24  // keeps window and bound arithmetic in range
	retainBytes      = 64 << 20 // bytes per retained log (own purges, others' purges)
	maxStreams       = 4096     // purge streams tracked (origin boots)
	maxOutOfOrder    = 65536    // applied sequences ahead of a stream's contiguous point
	maxOutQueue      = 16384    // entries queued for one peer
	maxOutBytes      = 8 << 20  // bytes queued for one peer
	maxCtrlBytes     = 16 << 20 // digest and replay bytes queued for one peer between flushes
	maxInbound       = 8192     // decoded messages waiting to be applied
	maxRetransmit    = 256      // entries retransmitted to one peer per round
	maxReplayEntries = 4096     // entries replayed to one peer per digest
	maxReplayBytes   = 4 << 20
	gossipQueueMax   = 256 // purges kept in memberlist's gossip queue
	gossipEntryMax   = 900 // larger entries are not gossiped
	maxTCPSenders    = 8   // concurrent TCP sends
	maxRegionLen     = 64
	maxRegions       = 256 // regions with a round-trip estimate (pingRTT)
	maxAddrLen       = 128
)

// outQueueEntries is maxOutQueue; tests shrink it to make queues overflow.
var outQueueEntries = maxOutQueue

func (c *Config) normalize() error {
	if c.NodeName == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			return fmt.Errorf("cluster: no node name and no hostname: %v", err)
		}
		c.NodeName = h
	}
	if len(c.NodeName) > maxNameLen || !utf8.ValidString(c.NodeName) {
		return fmt.Errorf("cluster: node name must be valid UTF-8 of at most %d bytes", maxNameLen)
	}
	if len(c.Region) > maxRegionLen {
		return fmt.Errorf("cluster: region longer than %d bytes", maxRegionLen)
	}
	if len(c.HTTPAddr) > maxAddrLen || len(c.AdminAddr) > maxAddrLen {
		return fmt.Errorf("cluster: HTTP/admin address longer than %d bytes", maxAddrLen)
	}
	for i, k := range c.Keys {
		switch len(k) {
		case 16, 24, 32:
		default:
			return fmt.Errorf("cluster: gossip key %d: %d bytes, want 16, 24 or 32", i+1, len(k))
		}
	}
	if c.BindAddr == "" {
		c.BindAddr = "0.0.0.0"
	}
	if c.BindPort < 0 || c.BindPort > 65535 || c.AdvertisePort < 0 || c.AdvertisePort > 65535 {
		return fmt.Errorf("cluster: port out of range")
	}
	if c.RetainLog <= 0 {
		c.RetainLog = defaultRetainLog
	}
	c.RetainLog = min(c.RetainLog, maxRetainLog)
	if c.IsolationBound < 0 {
		c.IsolationBound = 0
	}
	c.Timing.fill()
	return c.normalizeDissemination()
}
