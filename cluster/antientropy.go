package cluster

import (
	"math/rand/v2"
	"time"

	"go.uber.org/zap"

	"github.com/meshcdn/meshcdn/store"
)

const maxInboundBytes = 64 << 20

// receive takes a message from memberlist (packet, stream or push/pull
// state). Acknowledgements are handled at once (they are tiny and drive
// retransmission); everything else is copied and queued for the apply
// loop, so memberlist's receive path is never held up (and its LIFO
// hand-off queue never builds up). It never blocks: when the queue is full
// the message is dropped and counted.
func (n *Node) receive(b []byte) {
	if len(b) > 2 && b[0] == wireMagic && b[1] == wireVersion && b[2] == msgAck {
		m, err := decodeMessage(b)
		if err != nil {
			n.badMessage(err, len(b))
			return
		}
		n.seen(m.Sender)
		n.handleAck(m.Sender, m.Epoch, &m.Ack)
		return
	}
	if len(b) > maxMessageBytes {
		n.badMessage(errLimit, len(b))
		return
	}
	if n.inBytes.Add(int64(len(b))) > maxInboundBytes {
		n.inBytes.Add(-int64(len(b)))
		n.m.error("queue_full")
		return
	}
	select {
	case n.inbound <- append([]byte(nil), b...):
	default:
		n.inBytes.Add(-int64(len(b)))
		n.m.error("queue_full")
	}
}

func (n *Node) badMessage(err error, size int) {
	n.m.error(err.Error())
	n.log.Debug("bad gossip message", zap.String("reason", err.Error()), zap.Int("bytes", size))
}

func (n *Node) applyLoop() {
	defer n.wg.Done()
	for {
		select {
		case <-n.done:
			return
		case b := <-n.inbound:
			n.handle(b)
		drain: // acknowledge at least every 32 messages
			for range 32 {
				select {
				case b := <-n.inbound:
					n.handle(b)
				default:
					break drain
				}
			}
			n.kickFlush()
		}
	}
}

func (n *Node) handle(b []byte) {
	n.inBytes.Add(-int64(len(b)))
	msg, err := decodeMessage(b)
	if err != nil {
		n.badMessage(err, len(b))
		return
	}
	if msg.Sender == n.name && msg.Epoch == n.epoch {
		return
	}
	m := &msg
	n.seen(m.Sender)
	switch m.Type {
	case msgPurges:
		if n.applyEntries(m.Entries, false) > 0 {
			n.regossip(b)
		}
	case msgRelay:
		n.applyEntries(m.Entries, false)
		n.passOn(b, m.Sender, m.Epoch)
	case msgAck:
		n.handleAck(m.Sender, m.Epoch, &m.Ack)
	case msgDigest:
		n.handleDigest(m.Sender, m.Epoch, &m.Digest)
	case msgReplay:
		n.handleReplay(m.Sender, m.Epoch, &m.Replay)
	case msgApp:
		n.handleApp(m.Sender, m.AppKind, m.AppBody)
	case msgLeave:
		n.handleLeave(m.Sender, &m.Leave)
	}
}

// streamLocked returns the state of stream k, creating it (and making room
// among at most maxStreams) if create is set; nil when there is no room.
func (n *Node) streamLocked(k streamKey, create bool) *stream {
	if s := n.streams[k]; s != nil || !create {
		return s
	}
	if len(n.streams) >= maxStreams {
		var victim *stream
		for _, s := range n.streams {
			if n.currentLocked(s.key) {
				continue
			}
			if victim == nil || s.touched < victim.touched {
				victim = s
			}
		}
		if victim == nil {
			n.m.error("streams_full")
			return nil
		}
		n.forgetLocked(victim)
	}
	s := &stream{key: k, touched: time.Now().UnixNano()}
	n.streams[k] = s
	return s
}

// currentLocked: k is our own stream or the current boot of a live peer.
func (n *Node) currentLocked(k streamKey) bool {
	if k == n.own.key {
		return true
	}
	p := n.peers[k.origin]
	return p != nil && p.state == stateAlive && p.meta.Epoch == k.epoch
}

func (n *Node) forgetLocked(s *stream) {
	n.rlog.drop(s)
	delete(n.streams, s.key)
}

// markAckLocked schedules an acknowledgement to the origin of k if it is
// the live origin's current boot.
func (n *Node) markAckLocked(k streamKey) {
	if p := n.peers[k.origin]; p != nil && p.state == stateAlive && p.meta.Epoch == k.epoch {
		p.ackDirty = true
	}
}

