package cluster

import (
	"container/list"
	"slices"
	"time"
)

// A stream is the purge sequence of one boot of one node: (origin name,
// epoch). Sequence numbers start at 1 on every boot, so a restarted node's
// purges are never mistaken for old ones.
type streamKey struct {
	origin string
	epoch  uint64
}

type stream struct {
	key    streamKey
	contig uint64              // every seq ≤ contig is applied (or provably irrelevant here)
	ahead  map[uint64]struct{} // applied seqs > contig
	// Retained entries, indexed by seq: log[i] has seq base+i (nil: not
	// retained). Sequences are dense per stream, so this is a window over
	// the recent ones with O(1) insert, lookup and eviction.
	base uint64
	log  []*logEntry
	// Seqs ≤ contig that are not in log may be missing: evicted, or never
	// received because a peer vouched for them. lostTime is the newest
	// origin time such an entry can have (unix nanos).
	lostTime int64
	lastTime int64 // newest origin time seen on this stream
	touched  int64 // local unix nanos of the last change
}

type logEntry struct {
	s      *stream
	seq    uint64
	time   int64  // origin time
	at     int64  // local time it was retained
	framed []byte // length-prefixed wire entry
	elem   *list.Element
}

func (s *stream) applied(seq uint64) bool {
	if seq <= s.contig {
		return true
	}
	_, ok := s.ahead[seq]
	return ok
}

// markApplied records seq as applied and advances contig over what became
// contiguous. Sequences beyond maxSeq (the decoder refuses them) are
// ignored, so contig+1 never overflows.
func (s *stream) markApplied(seq uint64) {
	if seq <= s.contig || seq > maxSeq {
		return
	}
	if seq != s.contig+1 {
		if s.ahead == nil {
			s.ahead = map[uint64]struct{}{}
		}
		s.ahead[seq] = struct{}{}
		return
	}
	s.contig = seq
	s.absorb()
}

func (s *stream) absorb() {
	for len(s.ahead) > 0 {
		if _, ok := s.ahead[s.contig+1]; !ok {
			break
		}
		delete(s.ahead, s.contig+1)
		s.contig++
	}
	if len(s.ahead) == 0 {
		s.ahead = nil
	}
}

// advanceTo moves contig up to `to` on someone's word (a replay claim).
func (s *stream) advanceTo(to uint64) {
	to = min(to, maxSeq)
	if to <= s.contig {
		return
	}
	s.contig = to
	for seq := range s.ahead {
		if seq <= to {
			delete(s.ahead, seq)
		}
	}
	s.absorb()
}

// aheadRanges returns the applied seqs beyond contig as ascending
// inclusive ranges, at most limit of them.
func (s *stream) aheadRanges(limit int) [][2]uint64 {
	if len(s.ahead) == 0 {
		return nil
	}
	seqs := make([]uint64, 0, len(s.ahead))
	for q := range s.ahead {
		seqs = append(seqs, q)
	}
	slices.Sort(seqs)
	var out [][2]uint64
	for _, q := range seqs {
		if n := len(out); n > 0 && out[n-1][1]+1 == q {
			out[n-1][1] = q
			continue
		}
		if len(out) == limit {
			break
		}
		out = append(out, [2]uint64{q, q})
	}
	return out
}

// end is one past the highest seq the window covers. The window only ever
// holds seqs in [1, maxSeq] (add refuses others), so this cannot overflow.
func (s *stream) end() uint64 { return s.base + uint64(len(s.log)) }

func (s *stream) entry(seq uint64) *logEntry {
	if seq < s.base || seq >= s.end() {
		return nil
	}
	return s.log[seq-s.base]
}

// retained counts retained entries with seq in [lo, hi].
func (s *stream) retained(lo, hi uint64) int {
	if len(s.log) == 0 || hi < lo {
		return 0
	}
	lo, hi = max(lo, s.base), min(hi, s.end()-1)
	n := 0
	for q := lo; q <= hi && q >= lo; q++ {
		if s.log[q-s.base] != nil {
			n++
		}
	}
	return n
}

// trimFront drops empty slots at the start of the window.
func (s *stream) trimFront() {
	k := 0
	for k < len(s.log) && s.log[k] == nil {
		k++
	}
	if k == len(s.log) {
		s.log, s.base = nil, 0
		return
	}
	clear(s.log[:k])
	s.log = s.log[k:]
	s.base += uint64(k)
}

