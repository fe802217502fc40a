package store

import (
	"slices"
	"time"
)

// purgeBatch bounds how many objects one purge handles per hold of the
// writer lock, so inserts wait at most one batch.
const purgeBatch = 1024

// Purge applies p and returns how many objects it removed (or, if Soft,
// newly marked stale). It affects the objects inserted before it; inserts
// whose fence predates it and that it matches are refused from now on.
func (s *Store) Purge(p Purge) int {
	keys := distinct(p.Keys)
	urls := distinct(p.URLs)

	s.mu.Lock()
	seq := s.seq.Load() + 1
	s.seq.Store(seq)
	s.purges.Add(1)
	s.plog.add(seq, keys, urls, p.All, p.Before)
	mark := max(s.now(), 1)
	n := 0

	// Targets by key and URL: a snapshot taken now, so objects inserted
	// after this point (fresh, or fenced) are never touched.
	if !p.All && len(keys)+len(urls) > 0 {
		targets := s.takeScratch()
		total := 0
		ids := make([]uint32, 0, len(keys))
		for _, k := range keys {
			if id := s.keyID(s.hash(k), k); id != 0 {
				ids = append(ids, id)
				total += int(s.index.sets[id].n)
			}
		}
		targets = slices.Grow(targets, total)
		for _, id := range ids {
			for pos := range s.index.sets[id].n {
				targets = append(targets, s.slots[s.index.at(id, pos)])
			}
		}
		for _, u := range urls {
			h := s.hash(u)
			if v := s.shards[uint8(h)].m.get(h, u); v != nil {
				targets = append(targets, v.objs...)
			}
		}
		for i := 0; i < len(targets); i += purgeBatch {
			if i > 0 {
				s.mu.Unlock()
				if s.hookBatch != nil {
					s.hookBatch()
				}
				s.mu.Lock()
			}
			for _, o := range targets[i:min(i+purgeBatch, len(targets))] {
				if s.purgeOneLocked(o, p.Soft, mark) {
					n++
				}
			}
		}
		s.putScratch(targets)
	}
	s.mu.Unlock()
	s.wakeReaper()
	if !p.All && p.Before.IsZero() {
		return n
	}

	// All / Before: walk the shards, one per hold of the lock.
	for i := range s.shards {
		if s.hookBatch != nil {
			s.hookBatch()
		}
		s.mu.Lock()
		batch := s.takeScratch()
		for v := range s.shards[i].m.all() {
			for _, o := range v.objs {
				if o.seq < seq && (p.All || o.ResponseTime.Before(p.Before)) {
					batch = append(batch, o)
				}
			}
		}
		for _, o := range batch {
			if s.purgeOneLocked(o, p.Soft, mark) {
				n++
			}
		}
		s.putScratch(batch)
		s.mu.Unlock()
	}
	s.wakeReaper()
	return n
}

// takeScratch hands out the reusable object slice (under mu; the caller owns
// it until putScratch, even across releases of mu).
func (s *Store) takeScratch() []*Object {
	b := s.scratch[:0]
	s.scratch = nil
	return b
}

func (s *Store) putScratch(b []*Object) {
	if cap(b) > 4*purgeBatch {
		return
	}
	clear(b)
	s.scratch = b[:0]
}

// purgeOneLocked purges o if it is still stored; true if it counted.
func (s *Store) purgeOneLocked(o *Object, soft bool, mark int64) bool {
	if o.state != stateStored {
		return false
	}
	if soft {
		if o.softPurged.CompareAndSwap(0, mark) {
			s.purged.Add(1)
			return true
		}
		return false
	}
	s.removeLocked(o, reasonPurged)
	return true
}

// purgeLog remembers the last purges for the fence, bounded in entries and
// bytes. Per key and URL it keeps the sequence of the last retained purge
// naming it, so checking an insert costs O(its keys), not O(log).
type purgeLog struct {
	entries    []logEntry // ring
	head, n    int
	maxEntries int
	maxBytes   int64
	bytes      int64
	floor      uint64 // highest sequence forgotten: fences below it cannot be proven

	keySeq  map[string]uint64
	urlSeq  map[string]uint64
	allSeq  uint64
	befores []beforeEntry // retained Before purges, oldest first
}

type logEntry struct {
	seq        uint64
	keys, urls []string
	bytes      int64
}

type beforeEntry struct {
	seq    uint64
	before time.Time
}

const logEntryOverhead = 96

func (l *purgeLog) init(maxEntries int, maxBytes int64) {
	l.maxEntries = maxEntries
	l.maxBytes = maxBytes
	l.entries = make([]logEntry, min(maxEntries, 64))
	l.keySeq = map[string]uint64{}
	l.urlSeq = map[string]uint64{}
}

func (l *purgeLog) add(seq uint64, keys, urls []string, all bool, before time.Time) {
	e := logEntry{seq: seq, keys: append([]string(nil), keys...), urls: append([]string(nil), urls...), bytes: logEntryOverhead}
	for _, k := range keys {
		l.keySeq[k] = seq
		e.bytes += int64(len(k)) + 2*stringOverhead + 24
	}
	for _, u := range urls {
		l.urlSeq[u] = seq
		e.bytes += int64(len(u)) + 2*stringOverhead + 24
	}
	if all {
		l.allSeq = seq
	}
	if !before.IsZero() {
		l.befores = append(l.befores, beforeEntry{seq: seq, before: before})
	}
	if l.n == len(l.entries) {
		ring := make([]logEntry, min(max(64, 2*len(l.entries)), l.maxEntries+1))
		for i := 0; i < l.n; i++ {
			ring[i] = l.entries[(l.head+i)%len(l.entries)]
		}
		l.entries, l.head = ring, 0
	}
	l.entries[(l.head+l.n)%len(l.entries)] = e
	l.n++
	l.bytes += e.bytes
	for l.n > l.maxEntries || (l.bytes > l.maxBytes && l.n > 1) {
		l.forgetOldest()
	}
}

func (l *purgeLog) forgetOldest() {
	e := &l.entries[l.head]
	for _, k := range e.keys {
		if l.keySeq[k] == e.seq {
			delete(l.keySeq, k)
		}
	}
	for _, u := range e.urls {
		if l.urlSeq[u] == e.seq {
			delete(l.urlSeq, u)
		}
	}
	l.floor = e.seq
	l.bytes -= e.bytes
	*e = logEntry{}
	l.head = (l.head + 1) % len(l.entries)
	l.n--
	i := 0
	for i < len(l.befores) && l.befores[i].seq <= l.floor {
		i++
	}
	if i > 0 {
		l.befores = append(l.befores[:0], l.befores[i:]...)
	}
}

// fenced reports whether an insert of o (with distinct keys) under fence f
// must be refused, the current sequence being cur.
func (l *purgeLog) fenced(o *Object, keys []string, f, cur uint64) bool {
	switch {
	case f == cur:
		return false
	case f > cur:
		return true // not a fence of this store
	case f < l.floor:
		return true // a purge after f was forgotten: cannot prove fresh
	case l.allSeq > f:
		return true
	case l.urlSeq[o.Primary] > f:
		return true
	}
	for i := len(l.befores) - 1; i >= 0 && l.befores[i].seq > f; i-- {
		if o.ResponseTime.Before(l.befores[i].before) {
			return true
		}
	}
	for _, k := range keys {
		if l.keySeq[k] > f {
			return true
		}
	}
	return false
}
