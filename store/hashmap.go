package store

import "iter"

// The primary-key maps and the surrogate-key index are keyed by the 64-bit
// maphash of the string (computed once per operation; the low byte picks
// the shard), so probing compares integers and touches the key bytes only
// to confirm a hit. A string whose hash collides with another stored
// string's goes to a small overflow map keyed by the string.
//
// Removing entries from these maps is deferred: removing the last variant
// of a primary marks its variant list dead (Lookup treats it as absent) and
// an emptied surrogate-key set stays in the index with no objects (index.go); both are
// queued and deleted from the maps later in batches (reapLocked), by the
// background goroutine and a few at a time by each Insert. So a purge of
// 100 000 objects does no map deletes at all: those cache-missing probes are
// what dominated its latency. The queued entries are small (the objects and
// their bodies are already released) and their number is bounded by the
// objects removed since the last reap.

type primaryMap struct {
	m    map[uint64]*variants
	over map[string]*variants
}

// get returns the live variant list of p, or nil.
func (pm *primaryMap) get(h uint64, p string) *variants {
	v := pm.m[h]
	if v == nil || v.primary != p {
		if pm.over == nil {
			return nil
		}
		v = pm.over[p]
		if v == nil {
			return nil
		}
	}
	if v.dead.Load() {
		return nil
	}
	return v
}

// set makes v the variant list of v.primary (replacing a dead one).
func (pm *primaryMap) set(h uint64, v *variants) {
	if pm.over != nil {
		if _, ok := pm.over[v.primary]; ok {
			pm.over[v.primary] = v
			return
		}
	}
	if cur := pm.m[h]; cur == nil || cur.primary == v.primary || cur.dead.Load() {
		pm.m[h] = v
		return
	}
	if pm.over == nil {
		pm.over = map[string]*variants{}
	}
	pm.over[v.primary] = v
}

// reap deletes v if it is still the (dead) entry of its primary.
func (pm *primaryMap) reap(v *variants) {
	if pm.m[v.hash] == v {
		delete(pm.m, v.hash)
		return
	}
	if pm.over != nil && pm.over[v.primary] == v {
		delete(pm.over, v.primary)
		if len(pm.over) == 0 {
			pm.over = nil
		}
	}
}

// all yields the live variant lists.
func (pm *primaryMap) all() iter.Seq[*variants] {
	return func(yield func(*variants) bool) {
		for _, v := range pm.m {
			if !v.dead.Load() && !yield(v) {
				return
			}
		}
		for _, v := range pm.over {
			if !v.dead.Load() && !yield(v) {
				return
			}
		}
	}
}

// reaper queues what removals left for deletion from the maps.
type reaper struct {
	variants []*variants
	sets     []uint32 // key ids
}

func (r *reaper) pending() int { return len(r.variants) + len(r.sets) }

// reapLocked deletes up to n queued entries from the maps; it returns how
// many it handled.
func (s *Store) reapLocked(n int) int {
	done := 0
	for done < n && len(s.reap.variants) > 0 {
		last := len(s.reap.variants) - 1
		v := s.reap.variants[last]
		s.reap.variants[last] = nil
		s.reap.variants = s.reap.variants[:last]
		sh := &s.shards[uint8(v.hash)]
		sh.mu.Lock()
		sh.m.reap(v)
		sh.mu.Unlock()
		done++
	}
	for done < n && len(s.reap.sets) > 0 {
		last := len(s.reap.sets) - 1
		id := s.reap.sets[last]
		s.reap.sets = s.reap.sets[:last]
		set := &s.index.sets[id]
		set.pending = false
		if set.n == 0 {
			s.delKey(id)
			s.index.empty--
		}
		done++
	}
	if s.reap.pending() == 0 {
		if cap(s.reap.variants) > 1024 {
			s.reap.variants = nil
		}
		if cap(s.reap.sets) > 4096 {
			s.reap.sets = nil
		}
	}
	return done
}

// reapBatch bounds one hold of the writer lock by the background reaper.
const reapBatch = 4096

// reapAll empties the queues, one batch per hold of the writer lock.
func (s *Store) reapAll() {
	for {
		s.mu.Lock()
		s.reapLocked(reapBatch)
		left := s.reap.pending()
		s.mu.Unlock()
		if left == 0 {
			return
		}
	}
}

// wakeReaper asks the background goroutine to reap, never blocking.
func (s *Store) wakeReaper() {
	select {
	case s.reapWake <- struct{}{}:
	default:
	}
}
