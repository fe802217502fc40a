package cluster

import (
	"container/list"
	"slices"
	"sort"
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
	log    []*logEntry         // retained entries, sorted by seq
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
// contiguous.
func (s *stream) markApplied(seq uint64) {
	if seq <= s.contig {
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
// inclusive ranges, at most max of them.
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

// find returns the index of the first retained entry with seq ≥ seq.
func (s *stream) find(seq uint64) int {
	return sort.Search(len(s.log), func(i int) bool { return s.log[i].seq >= seq })
}

func (s *stream) entry(seq uint64) *logEntry {
	i := s.find(seq)
	if i < len(s.log) && s.log[i].seq == seq {
		return s.log[i]
	}
	return nil
}

// retained counts retained entries with seq in [lo, hi].
func (s *stream) retained(lo, hi uint64) int {
	if hi < lo {
		return 0
	}
	return s.find(hi+1) - s.find(lo)
}

// retainLog is the bounded log of recent purges of all streams, evicted
// oldest-received first. Replays to nodes that missed purges come from it.
type retainLog struct {
	fifo     list.List
	bytes    int
	maxCount int
	maxBytes int
}

func (r *retainLog) add(s *stream, seq uint64, t int64, framed []byte) {
	if s.entry(seq) != nil {
		return
	}
	e := &logEntry{s: s, seq: seq, time: t, at: time.Now().UnixNano(), framed: framed}
	i := s.find(seq)
	if i == len(s.log) {
		s.log = append(s.log, e)
	} else {
		s.log = slices.Insert(s.log, i, e)
	}
	e.elem = r.fifo.PushBack(e)
	r.bytes += len(framed) + 64
	for r.fifo.Len() > r.maxCount || (r.bytes > r.maxBytes && r.fifo.Len() > 1) {
		r.evict(r.fifo.Front().Value.(*logEntry))
	}
}

func (r *retainLog) evict(e *logEntry) {
	r.fifo.Remove(e.elem)
	r.bytes -= len(e.framed) + 64
	s := e.s
	i := s.find(e.seq)
	if i < len(s.log) && s.log[i] == e {
		if i == 0 {
			s.log[0] = nil
			s.log = s.log[1:]
		} else {
			s.log = slices.Delete(s.log, i, i+1)
		}
		if len(s.log) == 0 {
			s.log = nil
		}
	}
	if e.seq <= s.contig || s.applied(e.seq) {
		s.lostTime = max(s.lostTime, e.time)
	}
}

// drop removes every entry of s (the stream is being forgotten).
func (r *retainLog) drop(s *stream) {
	for _, e := range s.log {
		r.fifo.Remove(e.elem)
		r.bytes -= len(e.framed) + 64
	}
	s.log = nil
}
