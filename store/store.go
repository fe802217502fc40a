// Package store keeps cached objects in memory within a byte budget, indexes
// them by surrogate key, and applies purges (hard, soft) behind a purge fence
// so that a fetch that began before a purge cannot re-insert stale content.
//
// The store knows nothing of HTTP wiring or of the cluster: objects carry the
// response data the edge gives them, and purges are plain values.
//
// # Concurrency
//
// The hit path (Lookup) takes one read lock of one of 256 shards of the
// primary-key map, for the duration of a map access, and allocates nothing.
// The Vary callback runs with no lock held. The variant list of a primary key
// is copy-on-write, so a reader never sees it change under it.
//
// Every change (Insert, Purge, Remove, Delete, eviction, expiry) runs under
// one writer mutex, so the primary-key map, the surrogate-key index, the
// eviction queues, the byte count and the purge log change together and stay
// exactly consistent. Long operations (a purge of many objects, the
// background expiry sweep, the reaper of deferred map deletions; see
// hashmap.go) release that mutex between bounded batches, so an insert never
// waits for more than one batch. Inserts are serialised; they are the miss
// path, and an insert costs about 2 µs.
//
// # Memory per object, and the garbage collector
//
// A Go collection marks every reachable heap object, so its cost grows with
// the number of objects and pointers the cache holds, and it runs on the
// cores that serve hits. An object as the edge builds it from a parsed
// response is about 23 heap objects (a string per header value, a slice
// per field, the map, keys, links); the store keeps it as about 7 (see
// BenchmarkHeapPerObject and `make bench-store`):
//
//   - Insert packs the object's strings (primary, variant key, Vary, header
//     names and values, surrogate keys) into one byte block, and their
//     []string backings into one slab (pack.go): the header map the edge
//     reads on a hit is unchanged in shape, its strings are views into the
//     block. The body keeps its own buffer: it holds no pointers, so the
//     collector never scans it, and copying it would cost every insert.
//   - The store's own structures name objects by slot id (uint32) in one
//     slot table, not by pointer: the surrogate-key index (keys interned to
//     ids in a map[uint64]uint32, pointer-free sets, posting lists of slot
//     ids; index.go) and the S3-FIFO queue links (evict.go). The table is
//     the one pointer per object the store holds besides its variant list.
//   - A variant list of one variant and an object's first two key links
//     are held inline, not in slices of their own.
//
// What the designs read for this do, and what was taken. VictoriaMetrics
// fastcache splits the cache into 512 buckets, each a map[uint64]uint64
// from key hash to a position in its ring of 64 KiB chunks (allocated off
// the Go heap with mmap); freecache keeps entries in a ring buffer per
// segment indexed by sorted slot arrays of plain integers; bigcache keeps
// map[uint64]uint32 offsets into a byte queue per shard. All three rely on
// the collector not scanning maps and slices whose elements hold no
// pointers, so a cache of any size costs a collection almost nothing. They
// also give up what this store must keep: they copy a value out on every
// get (this store hands the edge its stored header and body without a
// copy), they have no variants and no secondary index, and they evict by
// overwriting a whole ring or chunk, not per object within an exact byte
// budget. Varnish's xkey hashes each key (SHA-256) into a tree of key
// heads, each listing the objects it tags, while each object lists its
// heads, so purging a key walks one list. Taken: xkey's two-way lists, in
// the integers-only form of bigcache's index (interned key ids, slot ids,
// posting lists of uint32, hash maps without pointers), and fastcache's
// one-block-per-entry at object scale (pack.go). Not taken, and why: byte
// rings with copy-out on get (a hit here writes stored bytes, a copy per
// hit of a 64 KiB body would cost more than the collector saves), and
// memory outside the Go heap (the body handed to the edge must stay valid
// while a slow client reads it; Go's collector guarantees that for heap
// memory). Still pointer-bearing per object, and the next step: the Object
// struct, its header map and slab (a header block delivered as bytes would
// remove both), and the variant list in the shard map. Measured for the
// slot ids (BenchmarkHeapPerObject, A/B in one run): scannable heap per
// object 1 108 -> 1 029 B, live heap 1 423 -> 1 372 B. Tried and left out:
// the variant list of a URL's only variant held inside its Object (one
// heap object less per object, 7 -> 6, at the same bytes), because every
// object of a URL with several variants then carries an unused list
// (+104 B each, 10 %), and responses that vary by country are the common
// case of the users this store is built for.
//
// # Budget
//
// Bytes counts, per object, the packed block and slab, the body's
// capacity, the header map, and upper bounds of the store's own
// bookkeeping (TestBudgetCountsRealMemory
// checks them against the Go heap). Insert evicts before it adds, so Bytes
// never exceeds MaxBytes. Not counted: the purge log (bounded separately by
// PurgeLog entries and max(1 MiB, MaxBytes/16) bytes) and the map entries of
// removed objects waiting for the reaper (bounded by recent removals).
//
// # Eviction
//
// S3-FIFO in bytes; see evict.go for why.
//
// # Purge fence
//
// Every purge gets a local sequence number. Fence returns the current one;
// Insert refuses an object when a purge with a later sequence matches it, or
// when the bounded purge log no longer reaches back to the fence. A purge
// affects exactly the objects inserted before it: objects inserted while it
// runs are either fenced or were fetched after it began.
package store

