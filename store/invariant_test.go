package store

import (
	"fmt"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// checkInvariants fails the test unless every structure of s agrees with
// every other: the primary maps, the variant lists, the surrogate-key index,
// the eviction queues, the ghost queue, the counters and the purge log.
func checkInvariants(t testing.TB, s *Store) {
	t.Helper()
	if err := s.invariantErr(); err != nil {
		t.Fatalf("invariant broken: %v", err)
	}
}

func (s *Store) invariantErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.shards {
		s.shards[i].mu.RLock()
		defer s.shards[i].mu.RUnlock()
	}

	stored := map[*Object]bool{}
	var bytes int64
	links := 0
	reapV := map[*variants]bool{}
	for _, v := range s.reap.variants {
		if reapV[v] || !v.dead.Load() {
			return fmt.Errorf("reaper queue: %q twice or not dead", v.primary)
		}
		reapV[v] = true
	}
	for i := range s.shards {
		pm := &s.shards[i].m
		for _, v := range pm.over {
			if v.dead.Load() && !reapV[v] {
				return fmt.Errorf("dead overflow entry %q not queued for the reaper", v.primary)
			}
		}
		for h, v := range pm.m {
			if v.dead.Load() {
				if !reapV[v] {
					return fmt.Errorf("dead entry %q not queued for the reaper", v.primary)
				}
				for _, o := range v.objs {
					if o.state != stateRemoved {
						return fmt.Errorf("dead entry %q holds an object in state %d", v.primary, o.state)
					}
				}
			}
			if v.hash != h {
				return fmt.Errorf("primary %q under hash %x, its list says %x", v.primary, h, v.hash)
			}
			if s.hash(v.primary) != h {
				return fmt.Errorf("primary %q under hash %x, hashes to %x", v.primary, h, s.hash(v.primary))
			}
			if _, dup := pm.over[v.primary]; dup {
				return fmt.Errorf("primary %q in the map and the overflow map", v.primary)
			}
		}
		for p, v := range pm.over {
			if v.primary != p {
				return fmt.Errorf("overflow entry %q holds %q", p, v.primary)
			}
		}
		for v := range pm.all() {
			p := v.primary
			if int(uint8(s.hash(p))) != i {
				return fmt.Errorf("primary %q in shard %d, hashes to %d", p, i, uint8(s.hash(p)))
			}
			if pm.get(s.hash(p), p) != v {
				return fmt.Errorf("primary %q: get does not find its entry", p)
			}
			if len(v.objs) == 0 || len(v.objs) > s.cfg.MaxVariants {
				return fmt.Errorf("primary %q has %d variants (max %d)", p, len(v.objs), s.cfg.MaxVariants)
			}
			if v.vary != nil && len(v.vary) == 0 {
				return fmt.Errorf("primary %q: empty non-nil vary", p)
			}
			skeys := map[string]bool{}
			for _, o := range v.objs {
				if stored[o] {
					return fmt.Errorf("object %q/%q stored twice", p, o.skey)
				}
				stored[o] = true
				if o.vs != v {
					return fmt.Errorf("object %q/%q: stale variant list pointer", p, o.skey)
				}
				if o.Primary != p || o.phash != s.hash(p) {
					return fmt.Errorf("object %q under primary %q (hash %x)", o.Primary, p, o.phash)
				}
				if o.state != stateStored || !o.claimed.Load() {
					return fmt.Errorf("object %q/%q in map with state %d claimed %v", p, o.skey, o.state, o.claimed.Load())
				}
				vary := o.Vary
				if len(vary) == 0 {
					vary = nil
				}
				if !equalStrings(vary, v.vary) || (vary == nil) != (v.vary == nil) {
					return fmt.Errorf("object %q/%q vary %v, primary's %v", p, o.skey, o.Vary, v.vary)
				}
				want := ""
				if vary != nil {
					want = o.Secondary
				}
				if o.skey != want {
					return fmt.Errorf("object %q: skey %q want %q", p, o.skey, want)
				}
				if skeys[o.skey] {
					return fmt.Errorf("primary %q: two variants %q", p, o.skey)
				}
				skeys[o.skey] = true
				if o.queue != qSmall && o.queue != qMain {
					return fmt.Errorf("object %q/%q in no queue", p, o.skey)
				}
				if o.seq > s.seq.Load() {
					return fmt.Errorf("object %q seq %d > store seq %d", p, o.seq, s.seq.Load())
				}
				keys := distinct(o.Keys)
				if len(keys) != len(o.links) {
					return fmt.Errorf("object %q: %d links for %d keys", p, len(o.links), len(keys))
				}
				for j, k := range keys {
					l := o.links[j]
					if l.key == 0 || s.keyID(s.hash(k), k) != l.key || s.keyName(l.key) != k || o.Keys[l.k] != k {
						return fmt.Errorf("object %q key %q: link to wrong set", p, k)
					}
					if l.pos >= s.index.sets[l.key].n || s.index.at(l.key, l.pos) != o.slot {
						return fmt.Errorf("object %q key %q: set position %d wrong", p, k, l.pos)
					}
				}
				if o.slot == 0 || int(o.slot) >= len(s.slots) || s.slots[o.slot] != o {
					return fmt.Errorf("object %q: slot %d does not hold it", p, o.slot)
				}
				if want := objectSize(o, keys, packedOf(o)); o.size != want {
					return fmt.Errorf("object %q size %d, computes %d", p, o.size, want)
				}
				links += len(keys)
				bytes += o.size
			}
		}
	}

	refs := 0
	ki := &s.index
	for h, id := range ki.ids {
		set := ki.sets[id]
		if set.hash != h || set.over || (set.n > 0 && s.hash(s.keyName(id)) != h) {
			return fmt.Errorf("index key %q (id %d) under hash %x", s.keyName(id), id, h)
		}
	}
	for k, id := range ki.over {
		if ki.overKeys[id] != k || s.hash(k) != ki.sets[id].hash || !ki.sets[id].over {
			return fmt.Errorf("index overflow key %q holds %q", k, ki.overKeys[id])
		}
		if ki.ids[ki.sets[id].hash] == id {
			return fmt.Errorf("index key %q in the map and the overflow map", k)
		}
	}
	if len(ki.overKeys) != len(ki.over) {
		return fmt.Errorf("overflow map %d keys, names %d", len(ki.over), len(ki.overKeys))
	}
	reapS := map[uint32]bool{}
	for _, id := range s.reap.sets {
		if reapS[id] || !ki.sets[id].pending {
			return fmt.Errorf("reaper queue: set %d twice or not marked pending", id)
		}
		reapS[id] = true
	}
	free := map[uint32]bool{}
	for _, id := range ki.freeIDs {
		if free[id] || ki.sets[id] != (keySet{}) {
			return fmt.Errorf("free key id %d twice or in use", id)
		}
		free[id] = true
	}
	lists := map[uint32]bool{}
	for _, l := range ki.freeList {
		if lists[l] || ki.lists[l] != nil {
			return fmt.Errorf("free posting list %d twice or in use", l)
		}
		lists[l] = true
	}
	empty := 0
	for id := uint32(1); id < uint32(len(ki.sets)); id++ {
		if free[id] {
			continue
		}
		set := ki.sets[id]
		k := s.keyName(id)
		indexed := ki.ids[set.hash] == id || (set.over && ki.over[k] == id)
		if !indexed {
			return fmt.Errorf("key id %d (%q) neither free nor indexed", id, k)
		}
		if (set.n > 0 || set.over) && s.keyID(set.hash, k) != id {
			return fmt.Errorf("index key %q: not found by keyID", k)
		}
		if set.pending != reapS[id] {
			return fmt.Errorf("index key %q: pending %v, queued %v", k, set.pending, reapS[id])
		}
		if set.list != 0 && (lists[set.list] || len(ki.lists[set.list]) != int(set.n)) {
			return fmt.Errorf("index key %q: posting list %d of %d for %d objects", k, set.list, len(ki.lists[set.list]), set.n)
		}
		if set.list == 0 && set.n > 1 {
			return fmt.Errorf("index key %q: %d objects inline", k, set.n)
		}
		if set.n == 0 {
			if !set.pending {
				return fmt.Errorf("index key %q: empty and not queued for the reaper", k)
			}
			empty++
		}
		for pos := range set.n {
			slot := ki.at(id, pos)
			o := s.slots[slot]
			if o == nil || !stored[o] {
				return fmt.Errorf("index key %q holds slot %d, not a stored object", k, slot)
			}
			back := 0
			for _, l := range o.links {
				if l.key == id {
					back++
					if l.pos != pos {
						return fmt.Errorf("index key %q pos %d: back link says %d", k, pos, l.pos)
					}
				}
			}
			if back != 1 {
				return fmt.Errorf("index key %q pos %d: %d back links", k, pos, back)
			}
		}
		refs += int(set.n)
	}
	if empty != ki.empty {
		return fmt.Errorf("index has %d empty sets, counts %d", empty, ki.empty)
	}
	if refs != links {
		return fmt.Errorf("index holds %d refs, objects %d links", refs, links)
	}
	inUse := 0
	for i, o := range s.slots {
		if o != nil {
			inUse++
			if i == 0 || !stored[o] || o.slot != uint32(i) {
				return fmt.Errorf("slot %d holds %q, not stored there", i, o.Primary)
			}
		}
	}
	if inUse+len(s.free) != len(s.slots)-1 {
		return fmt.Errorf("slots: %d in use, %d free, table %d", inUse, len(s.free), len(s.slots))
	}

	queued := 0
	for _, q := range []struct {
		q  *fifo
		id uint8
	}{{&s.ev.small, qSmall}, {&s.ev.main, qMain}} {
		n := 0
		var b int64
		var prev uint32
		for id := q.q.head; id != 0; id = s.slots[id].next {
			o := s.slots[id]
			if o == nil || o.prev != prev || o.queue != q.id || !stored[o] {
				return fmt.Errorf("queue %d: broken at slot %d", q.id, id)
			}
			prev = id
			n++
			b += o.size
			if n > len(stored) {
				return fmt.Errorf("queue %d: cycle", q.id)
			}
		}
		if prev != q.q.tail || n != q.q.n || b != q.q.bytes {
			return fmt.Errorf("queue %d: tail/count/bytes %d/%d, walked %d/%d", q.id, q.q.n, q.q.bytes, n, b)
		}
		queued += n
	}
	if queued != len(stored) {
		return fmt.Errorf("%d objects queued, %d stored", queued, len(stored))
	}

	switch {
	case s.objects.Load() != int64(len(stored)):
		return fmt.Errorf("objects counter %d, stored %d", s.objects.Load(), len(stored))
	case s.bytes.Load() != bytes:
		return fmt.Errorf("bytes counter %d, objects sum %d", s.bytes.Load(), bytes)
	case bytes > s.cfg.MaxBytes:
		return fmt.Errorf("bytes %d over budget %d", bytes, s.cfg.MaxBytes)
	case s.keys.Load() != int64(s.index.len()):
		return fmt.Errorf("keys counter %d, index %d", s.keys.Load(), s.index.len())
	}

	g := &s.ev.ghost
	if int64(g.n) > int64(len(stored)) {
		return fmt.Errorf("ghost queue %d entries for %d objects", g.n, len(stored))
	}
	counts := map[uint64]int32{}
	for i := 0; i < g.n; i++ {
		counts[g.ring[(g.head+i)%len(g.ring)]]++
	}
	if len(counts) != len(g.set) {
		return fmt.Errorf("ghost set %d hashes, ring %d", len(g.set), len(counts))
	}
	for h, c := range counts {
		if g.set[h] != c {
			return fmt.Errorf("ghost count of %x: %d, ring %d", h, g.set[h], c)
		}
	}

	l := &s.plog
	if l.n > l.maxEntries || (l.bytes > l.maxBytes && l.n > 1) {
		return fmt.Errorf("purge log %d entries %d bytes (max %d, %d)", l.n, l.bytes, l.maxEntries, l.maxBytes)
	}
	var lb int64
	keySeq, urlSeq := map[string]uint64{}, map[string]uint64{}
	last := l.floor
	for i := 0; i < l.n; i++ {
		e := l.entries[(l.head+i)%len(l.entries)]
		if e.seq <= last || e.seq > s.seq.Load() {
			return fmt.Errorf("purge log out of order: %d after %d", e.seq, last)
		}
		last = e.seq
		lb += e.bytes
		for _, k := range e.keys {
			keySeq[k] = e.seq
		}
		for _, u := range e.urls {
			urlSeq[u] = e.seq
		}
	}
	if lb != l.bytes {
		return fmt.Errorf("purge log bytes %d, entries sum %d", l.bytes, lb)
	}
	if fmt.Sprint(keySeq) != fmt.Sprint(l.keySeq) || fmt.Sprint(urlSeq) != fmt.Sprint(l.urlSeq) {
		return fmt.Errorf("purge log key/url sequences disagree with its entries")
	}
	for _, b := range l.befores {
		if b.seq <= l.floor {
			return fmt.Errorf("purge log keeps a forgotten Before purge %d (floor %d)", b.seq, l.floor)
		}
	}
	return nil
}