// applyEntries dedupes entries by (origin, epoch, seq), applies the new
// ones to the store and records them; it returns how many were new. Purges stamped before this node's
// floor (its boot minus the skew margin) cannot concern its cache and are
// recorded without touching the store.
func (n *Node) applyEntries(es []entry, replay bool) int {
	defer n.appliedSig.notify() // WaitApplied (applied.go)
	if len(es) == 0 {
		return 0
	}
	n.m.received.Add(uint64(len(es)))
	todo := make([]*entry, 0, len(es))
	n.mu.Lock()
	for i := range es {
		e := &es[i]
		k := streamKey{e.Origin, e.Epoch}
		if k == n.own.key {
			n.m.duplicate.Add(1)
			continue
		}
		s := n.streamLocked(k, true)
		if s == nil {
			continue
		}
		if s.applied(e.Seq) || dupIn(todo, e) {
			n.m.duplicate.Add(1)
			n.markAckLocked(k)
			continue
		}
		todo = append(todo, e)
	}
	n.mu.Unlock()
	if len(todo) == 0 {
		return 0
	}
	for _, e := range todo {
		if e.Time >= n.floor {
			n.st.Purge(e.purge())
		}
	}
	n.m.applied.Add(uint64(len(todo)))
	if replay {
		n.m.replayed.Add(uint64(len(todo)))
	}
	now := time.Now().UnixNano()
	var overflow []*stream
	n.mu.Lock()
	for _, e := range todo {
		k := streamKey{e.Origin, e.Epoch}
		s := n.streamLocked(k, true)
		if s == nil {
			continue
		}
		s.markApplied(e.Seq)
		raw := e.raw
		if raw == nil {
			raw = framedEntry(e)
		}
		n.rlog.add(s, e.Seq, e.Time, raw)
		s.lastTime, s.touched = max(s.lastTime, e.Time), now
		if len(s.ahead) > maxOutOfOrder {
			overflow = append(overflow, s)
		}
		n.markAckLocked(k)
	}
	n.mu.Unlock()
	for _, s := range overflow {
		// A hole nobody fills: give up on it.
		n.dropCache("out-of-order window overflow", s.key)
		n.mu.Lock()
		var top uint64
		for q := range s.ahead {
			top = max(top, q)
		}
		s.advanceTo(top)
		s.lostTime = max(s.lostTime, time.Now().UnixNano())
		n.mu.Unlock()
	}
	return len(todo)
}

func dupIn(todo []*entry, e *entry) bool {
	for _, t := range todo {
		if t.Seq == e.Seq && t.Epoch == e.Epoch && t.Origin == e.Origin {
			return true
		}
	}
	return false
}

// dropCache is what a node does when it cannot prove its cache fresh: it
// missed purges that nobody retains any more. Everything stored before now
// is removed (a hard purge with Before).
func (n *Node) dropCache(why string, k streamKey) {
	now := time.Now()
	removed := n.st.Purge(store.Purge{Origin: n.name, Time: now, Before: now})
	n.m.gaps.Add(1)
	n.log.Warn("missed purges are no longer retained anywhere we asked; dropped everything cached before now",
		zap.String("reason", why), zap.String("origin", k.origin), zap.Uint64("epoch", k.epoch), zap.Int("removed", removed))
}

// --- digests ---

// digestLocked builds a digest: the contiguous point of every stream we
// track (full), or of our own, the live peers' current and recently active
// streams (light), or only of the given keys.
func (n *Node) digestLocked(full, response bool, only []streamKey) digestMsg {
	d := digestMsg{Full: full, Response: response, Floor: n.floor}
	if only != nil {
		for _, k := range only {
			var c uint64
			if s := n.streams[k]; s != nil {
				c = s.contig
			}
			d.Items = append(d.Items, digestItem{Origin: k.origin, Epoch: k.epoch, Contig: c})
		}
		return d
	}
	now := time.Now().UnixNano()
	ttl := int64(n.cfg.Timing.StreamTTL)
	recent := int64(time.Minute)
	for k, s := range n.streams {
		if s.contig == 0 || (s.lastTime != 0 && now-s.lastTime > ttl && k != n.own.key) {
			continue
		}
		if !full && !n.currentLocked(k) && now-s.touched > recent {
			continue
		}
		d.Items = append(d.Items, digestItem{Origin: k.origin, Epoch: k.epoch, Contig: s.contig})
		if len(d.Items) == maxDigestItems {
			break
		}
	}
	return d
}