import (
	"errors"
	"hash/maphash"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Errors returned by Insert.
var (
	// ErrFenced: a purge that matches the object was applied after the
	// fetch began (its Fence was taken), or the purge log no longer reaches
	// back to the fence; the object was not stored.
	ErrFenced = errors.New("store: object fenced by a later purge")
	// ErrTooLarge: the object is larger than the maximum object size.
	ErrTooLarge = errors.New("store: object larger than max object size")
	// ErrExpired: the object's Expires() is not in the future; storing it
	// would be useless (Lookup treats expired objects as absent).
	ErrExpired = errors.New("store: object already expired")
	// ErrInserted: the Object was already inserted (into this or another
	// store). A refreshed response needs a new Object (it may share Body).
	ErrInserted = errors.New("store: object already inserted")
	// ErrNilObject: Insert was given nil.
	ErrNilObject = errors.New("store: nil object")
)

// Config bounds the store.
type Config struct {
	MaxBytes       int64 // byte budget: bodies, headers, keys and index overhead (default 256 MiB)
	MaxObjectBytes int64 // objects with a larger body are refused (default MaxBytes/8, at most MaxBytes)
	MaxVariants    int   // variants per primary key, oldest evicted (default 200)
	PurgeLog       int   // purges remembered for the fence (default 4096)
}

// Object is one cached response variant. It must not be modified once
// handed to Insert, except through the store (soft-purge mark); a
// revalidated object is replaced by a new Object (which may share Body).
type Object struct {
	Primary   string   // primary cache key (see KeyFor)
	Secondary string   // variant key: normalised request values of the Vary fields (ignored when Vary is empty)
	Vary      []string // canonical field names from the response's Vary, sorted; nil if none

	Status int
	Header http.Header // headers to deliver (hop-by-hop and surrogate fields removed)
	Body   []byte
	Keys   []string // surrogate keys (validated by the edge; duplicates are indexed once)

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
	Shared         bool // public / s-maxage / must-revalidate: reusable for requests with Authorization (RFC 9111 §3.5)

	softPurged atomic.Int64 // unix nanos of the soft purge, 0 if none
	freq       atomic.Int32 // S3-FIFO access counter, 0..maxFreq (set on hits, lock-free)
	claimed    atomic.Bool  // handed to an Insert that did not fail

	// Set by Insert before the object is published; read-only afterwards.
	size    int64
	expires int64  // Expires() in unix nanos
	skey    string // effective variant key ("" when Vary is empty)

	// Guarded by Store.mu.
	phash      uint64     // maphash of Primary; its low byte is the shard
	seq        uint64     // purge sequence when inserted: purges with a higher sequence do not touch it
	ghost      uint64     // identity hash of primary+variant for the ghost queue
	slot       uint32     // index in Store.slots while stored (0: none)
	prev, next uint32     // eviction queue neighbours (slot ids)
	state      uint8      // stateNew, stateStored, stateRemoved
	queue      uint8      // qSmall, qMain
	links      []keyLink  // one per distinct surrogate key
	linkBuf    [2]keyLink // links of an object with at most two keys
	vs         *variants  // the published variant list that holds it
}

const (
	stateNew uint8 = iota
	stateStored
	stateRemoved
)

// Age returns the object's current age (RFC 9111 §4.2.3).
func (o *Object) Age(now time.Time) time.Duration {
	return o.InitialAge + now.Sub(o.ResponseTime)
}

// TTL returns the remaining freshness (negative when stale). A soft-purged
// object is always stale, and its staleness counts from the soft purge
// (or from its own expiry if that came first): its stale-while-revalidate
// and stale-if-error windows run from the purge, not from the end of its
// original lifetime.
func (o *Object) TTL(now time.Time) time.Duration {
	ttl := o.Lifetime - o.Age(now)
	if mark := o.softPurged.Load(); mark != 0 {
		since := now.Sub(time.Unix(0, mark))
		ttl = min(ttl, -max(since, 1))
	}
	return ttl
}

// SoftPurged reports whether a soft purge marked the object stale.
func (o *Object) SoftPurged() bool { return o.softPurged.Load() != 0 }

// Expires is when the store may drop the object: the end of freshness plus
// the longest of its stale windows and keep time.
func (o *Object) Expires() time.Time {
	grace := max(o.SWR, o.SIE, o.Keep, 0)
	return o.ResponseTime.Add(o.Lifetime - o.InitialAge + grace)
}

// Size is the number of bytes the object counts against the budget (set by
// Insert; 0 before).
func (o *Object) Size() int64 { return o.size }

var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

func expiresNanos(o *Object) int64 {
	e := o.Expires()
	switch {
	case e.Before(minTime):
		return math.MinInt64
	case e.After(maxTime):
		return math.MaxInt64
	}
	return e.UnixNano()
}

// Bookkeeping costs counted against the budget. They are upper bounds of
// what the Go runtime allocates for one object on amd64 (checked by
// TestBudgetCountsRealMemory): the Object struct, its slot in the primary
// map and variant list, its ghost-queue slot, its slot-table entry (a
// pointer and a free id, twice for the table's growth), the packed header
// map (a small Go map allocates a whole group of 8 slots; a larger one up
// to twice its entries), and per surrogate key the index entry, as if every
// key were indexed by this object alone (keySet, map slot, key link,
// index.go). The packed strings (pack.go) count at the capacity of their
// block and slab.
const (
	objectOverhead      = int64(unsafe.Sizeof(Object{})) + 64 + 240 + 24
	headerMapOverhead   = 400 // map header + its one group of 8 slots
	headerGroupBytes    = 352 // a group of 8 (string, []string) slots, rounded up to its size class
	headerTableOverhead = 112 // map header, directory and table of a map larger than one group
	stringOverhead      = 16  // string header in a slice
	keyIndexOverhead    = 128 // keySet (32, twice for growth) + map[uint64]uint32 slot (with growth) + keyLink + posting entry
)

// headerMapBytes is what pack's make(http.Header, fields) allocates: one
// group up to 8 fields, else a table whose slots are the next power of two
// that holds them at the maximum load of 7/8.
func headerMapBytes(fields int) int64 {
	if fields <= 8 {
		return headerMapOverhead
	}
	slots := 16
	for slots*7/8 < fields {
		slots *= 2
	}
	return headerTableOverhead + int64(slots/8)*headerGroupBytes
}

// objectSize is what o costs once packed (pk), given its distinct
// surrogate keys.
func objectSize(o *Object, keys []string, pk packed) int64 {
	n := objectOverhead + int64(pk.block) + int64(pk.slab)*stringOverhead
	n += int64(cap(o.Body))
	if o.Header != nil {
		n += headerMapBytes(pk.fields)
	}
	n += int64(len(keys)) * keyIndexOverhead
	return n
}

// Purge is one purge request. Exactly what it matches: every object tagged
// with any of Keys, every object whose Primary is in URLs, everything if All,
// and every object whose ResponseTime is before Before if Before is set. It
// affects only objects inserted before it.
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
	Evictions     int64 // removed to stay within the budget or the variant cap
	Expired       int64 // removed because they expired
	Purged        int64 // removed or marked by purges
	Fenced        int64 // inserts refused by the purge fence
	TooLarge      int64 // inserts refused for size
	SurrogateKeys int64 // distinct surrogate keys indexed
	Purges        int64 // purges applied
	MaxBytes      int64 // the byte budget
}

