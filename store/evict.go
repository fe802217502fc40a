package store

// Eviction: S3-FIFO (Yang et al., "FIFO queues are all you need for cache
// eviction", SOSP 2023), counted in bytes.
//
// Why S3-FIFO: a CDN's request stream is dominated by one-hit wonders
// (crawlers, long-tail URLs, cache-busting queries) and by scans. S3-FIFO
// admits new objects into a small FIFO (10% of the budget); only objects hit
// again while there move to the main FIFO, so a scan of any length of cold
// objects only churns the small queue and never displaces the hot working
// set in the main queue (LRU and plain CLOCK/SIEVE would flush it). Objects
// evicted from the small queue leave their hash in a ghost queue; if they
// come back soon they go straight to the main queue. The main queue is a
// CLOCK with a 2-bit frequency, so hits only set an atomic counter: the hit
// path takes no lock and moves nothing (unlike LRU), and all queue changes
// happen under the writer lock on insert and removal. Its miss ratio matches
// or beats LRU, ARC and TinyLFU on the published CDN traces.

const maxFreq = 3

const (
	qSmall uint8 = iota + 1
	qMain
)

// fifo is an intrusive doubly linked list over slot ids (0: none): head is
// newest, tail oldest. Links are slot ids, not pointers, so an object's
// queue links give the collector nothing to follow.
type fifo struct {
	head, tail uint32
	n          int
	bytes      int64
}

func (q *fifo) pushHead(slots []*Object, o *Object) {
	o.prev, o.next = 0, q.head
	if q.head != 0 {
		slots[q.head].prev = o.slot
	} else {
		q.tail = o.slot
	}
	q.head = o.slot
	q.n++
	q.bytes += o.size
}

func (q *fifo) unlink(slots []*Object, o *Object) {
	if o.prev != 0 {
		slots[o.prev].next = o.next
	} else {
		q.head = o.next
	}
	if o.next != 0 {
		slots[o.next].prev = o.prev
	} else {
		q.tail = o.prev
	}
	o.prev, o.next = 0, 0
	q.n--
	q.bytes -= o.size
}

type evictor struct {
	small, main fifo
	smallTarget int64 // bytes
	ghost       ghostQueue
}

func (e *evictor) init(maxBytes int64) {
	e.smallTarget = max(maxBytes/10, 1)
	e.ghost.set = map[uint64]int32{}
}

// push queues a newly inserted object: into main if its ghost is
// remembered, otherwise into small.
func (e *evictor) push(slots []*Object, o *Object) {
	if e.ghost.contains(o.ghost) {
		o.queue = qMain
		e.main.pushHead(slots, o)
		return
	}
	o.queue = qSmall
	e.small.pushHead(slots, o)
}

func (e *evictor) remove(slots []*Object, o *Object) {
	switch o.queue {
	case qSmall:
		e.small.unlink(slots, o)
	case qMain:
		e.main.unlink(slots, o)
	}
	o.queue = 0
}

// trimGhost keeps the ghost queue no longer than the number of stored
// objects (its memory is paid for in objectOverhead).
func (e *evictor) trimGhost(objects int64) {
	for int64(e.ghost.n) > objects {
		e.ghost.pop()
	}
}

// evictOneLocked removes one object (an expired one, or the S3-FIFO victim);
// false if nothing is stored.
func (s *Store) evictOneLocked(now int64) bool {
	e := &s.ev
	for {
		if e.small.n == 0 && e.main.n == 0 {
			return false
		}
		if e.small.n > 0 && (e.small.bytes > e.smallTarget || e.main.n == 0) {
			t := s.slots[e.small.tail]
			if t.expires <= now {
				s.removeLocked(t, reasonExpired)
				return true
			}
			if t.freq.Load() > 0 {
				e.small.unlink(s.slots, t)
				t.queue = qMain
				e.main.pushHead(s.slots, t)
				continue
			}
			e.ghost.push(t.ghost)
			s.removeLocked(t, reasonEvicted)
			return true
		}
		t := s.slots[e.main.tail]
		if t.expires <= now {
			s.removeLocked(t, reasonExpired)
			return true
		}
		if f := t.freq.Load(); f > 0 {
			t.freq.Store(min(f, maxFreq) - 1)
			e.main.unlink(s.slots, t)
			e.main.pushHead(s.slots, t)
			continue
		}
		s.removeLocked(t, reasonEvicted)
		return true
	}
}

// ghostQueue remembers hashes of objects recently evicted from the small
// queue, FIFO, with a multiset for membership.
type ghostQueue struct {
	ring    []uint64
	head, n int
	set     map[uint64]int32
}

func (g *ghostQueue) contains(h uint64) bool { return g.set[h] > 0 }

func (g *ghostQueue) push(h uint64) {
	if g.n == len(g.ring) {
		ring := make([]uint64, max(64, 2*len(g.ring)))
		for i := 0; i < g.n; i++ {
			ring[i] = g.ring[(g.head+i)%len(g.ring)]
		}
		g.ring, g.head = ring, 0
	}
	g.ring[(g.head+g.n)%len(g.ring)] = h
	g.n++
	g.set[h]++
}

func (g *ghostQueue) pop() {
	if g.n == 0 {
		return
	}
	h := g.ring[g.head]
	g.head = (g.head + 1) % len(g.ring)
	g.n--
	if c := g.set[h]; c <= 1 {
		delete(g.set, h)
	} else {
		g.set[h] = c - 1
	}
}