// Test helpers.

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// newTestStore returns a store on a fake clock (unix nanos) without the
// background sweeper.
func newTestStore(t testing.TB, cfg Config) (*Store, *atomic.Int64) {
	t.Helper()
	clk := new(atomic.Int64)
	clk.Store(epoch.UnixNano())
	s := newStore(cfg, clk)
	t.Cleanup(func() {
		if err := s.invariantErr(); err != nil {
			t.Errorf("invariant broken at end of test: %v", err)
		}
	})
	return s, clk
}

func clockTime(clk *atomic.Int64) time.Time { return time.Unix(0, clk.Load()) }

// mk builds an object fresh for an hour at the clock's time.
func mk(clk *atomic.Int64, primary string, body int, keys ...string) *Object {
	now := clockTime(clk)
	return &Object{
		Primary: primary, Status: 200,
		Header: http.Header{"Content-Type": {"text/plain"}},
		Body:   make([]byte, body), Keys: keys,
		RequestTime: now, ResponseTime: now, Lifetime: time.Hour,
	}
}

func mustInsert(t testing.TB, s *Store, o *Object) {
	t.Helper()
	if err := s.Insert(o, s.Fence()); err != nil {
		t.Fatalf("insert %q: %v", o.Primary, err)
	}
}

func noVary([]string) string { return "" }

func has(s *Store, primary string) bool {
	o, _ := s.Lookup(primary, noVary)
	return o != nil
}

// packedOf is what pack allocates for o (its strings, packed or not).
func packedOf(o *Object) packed {
	n, strs, fields := packCounts(o)
	return packed{block: cap(slices.Grow([]byte(nil), n)), slab: cap(slices.Grow([]string(nil), strs)), fields: fields}
}