// variants of one primary key. Copy-on-write: never modified once published
// in a shard map, so Lookup reads it without a lock.
type variants struct {
	dead    atomic.Bool // removed; the map entry waits for the reaper
	hash    uint64
	primary string
	vary    []string
	objs    []*Object  // oldest first
	one     [1]*Object // objs of a single variant (the common case: no second allocation)
}

// newVariants returns the variant list of primary holding objs and then
// add (if not nil); a single object is held in the list itself.
func newVariants(h uint64, primary string, vary []string, objs []*Object, add *Object) *variants {
	v := &variants{hash: h, primary: primary, vary: vary}
	switch {
	case len(objs) == 0 && add != nil:
		v.one[0] = add
		v.objs = v.one[:]
	case len(objs) == 1 && add == nil:
		v.one[0] = objs[0]
		v.objs = v.one[:]
	case add != nil:
		v.objs = append(objs[:len(objs):len(objs)], add)
	default:
		v.objs = objs
	}
	return v
}

const numShards = 256

type shard struct {
	mu sync.RWMutex
	m  primaryMap     // written only under Store.mu (and mu)
	_  [128 - 40]byte // keep shards on separate cache lines
}

// Store is safe for concurrent use.
type Store struct {
	cfg      Config
	seed     maphash.Seed
	hashMask uint64
	shards   [numShards]shard

	// Clock: wall time derived from the monotonic clock (one vDSO read, and
	// no jumps). fake replaces it in tests.
	base     time.Time
	baseWall int64
	fake     *atomic.Int64

	_ [64]byte // read-mostly fields above, written ones below

	seq atomic.Uint64 // purge sequence; written under mu

	mu      sync.Mutex // the writer lock; see the package comment
	index   keyIndex
	slots   []*Object // by slot id; slots[0] is unused (see index.go)
	free    []uint32  // free slot ids
	ev      evictor
	plog    purgeLog
	reap    reaper
	scratch []*Object // reused by batch operations

	objects, bytes, keys atomic.Int64
	evictions, expired   atomic.Int64
	purged, fenced       atomic.Int64
	tooLarge, purges     atomic.Int64

	// Background sweep.
	reclaim     chan *Object // expired objects seen by Lookup
	reapWake    chan struct{}
	stop, done  chan struct{}
	closeOnce   sync.Once
	started     bool
	sweepNext   int // guarded by mu
	sweepEvery  time.Duration
	sweepShards int

	hookBatch func() // tests: called between the batches of a purge, lock released
}