// handleDigest compares a peer's digest with our streams: we replay to it
// what it lacks, and if we lack something it has we answer with a digest
// of those streams so that it replays to us.
func (n *Node) handleDigest(sender string, senderEpoch uint64, d *digestMsg) {
	now := time.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	p := n.peers[sender]
	if p == nil || p.state != stateAlive || p.meta.Epoch != senderEpoch {
		n.m.error("unknown_sender")
		return
	}
	if d.Floor <= now.UnixNano()+int64(time.Hour) {
		p.floor = d.Floor
	}
	var behind []streamKey
	var seen map[streamKey]bool
	if d.Full {
		seen = make(map[streamKey]bool, len(d.Items))
	}
	budget := maxReplayBytes * 2
	ttl := int64(n.cfg.Timing.StreamTTL)
	for _, it := range d.Items {
		k := streamKey{it.Origin, it.Epoch}
		if seen != nil {
			seen[k] = true
		}
		if k == n.own.key {
			n.txProgressLocked(p, it.Contig, nil, now)
		}
		s := n.streams[k]
		if s == nil {
			if it.Contig == 0 || k.origin == n.name && k.epoch >= n.epoch {
				continue
			}
			if s = n.streamLocked(k, true); s == nil {
				continue
			}
		}
		switch {
		case s.contig < it.Contig && k != n.own.key:
			behind = append(behind, k)
		case s.contig > it.Contig && budget > 0:
			budget -= n.queueReplaysLocked(p, s, it.Contig)
		}
	}
	if d.Full {
		nowN := now.UnixNano()
		for k, s := range n.streams {
			if budget <= 0 {
				break
			}
			if seen[k] || s.contig == 0 || (s.lastTime != 0 && nowN-s.lastTime > ttl) || k.origin == sender {
				continue
			}
			budget -= n.queueReplaysLocked(p, s, 0)
		}
	}
	if len(behind) > 0 && !d.Response {
		dg := n.digestLocked(false, true, behind)
		n.queueCtrlLocked(p, encodeDigest(n.name, n.epoch, &dg))
	}
}

// queueReplaysLocked queues for p replay messages covering s from `from`
// (exclusive) to s.contig: the retained entries stamped at or after p's
// floor, and the seqs we no longer hold if they may matter to p. Returns
// the bytes queued.
func (n *Node) queueReplaysLocked(p *peer, s *stream, from uint64) int {
	to := s.contig
	if to <= from {
		return 0
	}
	floor := p.floor
	report := s.lostTime >= floor // missing entries could be newer than p's boot
	young := time.Now().UnixNano() - int64(n.cfg.Timing.ReplayAfter)
	queued := 0
	var framed [][]byte
	var missing [][2]uint64
	bytes := 0
	chunkFrom, prev := from, from
	emit := func(upTo uint64) {
		r := replayMsg{Origin: s.key.origin, Epoch: s.key.epoch, From: chunkFrom, To: upTo, Floor: floor, LostTime: s.lostTime}
		if report {
			r.Missing = missing
		}
		msg := encodeReplay(n.name, n.epoch, &r, framed)
		if n.queueCtrlLocked(p, msg) {
			queued += len(msg)
		} else {
			queued += 2 * maxReplayBytes // p's queue is full: stop encoding replays for it
		}
		framed, missing, bytes, chunkFrom = nil, nil, 0, upTo
	}
	addMissing := func(a, b uint64) {
		if k := len(missing); k > 0 && missing[k-1][1]+1 >= a {
			missing[k-1][1] = b
			return
		}
		if len(missing) == maxAckRanges {
			missing[len(missing)-1][1] = b // coarsen: over-reporting is safe
			return
		}
		missing = append(missing, [2]uint64{a, b})
	}
	for q := max(from+1, s.base); q <= to && q < s.end(); q++ {
		e := s.log[q-s.base]
		if e == nil {
			continue // not retained: counts as missing
		}
		if e.at > young {
			// Still being delivered by its origin: stop the claim here.
			to = prev
			break
		}
		if e.time >= floor && len(framed) > 0 && bytes+len(e.framed) > maxReplayBytes {
			// An entry with long URLs weighs up to 4 MiB: send what is
			// gathered first, so that no replay exceeds maxMessageBytes.
			emit(prev)
			if queued >= 2*maxReplayBytes {
				return queued
			}
		}
		if e.seq > prev+1 {
			addMissing(prev+1, e.seq-1)
		}
		prev = e.seq
		if e.time >= floor {
			framed = append(framed, e.framed)
			bytes += len(e.framed)
		}
		if len(framed) >= maxReplayEntries || bytes >= maxReplayBytes {
			emit(prev)
			if queued >= 2*maxReplayBytes {
				return queued
			}
		}
	}
	if prev < to {
		addMissing(prev+1, to)
	}
	if to > chunkFrom {
		emit(to)
	}
	return queued
}

