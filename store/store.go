// Package store keeps cached objects in memory within a byte budget, indexes
// them by surrogate key, and applies purges (hard, soft) behind a purge fence
// so that a fetch that began before a purge cannot re-insert stale content.
//
// The store knows nothing of HTTP wiring or of the cluster: objects carry the
// response data the edge gives them, and purges are plain values.
package store

import (
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Errors returned by Insert.
var (
	// ErrFenced: a purge that matches the object was applied after the
	// fetch began (its Fence was taken); the object was not stored.
	ErrFenced = errors.New("store: object fenced by a later purge")
	// ErrTooLarge: the object is larger than the maximum object size.
	ErrTooLarge = errors.New("store: object larger than max object size")
)

// Config bounds the store.
type Config struct {
	MaxBytes       int64 // byte budget: bodies, headers, keys and index overhead (default 256 MiB)
	MaxObjectBytes int64 // larger objects are refused (default MaxBytes/8)
	MaxVariants    int   // variants per primary key, oldest evicted (default 200)
	PurgeLog       int   // purges remembered for the fence (default 4096)
}

// Object is one cached response variant. It is immutable once inserted,
// except for the soft-purge mark; a revalidated object is replaced by a new
// Object (which may share Body).
type Object struct {
	Primary   string   // primary cache key (see KeyFor)
	Secondary string   // variant key: normalised request values of the Vary fields
	Vary      []string // canonical field names from the response's Vary, sorted; nil if none

	Status int
	Header http.Header // headers to deliver (hop-by-hop and surrogate fields removed)
	Body   []byte
	Keys   []string // surrogate keys (validated by the edge)

	RequestTime  time.Time     // when the fetch was sent
	ResponseTime time.Time     // when the response headers arrived (the insert time)
	InitialAge   time.Duration // RFC 9111 §4.2.3 corrected_initial_age
	Lifetime     time.Duration // freshness lifetime
	SWR          time.Duration // stale-while-revalidate window after Lifetime
	SIE          time.Duration // stale-if-error window after Lifetime
	Keep         time.Duration // extra time kept after Lifetime for revalidation
	// Flags copied from the response's directives that the edge needs on a hit.
	MustRevalidate bool // must-revalidate / proxy-revalidate / s-maxage: no stale serving
	NoCache        bool // no-cache: always revalidate before use

	softPurged atomic.Int64 // unix nanos of the soft purge, 0 if none
	accessed   atomic.Bool  // eviction hint
	size       int64
}

// Age returns the object's current age (RFC 9111 §4.2.3).
func (o *Object) Age(now time.Time) time.Duration {
	return o.InitialAge + now.Sub(o.ResponseTime)
}

// TTL returns the remaining freshness (negative when stale). A soft-purged
// object is always stale.
func (o *Object) TTL(now time.Time) time.Duration {
	if o.SoftPurged() {
		return -1
	}
	return o.Lifetime - o.Age(now)
}

// SoftPurged reports whether a soft purge marked the object stale.
func (o *Object) SoftPurged() bool { return o.softPurged.Load() != 0 }

// Expires is when the store may drop the object: the end of freshness plus
// the longest of its stale windows and keep time.
func (o *Object) Expires() time.Time {
	grace := max(o.SWR, o.SIE, o.Keep)
	return o.ResponseTime.Add(o.Lifetime - o.InitialAge + grace)
}

// Size is the number of bytes the object counts against the budget.
func (o *Object) Size() int64 { return o.size }

func (o *Object) computeSize() int64 {
	n := int64(objectOverhead) + int64(len(o.Primary)+len(o.Secondary)+len(o.Body))
	for _, v := range o.Vary {
		n += int64(len(v)) + 16
	}
	for k, vs := range o.Header {
		n += int64(len(k)) + 48
		for _, v := range vs {
			n += int64(len(v)) + 16
		}
	}
	for _, k := range o.Keys {
		n += int64(len(k)) + keyIndexOverhead
	}
	return n
}

// Approximate bookkeeping costs, counted against the budget.
const (
	objectOverhead   = 400 // Object struct, map entries, list links
	keyIndexOverhead = 64  // one surrogate-key index entry
)

// Purge is one purge request. Exactly what it matches: every object tagged
// with any of Keys, every object whose Primary is in URLs, everything if All,
// and every object inserted before Before if Before is set.
type Purge struct {
	Origin string    // accepting node (set by the cluster; empty = local only)
	Seq    uint64    // sequence on the accepting node
	Time   time.Time // when it was accepted
	Keys   []string
	URLs   []string // primary keys (KeyFor)
	All    bool
	Before time.Time
	Soft   bool // mark stale instead of removing
}

// Fence is taken when a fetch begins and handed to Insert.
type Fence uint64

// Stats is a snapshot of the store's counters.
type Stats struct {
	Objects       int64
	Bytes         int64
	Evictions     int64 // removed to stay within the budget
	Expired       int64 // removed because they expired
	Purged        int64 // removed or marked by purges
	Fenced        int64 // inserts refused by the purge fence
	TooLarge      int64 // inserts refused for size
	SurrogateKeys int64 // distinct surrogate keys indexed
}

type variants struct {
	vary []string
	objs []*Object // oldest first
}

// Store is safe for concurrent use.
type Store struct {
	cfg Config

	mu      sync.RWMutex
	entries map[string]*variants
	index   map[string]map[*Object]struct{}
	bytes   int64
	objects int64

	seq  uint64 // purge sequence for fences
	log  []loggedPurge
	stat Stats
}

type loggedPurge struct {
	seq uint64
	p   Purge
}

// New returns an empty store.
func New(cfg Config) *Store {
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 256 << 20
	}
	if cfg.MaxObjectBytes <= 0 {
		cfg.MaxObjectBytes = cfg.MaxBytes / 8
	}
	if cfg.MaxVariants <= 0 {
		cfg.MaxVariants = 200
	}
	if cfg.PurgeLog <= 0 {
		cfg.PurgeLog = 4096
	}
	return &Store{cfg: cfg, entries: map[string]*variants{}, index: map[string]map[*Object]struct{}{}}
}