// New returns an empty store and starts its background expiry sweep; Close
// stops it.
func New(cfg Config) *Store {
	s := newStore(cfg, nil)
	s.started = true
	go s.run()
	return s
}

// newStore builds a store without starting the sweeper; fake, if set, is
// the clock in unix nanos.
func newStore(cfg Config, fake *atomic.Int64) *Store {
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 256 << 20
	}
	if cfg.MaxObjectBytes <= 0 {
		cfg.MaxObjectBytes = cfg.MaxBytes / 8
	}
	cfg.MaxObjectBytes = min(cfg.MaxObjectBytes, cfg.MaxBytes)
	if cfg.MaxVariants <= 0 {
		cfg.MaxVariants = 200
	}
	if cfg.PurgeLog <= 0 {
		cfg.PurgeLog = 4096
	}
	s := &Store{
		cfg:         cfg,
		seed:        maphash.MakeSeed(),
		hashMask:    ^uint64(0),
		fake:        fake,
		reclaim:     make(chan *Object, 256),
		reapWake:    make(chan struct{}, 1),
		stop:        make(chan struct{}),
		done:        make(chan struct{}),
		sweepEvery:  250 * time.Millisecond,
		sweepShards: 8,
	}
	s.index.init()
	s.slots = make([]*Object, 1)
	s.base = time.Now()
	s.baseWall = s.base.UnixNano()
	for i := range s.shards {
		s.shards[i].m.m = map[uint64]*variants{}
	}
	s.ev.init(cfg.MaxBytes)
	s.plog.init(cfg.PurgeLog, max(1<<20, cfg.MaxBytes/16))
	return s
}