// handleReplay applies replayed entries, then uses the sender's claim to
// advance our contiguous point over entries that cannot concern us (older
// than our floor). If the sender no longer holds entries we never applied,
// we have fallen behind the retained log: drop what we cannot prove fresh.
//
// Like digests and acknowledgements, a replay is taken only from a member
// that is alive at the boot it claims to be: its claim advances our
// contiguous points, so not from just anyone.
func (n *Node) handleReplay(sender string, senderEpoch uint64, r *replayMsg) {
	defer n.appliedSig.notify() // WaitApplied (applied.go)
	k := streamKey{r.Origin, r.Epoch}
	if k == n.own.key {
		return
	}
	n.mu.Lock()
	p := n.peers[sender]
	known := p != nil && p.state == stateAlive && p.meta.Epoch == senderEpoch
	n.mu.Unlock()
	if !known {
		n.m.error("unknown_sender")
		return
	}
	n.applyEntries(r.Entries, true)
	n.mu.Lock()
	s := n.streamLocked(k, true)
	if s == nil || r.Floor > n.floor || s.contig < r.From || s.contig >= r.To {
		n.mu.Unlock()
		return
	}
	gap := false
	for _, m := range r.Missing {
		a := max(m[0], s.contig+1)
		if a > m[1] {
			continue
		}
		if m[1]-a+1 > uint64(len(s.ahead)) {
			gap = true
			break
		}
		for q := a; q <= m[1]; q++ {
			if _, ok := s.ahead[q]; !ok {
				gap = true
				break
			}
		}
		if gap {
			break
		}
	}
	n.mu.Unlock()
	if gap {
		n.dropCache("fell behind the retained log of "+sender, k)
	}
	n.mu.Lock()
	if s = n.streamLocked(k, true); s != nil && s.contig >= r.From && s.contig < r.To {
		old := s.contig
		s.advanceTo(r.To)
		if s.retained(old+1, r.To) < int(r.To-old) {
			s.lostTime = max(s.lostTime, r.Floor, r.LostTime)
			if gap {
				s.lostTime = max(s.lostTime, time.Now().UnixNano())
			}
		}
		s.touched = time.Now().UnixNano()
		n.markAckLocked(k)
	}
	n.mu.Unlock()
}

// --- timers ---

func (n *Node) tickLoop() {
	defer n.wg.Done()
	t := n.cfg.Timing
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	nextDigest := time.Now().Add(t.DigestInterval)
	nextHouse := time.Now().Add(t.ReconnectInterval)
	for {
		select {
		case <-n.done:
			return
		case now := <-tick.C:
			n.mu.Lock()
			queued := n.retransmitLocked(now)
			if now.After(nextDigest) {
				nextDigest = now.Add(t.DigestInterval)
				queued = n.digestRoundLocked() || queued
			}
			n.mu.Unlock()
			if now.After(nextHouse) {
				nextHouse = now.Add(t.ReconnectInterval)
				n.housekeeping(now)
			}
			if queued {
				n.kickFlush()
			}
		}
	}
}

// digestRoundLocked sends a light digest to one random live peer.
func (n *Node) digestRoundLocked() bool {
	var alive []*peer
	for _, p := range n.peers {
		if p.state == stateAlive {
			alive = append(alive, p)
		}
	}
	if len(alive) == 0 {
		return false
	}
	p := alive[rand.IntN(len(alive))]
	dg := n.digestLocked(false, false, nil)
	n.queueCtrlLocked(p, encodeDigest(n.name, n.epoch, &dg))
	return true
}

// housekeeping: reconnect failed members, forget long-dead ones and idle
// streams, and go back to the join addresses if we are alone.
func (n *Node) housekeeping(now time.Time) {
	t := n.cfg.Timing
	n.reconnectFailed(now)
	nowN := now.UnixNano()
	n.mu.Lock()
	for name, p := range n.peers {
		if (p.state == stateDead && now.Sub(p.since) > t.ReconnectTimeout) ||
			(p.state == stateLeft && now.Sub(p.since) > t.DeadGossipTime) {
			delete(n.peers, name)
		}
	}
	for k, s := range n.streams {
		if k != n.own.key && !n.currentLocked(k) && nowN-max(s.lastTime, s.touched) > int64(t.StreamTTL) {
			n.forgetLocked(s)
		}
	}
	alone := n.aliveN.Load() == 0
	n.mu.Unlock()
	if alone && len(n.cfg.Join) > 0 && !n.left.Load() {
		n.startJoin()
	}
}