// Config returns the store's effective configuration.
func (s *Store) Config() Config { return s.cfg }

// Lookup finds the variant of primary whose Secondary equals
// secondary(vary), where vary is the stored Vary field list of that URL.
// found reports whether any variant of primary exists (uri-miss vs vary-miss).
func (s *Store) Lookup(primary string, secondary func(vary []string) string) (o *Object, found bool) {
	s.mu.RLock()
	v := s.entries[primary]
	if v == nil {
		s.mu.RUnlock()
		return nil, false
	}
	sk := ""
	if v.vary != nil {
		sk = secondary(v.vary)
	}
	for _, obj := range v.objs {
		if obj.Secondary == sk {
			o = obj
			break
		}
	}
	s.mu.RUnlock()
	if o != nil {
		o.accessed.Store(true)
	}
	return o, true
}

// Fence returns the token a fetch takes when it begins.
func (s *Store) Fence() Fence {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return Fence(s.seq)
}

// Insert stores o (replacing the variant with the same Primary and
// Secondary) unless a purge that matches it was applied after f was taken.
func (s *Store) Insert(o *Object, f Fence) error {
	o.size = o.computeSize()
	if int64(len(o.Body)) > s.cfg.MaxObjectBytes || o.size > s.cfg.MaxBytes {
		s.mu.Lock()
		s.stat.TooLarge++
		s.mu.Unlock()
		return ErrTooLarge
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fenced(o, uint64(f)) {
		s.stat.Fenced++
		return ErrFenced
	}
	v := s.entries[o.Primary]
	if v == nil {
		v = &variants{}
		s.entries[o.Primary] = v
	}
	if !equalStrings(v.vary, o.Vary) {
		for _, old := range v.objs {
			s.unindex(old)
		}
		v.objs = nil
		v.vary = o.Vary
	}
	for i, old := range v.objs {
		if old.Secondary == o.Secondary {
			s.unindex(old)
			v.objs = append(v.objs[:i], v.objs[i+1:]...)
			break
		}
	}
	for len(v.objs) >= s.cfg.MaxVariants {
		s.unindex(v.objs[0])
		v.objs = v.objs[1:]
		s.stat.Evictions++
	}
	v.objs = append(v.objs, o)
	s.bytes += o.size
	s.objects++
	for _, k := range o.Keys {
		m := s.index[k]
		if m == nil {
			m = map[*Object]struct{}{}
			s.index[k] = m
		}
		m[o] = struct{}{}
	}
	s.evictLocked()
	return nil
}

func (s *Store) fenced(o *Object, f uint64) bool {
	if f >= s.seq {
		return false
	}
	if len(s.log) == 0 || s.log[0].seq > f+1 {
		return true // purges after the fence were forgotten: cannot prove fresh
	}
	for i := len(s.log) - 1; i >= 0 && s.log[i].seq > f; i-- {
		if matches(&s.log[i].p, o) {
			return true
		}
	}
	return false
}

func matches(p *Purge, o *Object) bool {
	if p.All {
		return true
	}
	if !p.Before.IsZero() && o.ResponseTime.Before(p.Before) {
		return true
	}
	for _, u := range p.URLs {
		if u == o.Primary {
			return true
		}
	}
	for _, k := range p.Keys {
		for _, ok := range o.Keys {
			if k == ok {
				return true
			}
		}
	}
	return false
}

// unindex removes o from the key index and the byte count (not from its variants list).
func (s *Store) unindex(o *Object) {
	for _, k := range o.Keys {
		if m := s.index[k]; m != nil {
			delete(m, o)
			if len(m) == 0 {
				delete(s.index, k)
			}
		}
	}
	s.bytes -= o.size
	s.objects--
}

func (s *Store) removeLocked(o *Object) {
	v := s.entries[o.Primary]
	if v == nil {
		return
	}
	for i, obj := range v.objs {
		if obj == o {
			s.unindex(o)
			v.objs = append(v.objs[:i], v.objs[i+1:]...)
			if len(v.objs) == 0 {
				delete(s.entries, o.Primary)
			}
			return
		}
	}
}

func (s *Store) evictLocked() {
	if s.bytes <= s.cfg.MaxBytes {
		return
	}
	now := time.Now()
	// Simple policy for the first version: expired first, then unaccessed, then anything.
	for pass := 0; pass < 3 && s.bytes > s.cfg.MaxBytes; pass++ {
		for _, v := range s.entries {
			for _, o := range append([]*Object(nil), v.objs...) {
				if s.bytes <= s.cfg.MaxBytes {
					return
				}
				switch {
				case now.After(o.Expires()):
					s.removeLocked(o)
					s.stat.Expired++
				case pass >= 1 && !o.accessed.Load():
					s.removeLocked(o)
					s.stat.Evictions++
				case pass == 2:
					s.removeLocked(o)
					s.stat.Evictions++
				default:
					o.accessed.Store(false)
				}
			}
		}
	}
}

// Purge applies p and returns how many objects it removed or marked.
func (s *Store) Purge(p Purge) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	s.log = append(s.log, loggedPurge{seq: s.seq, p: p})
	if len(s.log) > s.cfg.PurgeLog {
		s.log = append(s.log[:0:0], s.log[len(s.log)-s.cfg.PurgeLog:]...)
	}
	hit := map[*Object]struct{}{}
	if p.All || !p.Before.IsZero() {
		for _, v := range s.entries {
			for _, o := range v.objs {
				if matches(&p, o) {
					hit[o] = struct{}{}
				}
			}
		}
	}
	for _, u := range p.URLs {
		if v := s.entries[u]; v != nil {
			for _, o := range v.objs {
				hit[o] = struct{}{}
			}
		}
	}
	for _, k := range p.Keys {
		for o := range s.index[k] {
			hit[o] = struct{}{}
		}
	}
	n := 0
	for o := range hit {
		if p.Soft {
			if o.softPurged.CompareAndSwap(0, time.Now().UnixNano()) {
				n++
			}
			continue
		}
		s.removeLocked(o)
		n++
	}
	s.stat.Purged += int64(n)
	return n
}

// Remove drops every variant of primary (invalidation after an unsafe
// method). It is not a purge: it does not fence in-flight fetches.
func (s *Store) Remove(primary string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.entries[primary]
	if v == nil {
		return 0
	}
	n := len(v.objs)
	for _, o := range append([]*Object(nil), v.objs...) {
		s.removeLocked(o)
	}
	return n
}

// Delete removes exactly o if it is still stored (e.g. a Vary: * response
// replaced it, or it expired past its keep time).
func (s *Store) Delete(o *Object) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removeLocked(o)
}

// Stats returns a snapshot of the counters.
func (s *Store) Stats() Stats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := s.stat
	st.Objects = s.objects
	st.Bytes = s.bytes
	st.SurrogateKeys = int64(len(s.index))
	return st
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) || (a == nil) != (b == nil) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