// Config returns the store's effective configuration.
func (s *Store) Config() Config { return s.cfg }

func (s *Store) now() int64 {
	if s.fake != nil {
		return s.fake.Load()
	}
	return s.baseWall + int64(time.Since(s.base))
}

// hash is the 64-bit hash of a primary or surrogate key (hashMask is all
// ones except in tests that force collisions).
func (s *Store) hash(str string) uint64 { return maphash.String(s.seed, str) & s.hashMask }

// Lookup finds the variant of primary whose Secondary equals
// secondary(vary), where vary is the stored Vary field list of that URL
// (secondary is not called when the URL has no Vary; it must not modify
// vary). found reports whether any unexpired variant of primary exists
// (uri-miss vs vary-miss). Expired objects are treated as absent.
func (s *Store) Lookup(primary string, secondary func(vary []string) string) (o *Object, found bool) {
	h := s.hash(primary)
	sh := &s.shards[uint8(h)]
	sh.mu.RLock()
	v := sh.m.get(h, primary)
	sh.mu.RUnlock()
	if v == nil {
		return nil, false
	}
	sk := ""
	if v.vary != nil && secondary != nil {
		sk = secondary(v.vary)
	}
	now := s.now()
	for _, obj := range v.objs {
		if obj.skey != sk {
			continue
		}
		if obj.expires > now {
			if f := obj.freq.Load(); f < maxFreq {
				obj.freq.CompareAndSwap(f, f+1)
			}
			return obj, true
		}
		s.expiredSeen(obj)
		break
	}
	for _, obj := range v.objs {
		if obj.expires > now {
			return nil, true
		}
	}
	return nil, false
}

// expiredSeen hands an expired object to the sweeper, never blocking.
func (s *Store) expiredSeen(o *Object) {
	select {
	case s.reclaim <- o:
	default:
	}
}

// Fence returns the token a fetch takes when it begins.
func (s *Store) Fence() Fence { return Fence(s.seq.Load()) }

// Insert stores o (replacing the variant with the same Primary and
// Secondary; replacing all variants if o's Vary differs from theirs;
// evicting the oldest variant beyond MaxVariants) unless a purge that
// matches it was applied after f was taken. After Insert returns, the
// store's bytes are within the budget.
func (s *Store) Insert(o *Object, f Fence) error {
	if o == nil {
		return ErrNilObject
	}
	if !o.claimed.CompareAndSwap(false, true) {
		return ErrInserted
	}
	err := s.insert(o, uint64(f))
	if err != nil {
		o.claimed.Store(false)
	}
	return err
}

