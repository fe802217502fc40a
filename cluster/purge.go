package cluster

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/meshcdn/meshcdn/store"
)

// waiter is a Purge call waiting for acknowledgements.
type waiter struct {
	first, last uint64
	acked       map[string]bool // target → acknowledged
	gone        map[string]bool // targets that failed or left before acknowledging
	remaining   int
	done        chan struct{}
}

func (w *waiter) resolve(name string, ok bool) {
	a, isTarget := w.acked[name]
	if !isTarget || a || w.gone[name] {
		return
	}
	if ok {
		w.acked[name] = true
	} else {
		w.gone[name] = true
	}
	w.remaining--
	if w.remaining == 0 {
		close(w.done)
	}
}

func (w *waiter) fail(name string) { w.resolve(name, false) }

// Purge stamps p with this node's name, its next sequence number(s) and the
// current time, applies it to the local store, then sends it directly to
// every live member at once (and queues it on gossip for redundancy).
//
// With wait, Purge returns once every member that was live when the purge
// was accepted has acknowledged it (applied it), failed or left, or ctx is
// done — whichever comes first; Result.Pending lists the live members that
// did not acknowledge, Result.Unreachable the members that have not left
// but could not be reached (failed at accept time or since, or suspect),
// and Complete is true only when every member that has not left
// acknowledged. Without wait it returns right after the local apply with
// every live target in Pending and the failed members in Unreachable.
// A purge with more than MaxEntryKeys keys and URLs is split into several
// entries (consecutive sequence numbers), sent and acknowledged
// together; the error is non-nil only for an invalid purge or a shut-down
// node.
func (n *Node) Purge(ctx context.Context, p store.Purge, wait bool) (Result, error) {
	if n.closed.Load() {
		return Result{}, ErrClosed
	}
	parts, err := splitPurge(p)
	if err != nil {
		return Result{}, err
	}
	// Concurrent purges are stamped in order but applied and queued in
	// parallel; the own stream's contiguous point only moves once every
	// earlier sequence is recorded.
	now := time.Now()
	n.mu.Lock()
	first := n.ownNext
	n.ownNext += uint64(len(parts))
	n.mu.Unlock()

	local := 0
	framed := make([][]byte, len(parts))
	for i := range parts {
		sp := &parts[i]
		sp.Origin, sp.Seq, sp.Time = n.name, first+uint64(i), now
		local += n.st.Purge(*sp)
		e := entryOf(sp, n.epoch)
		framed[i] = framedEntry(&e)
	}
	last := first + uint64(len(parts)) - 1

	n.mu.Lock()
	for i := range parts {
		n.own.markApplied(first + uint64(i))
		n.ownLog.add(n.own, first+uint64(i), now.UnixNano(), framed[i])
	}
	n.own.lastTime, n.own.touched = max(n.own.lastTime, now.UnixNano()), now.UnixNano()
	var targets, failed []string
	var live []*peer
	for _, pr := range n.peers {
		if pr.state == stateDead {
			failed = append(failed, pr.name) // not left: it misses this purge
			continue
		}
		if pr.state != stateAlive || pr.meta.Leaving {
			continue
		}
		targets = append(targets, pr.name)
		live = append(live, pr)
	}
	onGossip := n.disseminateLocked(live, first, framed)
	var w *waiter
	if wait && len(targets) > 0 {
		w = &waiter{first: first, last: last, acked: map[string]bool{}, gone: map[string]bool{}, remaining: len(targets), done: make(chan struct{})}
		for _, t := range targets {
			w.acked[t] = false
		}
		n.waiters[w] = struct{}{}
	}
	n.mu.Unlock()
	n.appliedSig.notify() // WaitApplied (applied.go)
	n.kickFlush()

	// Gossip is redundancy for sparse purges; during a burst the queue
	// would only carry duplicates of what the direct send delivers.
	gossiped := false
	for _, f := range framed {
		if !onGossip && len(f) <= gossipEntryMax && n.bq.NumQueued() < gossipQueueMax/4 {
			n.bq.QueueBroadcast(bcast(encodePurges(n.name, n.epoch, [][]byte{f})))
			gossiped = true
		}
	}
	if gossiped {
		n.bq.Prune(gossipQueueMax)
	}
	n.m.accepted.Add(uint64(len(parts)))
	n.m.applied.Add(uint64(len(parts)))

	sort.Strings(targets)
	res := Result{ID: fmt.Sprintf("%s/%d/%d", n.name, n.epoch, first), Origin: n.name, Seq: last, Local: local}
	if last != first {
		res.ID = fmt.Sprintf("%s/%d/%d-%d", n.name, n.epoch, first, last)
	}
	if w == nil {
		res.Pending = targets
		res.Unreachable = sortedCopy(failed)
		res.Complete = len(targets) == 0 && len(failed) == 0
		return res, nil
	}
	var closedErr error
	select {
	case <-w.done:
	case <-ctx.Done():
	case <-n.done:
		closedErr = ErrClosed
	}
	n.mu.Lock()
	delete(n.waiters, w)
	res.Acked, res.Pending, res.Unreachable = n.settleLocked(w, targets, failed, time.Now())
	n.mu.Unlock()
	res.Complete = len(res.Pending) == 0 && len(res.Unreachable) == 0
	return res, closedErr
}