// retainLog is a bounded log of recent purges, evicted oldest-received
// first. Replays to nodes that missed purges, and retransmissions of our
// own purges, come from it. A node keeps two: one for its own stream and
// one shared by every other stream, so that a burst of other nodes'
// purges cannot push out own purges a member has not acknowledged yet.
//
// Bytes are counted as the wire entry plus entryOverhead, a little more
// than what an entry really costs in memory, plus slotBytes per slot of the
// streams' windows (holes included, so that sparse sequences cannot grow
// windows past the byte bound). The byte bound is the one that binds;
// maxCount bounds a window's span, and tests shrink it.
type retainLog struct {
	fifo     list.List
	bytes    int
	maxCount int
	maxBytes int
	// ackedTo, if set, returns the highest seq every live member has
	// acknowledged: entries above it are kept beyond maxCount and maxBytes,
	// up to hardFactor times those bounds (flow control: an own purge
	// leaves the log once acknowledged, or once its member is dead).
	ackedTo func() uint64
}

// entryOverhead is what a retained entry costs besides its wire bytes and
// its window slot: the logEntry and its list element, rounded up (a
// single-key entry measured 169 bytes of heap in all, and is counted as
// 204).
const (
	entryOverhead = 152
	slotBytes     = 8
)

// hardFactor bounds how far unacknowledged own purges may hold the own log
// over its soft bounds.
const hardFactor = 2

// maxSpan bounds a stream's window (retained entries and the holes
// between them).
func (r *retainLog) maxSpan() uint64 { return uint64(4*r.maxCount + 1024) }

func (r *retainLog) add(s *stream, seq uint64, t int64, framed []byte) {
	if seq == 0 || seq > maxSeq {
		return // never on the wire (the decoder refuses it); keeps the window arithmetic in range
	}
	if s.entry(seq) != nil {
		return
	}
	span := r.maxSpan()
	slots := len(s.log)
	e := &logEntry{s: s, seq: seq, time: t, at: time.Now().UnixNano(), framed: framed}
	switch {
	case len(s.log) == 0:
		s.base, s.log = seq, append(s.log[:0], e)
	case seq >= s.end():
		// Make room at the end; a window that would grow too wide loses
		// its oldest entries (seq ≥ end > base: no underflow).
		if seq-s.base >= span {
			drop := min(seq-s.base-span+1, uint64(len(s.log)))
			for _, old := range s.log[:drop] {
				if old != nil {
					r.unlink(old)
				}
			}
			clear(s.log[:drop])
			s.log = s.log[drop:]
			s.base += drop
			s.trimFront()
		}
		if len(s.log) == 0 {
			s.base, s.log = seq, append(s.log[:0], e)
			break
		}
		// Now seq-base < span: at most span slots.
		for s.end() < seq {
			s.log = append(s.log, nil)
		}
		s.log = append(s.log, e)
	case seq >= s.base: // inside the window (seq < end)
		s.log[seq-s.base] = e
	default: // older than the window (seq < base < end)
		if s.end()-seq > span {
			s.lostTime = max(s.lostTime, t)
			return // too old to keep next to what we hold
		}
		grown := make([]*logEntry, s.end()-seq)
		copy(grown[s.base-seq:], s.log)
		grown[0] = e
		s.base, s.log = seq, grown
	}
	e.elem = r.fifo.PushBack(e)
	r.bytes += len(framed) + entryOverhead + slotBytes*(len(s.log)-slots)
	r.trim()
}

// trim evicts the oldest entries while the log is over its bounds, keeping
// those not acknowledged by every live member (ackedTo) until the hard
// bounds.
func (r *retainLog) trim() {
	keepAbove := uint64(maxSeq)
	if r.ackedTo != nil && r.over(1) {
		keepAbove = r.ackedTo()
	}
	for r.over(1) {
		e := r.fifo.Front().Value.(*logEntry)
		if e.seq > keepAbove && !r.over(hardFactor) {
			return
		}
		r.evict(e)
	}
}

// over: the log holds more than factor times its bounds (a single entry
// is always kept, however large).
func (r *retainLog) over(factor int) bool {
	return r.fifo.Len() > factor*r.maxCount || (r.bytes > factor*r.maxBytes && r.fifo.Len() > 1)
}

// unlink removes e from the eviction order (its slot is the caller's).
func (r *retainLog) unlink(e *logEntry) {
	r.fifo.Remove(e.elem)
	r.bytes -= len(e.framed) + entryOverhead
	e.s.lostTime = max(e.s.lostTime, e.time)
}

// evict drops an entry (normally the oldest received).
func (r *retainLog) evict(e *logEntry) {
	r.unlink(e)
	s := e.s
	if s.entry(e.seq) == e {
		slots := len(s.log)
		s.log[e.seq-s.base] = nil
		s.trimFront()
		r.bytes -= slotBytes * (slots - len(s.log))
	}
}

// drop removes every entry of s (the stream is being forgotten).
func (r *retainLog) drop(s *stream) {
	for _, e := range s.log {
		if e != nil {
			r.fifo.Remove(e.elem)
			r.bytes -= len(e.framed) + entryOverhead
		}
	}
	r.bytes -= slotBytes * len(s.log)
	s.log, s.base = nil, 0
}