func (s *Store) insert(o *Object, f uint64) error {
	vary := varyOf(o)
	skey := ""
	if vary != nil {
		skey = o.Secondary
	}
	pk := pack(o)
	keys := distinct(o.Keys)
	size := objectSize(o, keys, pk)
	if int64(len(o.Body)) > s.cfg.MaxObjectBytes || size > s.cfg.MaxBytes {
		s.tooLarge.Add(1)
		return ErrTooLarge
	}
	exp := expiresNanos(o)
	now := s.now()
	if exp <= now {
		return ErrExpired
	}
	ph := s.hash(o.Primary)
	ghost := ph ^ (s.hash(skey) * 0x9e3779b97f4a7c15)
	sh := &s.shards[uint8(ph)]

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reap.pending() > 0 {
		s.reapLocked(insertReap)
	}
	if s.plog.fenced(o, keys, f, s.seq.Load()) {
		s.fenced.Add(1)
		return ErrFenced
	}
	o.size, o.expires, o.skey, o.phash, o.ghost = size, exp, skey, ph, ghost

	// Make room among the variants.
	if v := sh.m.get(ph, o.Primary); v != nil {
		if !equalStrings(v.vary, vary) {
			s.removeVariantsLocked(ph, o.Primary, reasonReplaced)
		} else {
			for _, old := range v.objs {
				if old.skey == skey {
					s.removeLocked(old, reasonReplaced)
					break
				}
			}
		}
	}
	for {
		v := sh.m.get(ph, o.Primary)
		if v == nil || len(v.objs) < s.cfg.MaxVariants {
			break
		}
		s.removeLocked(v.objs[0], reasonEvicted)
	}
	// Make room in the budget before o counts, so Bytes never exceeds it.
	for s.bytes.Load()+size > s.cfg.MaxBytes && s.evictOneLocked(now) {
	}

	var objs []*Object
	if v := sh.m.get(ph, o.Primary); v != nil {
		objs = v.objs
	}
	s.publishLocked(newVariants(ph, o.Primary, vary, objs, o))

	s.takeSlotLocked(o)
	s.indexLocked(o, keys)
	s.ev.push(s.slots, o)
	o.seq = s.seq.Load()
	o.state = stateStored
	s.objects.Add(1)
	s.bytes.Add(size)
	return nil
}

// takeSlotLocked gives o a slot id.
func (s *Store) takeSlotLocked(o *Object) {
	if n := len(s.free); n > 0 {
		o.slot = s.free[n-1]
		s.free = s.free[:n-1]
		s.slots[o.slot] = o
		return
	}
	if len(s.slots) == math.MaxUint32 {
		panic("store: more than 2^32-1 objects")
	}
	o.slot = uint32(len(s.slots))
	s.slots = append(s.slots, o)
}

// freeSlotLocked releases o's slot id for the next insert.
func (s *Store) freeSlotLocked(o *Object) {
	if o.slot == 0 {
		return
	}
	s.slots[o.slot] = nil
	s.free = append(s.free, o.slot)
	o.slot = 0
}

// insertReap is how many deferred map deletions each Insert performs.
const insertReap = 4

type reason uint8

const (
	reasonReplaced reason = iota // replaced by a newer variant, Remove, Delete
	reasonEvicted
	reasonExpired
	reasonPurged
)

// varyOf is o's Vary as its variant list holds it. A list takes its
// primary and Vary from one of its objects: they are views into that
// object's packed block, which must not outlive it in the list.
func varyOf(o *Object) []string {
	if len(o.Vary) == 0 {
		return nil
	}
	return o.Vary
}

// removeLocked drops one stored object from everything.
func (s *Store) removeLocked(o *Object, why reason) {
	v := o.vs
	if v == nil {
		return
	}
	i := 0
	for i < len(v.objs) && v.objs[i] != o {
		i++
	}
	if i == len(v.objs) {
		return
	}
	switch len(v.objs) {
	case 1:
		s.killLocked(v)
	case 2:
		rest := v.objs[1-i]
		s.publishLocked(newVariants(v.hash, rest.Primary, varyOf(rest), nil, rest))
	default:
		objs := append(v.objs[:i:i], v.objs[i+1:]...)
		s.publishLocked(newVariants(v.hash, objs[0].Primary, varyOf(objs[0]), objs, nil))
	}
	s.unlinkLocked(o, why)
}