// splitPurge validates p and splits it into wire-sized entries.
func splitPurge(p store.Purge) ([]store.Purge, error) {
	if p.All {
		return []store.Purge{{All: true, Soft: p.Soft}}, nil
	}
	nk := len(p.Keys) + len(p.URLs)
	if nk == 0 && p.Before.IsZero() {
		return nil, fmt.Errorf("%w: nothing to purge (no keys, URLs, all or before)", ErrInvalidPurge)
	}
	if nk > MaxPurgeKeys {
		return nil, fmt.Errorf("%w: %d keys and URLs, at most %d per purge", ErrInvalidPurge, nk, MaxPurgeKeys)
	}
	for _, k := range p.Keys {
		if k == "" || len(k) > MaxKeyLen {
			return nil, fmt.Errorf("%w: key of %d bytes (1…%d allowed)", ErrInvalidPurge, len(k), MaxKeyLen)
		}
	}
	for _, u := range p.URLs {
		if u == "" || len(u) > MaxURLLen {
			return nil, fmt.Errorf("%w: URL of %d bytes (1…%d allowed)", ErrInvalidPurge, len(u), MaxURLLen)
		}
	}
	if nk <= MaxEntryKeys {
		return []store.Purge{{Keys: p.Keys, URLs: p.URLs, Before: p.Before, Soft: p.Soft}}, nil
	}
	var parts []store.Purge
	keys, urls := p.Keys, p.URLs
	for len(keys)+len(urls) > 0 {
		part := store.Purge{Soft: p.Soft}
		if len(parts) == 0 {
			part.Before = p.Before
		}
		k := min(len(keys), MaxEntryKeys)
		part.Keys, keys = keys[:k:k], keys[k:]
		u := min(len(urls), MaxEntryKeys-k)
		part.URLs, urls = urls[:u:u], urls[u:]
		parts = append(parts, part)
	}
	return parts, nil
}

func entryOf(p *store.Purge, epoch uint64) entry {
	return entry{Origin: p.Origin, Epoch: epoch, Seq: p.Seq, Time: nanos(p.Time), All: p.All, Soft: p.Soft,
		Before: nanos(p.Before), Keys: p.Keys, URLs: p.URLs}
}

func (e *entry) purge() store.Purge {
	return store.Purge{Origin: e.Origin, Seq: e.Seq, Time: fromNanos(e.Time), Keys: e.Keys, URLs: e.URLs,
		All: e.All, Before: fromNanos(e.Before), Soft: e.Soft}
}

// enqueueLocked queues own entries for p: framed[i] has seq first+i.
func (n *Node) enqueueLocked(p *peer, first uint64, framed [][]byte) {
	for i, f := range framed {
		p.enqueue(first+uint64(i), f)
	}
}

// enqueue queues own entry seq for p. What does not fit in the queue is
// deferred, not dropped (flow control): the flusher takes it from the own
// log, which keeps it until p acknowledged it, as the queue drains; while
// anything is deferred, newer entries wait behind it.
func (p *peer) enqueue(seq uint64, f []byte) {
	if p.deferHi == 0 && len(p.out) < outQueueEntries && p.outBytes < maxOutBytes {
		p.out = append(p.out, f)
		p.outBytes += len(f)
		return
	}
	if p.deferHi == 0 {
		p.deferLo, p.deferHi = seq, seq
		return
	}
	p.deferLo, p.deferHi = min(p.deferLo, seq), max(p.deferHi, seq)
}

// resend queues a retransmission of own entry seq for p, unless it is
// deferred anyway (it goes out with the backlog) or the queue is full (the
// next round retries it). Retransmissions never widen the deferred range:
// that would send again everything in flight behind them.
func (p *peer) resend(seq uint64, f []byte) bool {
	if p.deferHi != 0 && seq >= p.deferLo && seq <= p.deferHi {
		return false
	}
	if len(p.out) >= outQueueEntries || p.outBytes >= maxOutBytes {
		return false
	}
	p.out = append(p.out, f)
	p.outBytes += len(f)
	return true
}

