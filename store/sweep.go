package store

import "time"

// Expiry: Lookup treats objects past Expires() as absent and hands them to
// the sweeper; eviction drops expired objects it meets first; and a bounded
// background sweep walks a few shards per tick (every shard once per
// numShards/sweepShards ticks, about 8 s by default), one shard per hold of
// the writer lock.

// run is the background goroutine started by New.
func (s *Store) run() {
	defer close(s.done)
	t := time.NewTicker(s.sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case o := <-s.reclaim:
			s.reclaimExpired(o)
		case <-s.reapWake:
			s.reapAll()
		case <-t.C:
			s.sweepStep(s.sweepShards)
			s.reapAll()
		}
	}
}

// Close stops the background sweep and waits for it. It is idempotent; the
// store stays usable (expired objects are then reclaimed only by eviction).
func (s *Store) Close() {
	s.closeOnce.Do(func() { close(s.stop) })
	if s.started {
		<-s.done
	}
}

// reclaimExpired removes o if it is still stored and expired.
func (s *Store) reclaimExpired(o *Object) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o.state == stateStored && o.expires <= s.now() && s.storedLocked(o) {
		s.removeLocked(o, reasonExpired)
	}
}

// sweepStep removes the expired objects of the next n shards; it returns
// how many it removed.
func (s *Store) sweepStep(n int) int {
	removed := 0
	for range min(n, numShards) {
		s.mu.Lock()
		i := s.sweepNext
		s.sweepNext = (i + 1) % numShards
		now := s.now()
		batch := s.takeScratch()
		for v := range s.shards[i].m.all() {
			for _, o := range v.objs {
				if o.expires <= now {
					batch = append(batch, o)
				}
			}
		}
		for _, o := range batch {
			s.removeLocked(o, reasonExpired)
		}
		removed += len(batch)
		s.putScratch(batch)
		s.mu.Unlock()
	}
	return removed
}
