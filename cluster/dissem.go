package cluster

import (
	"fmt"
	"strconv"
)

// Dissemination is how a purge first reaches the other members. The rest
// is the same whatever the choice: every member acknowledges the purge to
// its origin, the origin retransmits directly to a member that has not
// acknowledged it within its retransmission timeout (so a lost relay or
// gossip copy is repaired as a lost direct packet is), anti-entropy
// repairs what is left, and Purge with wait returns once every member
// acknowledged.
type Dissemination string

const (
	// Direct: the origin sends to every live member itself, one packet
	// per member per flush (purges accepted together share it). The
	// default.
	Direct Dissemination = "direct"
	// Relay: the origin sends each purge to RelaysPerRegion members of
	// every region, chosen by rendezvous hashing on the purge; each of
	// them applies it and passes the origin's message on to the live
	// members of its own region. Purges too large for one packet go
	// directly.
	Relay Dissemination = "relay"
	// Gossip: the purge goes only onto memberlist's gossip; every member
	// that applies it for the first time gossips it on.
	Gossip Dissemination = "gossip"
)

const (
	defaultRelays = 2 // relays per region: a purge is lost only if both copies are
	maxRelays     = 8
)

// normalizeDissemination checks and completes c's dissemination settings.
func (c *Config) normalizeDissemination() error {
	switch c.Dissemination {
	case "":
		c.Dissemination = Direct
	case Direct, Relay, Gossip:
	default:
		return fmt.Errorf("cluster: dissemination %q: want %q, %q or %q", c.Dissemination, Direct, Relay, Gossip)
	}
	if c.RelaysPerRegion <= 0 {
		c.RelaysPerRegion = defaultRelays
	}
	c.RelaysPerRegion = min(c.RelaysPerRegion, maxRelays)
	return nil
}

// disseminateLocked starts own entries framed (seqs first, first+1, …) on
// their way to the live targets; it reports whether they went onto the
// gossip queue (then Purge does not queue them again).
func (n *Node) disseminateLocked(targets []*peer, first uint64, framed [][]byte) (gossiped bool) {
	switch n.cfg.Dissemination {
	case Relay:
		if n.relayLocked(targets, first, framed) {
			return false
		}
	case Gossip:
		if n.gossipOwn(framed) {
			return true
		}
	}
	for _, p := range targets {
		n.enqueueLocked(p, first, framed)
	}
	return false
}

// relayLocked sends one RELAY message to RelaysPerRegion members of each
// region among targets; false (nothing sent) if the entries do not fit in
// one packet.
func (n *Node) relayLocked(targets []*peer, first uint64, framed [][]byte) bool {
	msg := encodeEntries(msgRelay, n.name, n.epoch, framed)
	if len(msg) > n.cfg.Timing.PacketSize || len(targets) == 0 {
		return len(targets) == 0
	}
	byRegion := map[string][]*peer{}
	for _, p := range targets {
		byRegion[p.meta.Region] = append(byRegion[p.meta.Region], p)
	}
	key := n.name + "/" + strconv.FormatUint(first, 10)
	for _, ps := range byRegion {
		names := make([]string, len(ps))
		for i, p := range ps {
			names[i] = p.name
		}
		for _, i := range Ranked(key, names, n.cfg.RelaysPerRegion) {
			if !n.queueCtrlLocked(ps[i], msg) {
				n.enqueueLocked(ps[i], first, framed)
			}
		}
	}
	return true
}

// passOn sends a RELAY message from origin on, unchanged but as PURGES, to
// the live members of this node's region other than the origin. The
// decoder admits only the origin's own entries in it, so passing it on
// delivers nothing the origin could not have sent itself; only a live
// member's current boot is relayed for.
func (n *Node) passOn(b []byte, origin string, epoch uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if o := n.peers[origin]; o == nil || o.state != stateAlive || o.meta.Epoch != epoch {
		n.m.error("unknown_sender")
		return
	}
	fwd := append([]byte(nil), b...)
	fwd[2] = msgPurges
	for _, p := range n.peers {
		if p.state == stateAlive && p.name != origin && p.meta.Region == n.cfg.Region {
			n.queueCtrlLocked(p, fwd)
		}
	}
	n.m.relayed.Add(1)
}

// gossipOwn queues own entries on memberlist's gossip (Gossip
// dissemination); false, queuing nothing, if the gossip queue is full or
// an entry is too large to gossip.
func (n *Node) gossipOwn(framed [][]byte) bool {
	if n.bq.NumQueued()+len(framed) > gossipQueueMax {
		return false
	}
	for _, f := range framed {
		if len(f) > gossipEntryMax {
			return false
		}
	}
	for _, f := range framed {
		n.bq.QueueBroadcast(bcast(encodePurges(n.name, n.epoch, [][]byte{f})))
	}
	return true
}

// regossip passes a PURGES message that brought new entries on over
// gossip (Gossip dissemination), unless the queue is full.
func (n *Node) regossip(b []byte) {
	if n.cfg.Dissemination != Gossip || len(b) > gossipEntryMax+maxNameLen+32 || n.bq.NumQueued() >= gossipQueueMax {
		return
	}
	n.bq.QueueBroadcast(bcast(append([]byte(nil), b...)))
}

// gossipMult is the gossip queue's retransmission multiplier: each queued
// purge goes out gossipMult × ⌈log10(N+1)⌉ times. As redundancy next to
// direct sends, once per log10; as the only way (Gossip), memberlist's own
// default of four, so that the epidemic reaches everyone.
func gossipMult(d Dissemination) int {
	if d == Gossip {
		return 4
	}
	return 1
}