// publishLocked makes v the variant list of primary.
func (s *Store) publishLocked(v *variants) {
	for _, o := range v.objs {
		o.vs = v
	}
	sh := &s.shards[uint8(v.hash)]
	sh.mu.Lock()
	sh.m.set(v.hash, v)
	sh.mu.Unlock()
}

// killLocked makes v (whose objects are being removed) absent for Lookup
// and queues its map entry for the reaper.
func (s *Store) killLocked(v *variants) {
	v.dead.Store(true)
	s.reap.variants = append(s.reap.variants, v)
}

// removeVariantsLocked drops every variant of primary; it returns how many.
func (s *Store) removeVariantsLocked(h uint64, primary string, why reason) int {
	v := s.shards[uint8(h)].m.get(h, primary)
	if v == nil {
		return 0
	}
	s.killLocked(v)
	for _, o := range v.objs {
		s.unlinkLocked(o, why)
	}
	return len(v.objs)
}

// unlinkLocked removes o, already gone from its shard map, from the index,
// the eviction queues and the counts.
func (s *Store) unlinkLocked(o *Object, why reason) {
	s.unindexLocked(o)
	s.ev.remove(s.slots, o)
	s.freeSlotLocked(o)
	o.state = stateRemoved
	o.vs = nil
	s.objects.Add(-1)
	s.bytes.Add(-o.size)
	s.ev.trimGhost(s.objects.Load())
	switch why {
	case reasonEvicted:
		s.evictions.Add(1)
	case reasonExpired:
		s.expired.Add(1)
	case reasonPurged:
		s.purged.Add(1)
	}
}

// stored reports whether o is stored in s (safe for objects of other stores).
func (s *Store) storedLocked(o *Object) bool {
	if o == nil {
		return false
	}
	h := s.hash(o.Primary)
	v := s.shards[uint8(h)].m.get(h, o.Primary)
	if v == nil {
		return false
	}
	for _, obj := range v.objs {
		if obj == o {
			return true
		}
	}
	return false
}

// Remove drops every variant of primary (invalidation after an unsafe
// method). It is not a purge: it does not fence in-flight fetches.
func (s *Store) Remove(primary string) int {
	h := s.hash(primary)
	s.mu.Lock()
	n := s.removeVariantsLocked(h, primary, reasonReplaced)
	s.mu.Unlock()
	s.wakeReaper()
	return n
}

// Delete removes exactly o if it is still stored (e.g. a Vary: * response
// replaced it, or it expired past its keep time).
func (s *Store) Delete(o *Object) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.storedLocked(o) {
		s.removeLocked(o, reasonReplaced)
	}
}

// Stats returns a snapshot of the counters.
func (s *Store) Stats() Stats {
	return Stats{
		Objects:       s.objects.Load(),
		Bytes:         s.bytes.Load(),
		Evictions:     s.evictions.Load(),
		Expired:       s.expired.Load(),
		Purged:        s.purged.Load(),
		Fenced:        s.fenced.Load(),
		TooLarge:      s.tooLarge.Load(),
		SurrogateKeys: s.keys.Load(),
		Purges:        s.purges.Load(),
		MaxBytes:      s.cfg.MaxBytes,
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// distinct returns ss without duplicates, in first-seen order; ss itself
// when it has none.
func distinct(ss []string) []string {
	if len(ss) < 2 {
		return ss
	}
	if len(ss) <= 16 {
		for i := 1; i < len(ss); i++ {
			for j := 0; j < i; j++ {
				if ss[i] == ss[j] {
					return distinctSlow(ss)
				}
			}
		}
		return ss
	}
	return distinctSlow(ss)
}

func distinctSlow(ss []string) []string {
	seen := make(map[string]struct{}, len(ss))
	out := make([]string, 0, len(ss))
	for _, k := range ss {
		if _, ok := seen[k]; !ok {
			seen[k] = struct{}{}
			out = append(out, k)
		}
	}
	return out
}