// queueCtrlLocked queues a digest or replay message for p unless that
// would hold more than maxCtrlBytes for it until the next flush (a peer
// that floods us with digests cannot make us buffer without bound; what is
// dropped, the next digest exchange asks for again).
func (n *Node) queueCtrlLocked(p *peer, msg []byte) bool {
	if p.ctrlBytes+len(msg) > maxCtrlBytes {
		n.m.error("send_queue_full")
		return false
	}
	p.ctrl = append(p.ctrl, msg)
	p.ctrlBytes += len(msg)
	return true
}

func inRanges(rs [][2]uint64, seq uint64) bool {
	i := sort.Search(len(rs), func(i int) bool { return rs[i][1] >= seq })
	return i < len(rs) && rs[i][0] <= seq
}

// mergeRanges unions two ascending range lists, dropping what is ≤ floor,
// keeping at most max ranges (the highest ones are dropped first).
func mergeRanges(a, b [][2]uint64, floor uint64, limit int) [][2]uint64 {
	all := make([][2]uint64, 0, len(a)+len(b))
	for _, rs := range [][][2]uint64{a, b} {
		for _, r := range rs {
			if r[1] <= floor {
				continue
			}
			if r[0] <= floor {
				r[0] = floor + 1
			}
			all = append(all, r)
		}
	}
	slices.SortFunc(all, func(x, y [2]uint64) int {
		switch {
		case x[0] < y[0]:
			return -1
		case x[0] > y[0]:
			return 1
		}
		return 0
	})
	var out [][2]uint64
	for _, r := range all {
		if k := len(out); k > 0 && r[0] <= out[k-1][1]+1 {
			out[k-1][1] = max(out[k-1][1], r[1])
			continue
		}
		out = append(out, r)
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}

// txProgressLocked records that p has applied our own seqs ≤ contig and
// those in ranges: observes ack latency, resolves waiters, resets the
// retransmission timer.
func (n *Node) txProgressLocked(p *peer, contig uint64, ranges [][2]uint64, now time.Time) {
	top := n.ownNext - 1 // stamped so far (a hostile ack claims no more)
	contig = min(contig, top)
	oldC, oldR := p.txContig, p.txRanges
	newC := max(oldC, contig)
	newR := mergeRanges(oldR, ranges, newC, maxAckRanges)
	if n := len(newR); n > 0 && newR[n-1][1] > top {
		newR = mergeRanges(nil, newR, 0, maxAckRanges)
		for len(newR) > 0 && newR[len(newR)-1][0] > top {
			newR = newR[:len(newR)-1]
		}
		if k := len(newR); k > 0 && newR[k-1][1] > top {
			newR[k-1][1] = top
		}
	}
	// Absorb ranges that became contiguous.
	for len(newR) > 0 && newR[0][0] <= newC+1 {
		newC = max(newC, newR[0][1])
		newR = newR[1:]
	}
	if newC == oldC && len(newR) == len(oldR) && slices.Equal(newR, oldR) {
		return
	}
	// Observe newly acknowledged seqs (bounded).
	observed := 0
	observe := func(seq uint64) {
		if seq <= oldC || inRanges(oldR, seq) || observed >= 1024 {
			return
		}
		observed++
		if e := n.own.entry(seq); e != nil {
			lat := now.Sub(time.Unix(0, e.time))
			if lat < 0 {
				lat = 0
			}
			n.m.ackLatency.Observe(lat.Seconds())
			if p.srtt == 0 {
				p.srtt, p.rttvar = lat, lat/2
			} else { // RFC 6298
				d := p.srtt - lat
				if d < 0 {
					d = -d
				}
				p.rttvar = (3*p.rttvar + d) / 4
				p.srtt = (7*p.srtt + lat) / 8
			}
		}
	}
	for seq := oldC + 1; seq <= newC && observed < 1024; seq++ {
		observe(seq)
	}
	for _, r := range newR {
		for seq := r[0]; seq <= r[1] && observed < 1024; seq++ {
			observe(seq)
		}
	}
	p.rto = n.rtoBase(p) // it is responsive: backoff starts over
	p.txContig, p.txRanges = newC, newR
	p.lastAck = now
	for w := range n.waiters {
		if a, ok := w.acked[p.name]; !ok || a || w.gone[p.name] {
			continue
		}
		all := true
		for seq := w.first; seq <= w.last; seq++ {
			if seq > newC && !inRanges(newR, seq) {
				all = false
				break
			}
		}
		if all {
			w.resolve(p.name, true)
		}
	}
}

// rtoBase is the first retransmission delay for p (RFC 6298 style:
// smoothed ack time plus four deviations, at least twice the smoothed
// time), within [RetransmitMin, RetransmitMax].
// A peer that has acknowledged nothing yet is estimated from memberlist's
// ping round trips to its region (pingRTT).
func (n *Node) rtoBase(p *peer) time.Duration {
	t := n.cfg.Timing
	srtt, rttvar := p.srtt, p.rttvar
	if srtt == 0 {
		srtt = n.regionRTT[p.meta.Region]
		rttvar = srtt / 2
	}
	return min(max(srtt+4*rttvar, 2*srtt, t.RetransmitMin), t.RetransmitMax)
}

// pingRTT takes memberlist's ping round trip to a peer as its first
// round-trip estimate while none of our purges has been acknowledged by it
// yet (RFC 6298's first sample: rttvar half of it), and into a smoothed
// estimate for its region, which stands in for peers of that region
// nobody pinged yet (in a large cluster a node pings each peer rarely).
// So a purge to a peer farther away than RetransmitMin is not sent twice
// before its acknowledgement could have come back.
func (n *Node) pingRTT(name string, rtt time.Duration) {
	if rtt <= 0 {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	p := n.peers[name]
	if p == nil || p.state != stateAlive {
		return
	}
	if r, ok := n.regionRTT[p.meta.Region]; ok {
		n.regionRTT[p.meta.Region] = (7*r + rtt) / 8
	} else if len(n.regionRTT) < maxRegions {
		n.regionRTT[p.meta.Region] = rtt
	}
	if p.srtt == 0 {
		p.srtt, p.rttvar = rtt, rtt/2
	}
	p.rto = max(p.rto, n.rtoBase(p))
}

// handleAck processes a peer's acknowledgement of our stream.
func (n *Node) handleAck(sender string, senderEpoch uint64, a *ackMsg) {
	now := time.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	p := n.peers[sender]
	if p == nil || p.state != stateAlive || a.Epoch != n.epoch || senderEpoch != p.meta.Epoch {
		n.m.error("unknown_sender")
		return
	}
	n.txProgressLocked(p, a.Contig, a.Ranges, now)
}

// retransmitLocked resends to each live peer the entries of ours it has not
// acknowledged: holes below what it has acknowledged once they are older
// than its retransmission timeout, and everything unacknowledged once it
// has made no progress for that long (with exponential backoff while it
// stays silent). A busy peer that keeps acknowledging is not flooded with
// retransmissions of what is merely still in flight. Entries no longer in
// the retained log go as a replay claim (the peer then drops what it
// cannot prove fresh).
func (n *Node) retransmitLocked(now time.Time) (queued bool) {
	top := n.own.contig
	for _, p := range n.peers {
		if p.state != stateAlive || p.txContig >= top || now.Before(p.nextRetx) {
			continue
		}
		base := n.rtoBase(p)
		highest := p.txContig
		if k := len(p.txRanges); k > 0 {
			highest = p.txRanges[k-1][1]
		}
		// A peer that has acknowledged nothing for a timeout gets what it
		// has not acknowledged again (a lost packet of a sparse stream).
		// With many purges outstanding it is more likely busy than deaf:
		// wait four timeouts then, or a busy cluster drowns in
		// retransmissions.
		quiet := p.rto
		if top-p.txContig > 8 {
			quiet = 4 * p.rto
		}
		silent := now.Sub(p.lastAck) >= quiet
		var framed [][]byte
		var seqs []uint64
		missing := false
		steps := 0
		last := top
		if !silent {
			last = min(top, highest) // beyond: in flight behind what it already acknowledged
		}
		ri := 0
		for seq := p.txContig + 1; seq <= last && len(framed) < maxRetransmit && steps < 2*maxRetransmit; seq++ {
			steps++
			for ri < len(p.txRanges) && p.txRanges[ri][1] < seq {
				ri++
			}
			if ri < len(p.txRanges) && p.txRanges[ri][0] <= seq {
				seq = p.txRanges[ri][1] // skip the acknowledged range
				continue
			}
			e := n.own.entry(seq)
			if e == nil {
				missing = true
				break
			}
			if now.Sub(time.Unix(0, e.time)) < base {
				break // newer entries are younger still
			}
			framed = append(framed, e.framed)
			seqs = append(seqs, seq)
		}
		if missing {
			n.queueReplaysLocked(p, n.own, p.txContig)
		} else if len(framed) == 0 {
			continue
		} else {
			resent := 0
			for i, f := range framed {
				if p.resend(seqs[i], f) {
					resent++
				}
			}
			n.m.retransmitted.Add(uint64(resent))
		}
		p.nextRetx = now.Add(p.rto)
		p.rto = min(2*p.rto, n.cfg.Timing.RetransmitMax)
		queued = true
	}
	return queued
}
