package store

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// model is a plain reference of what the store must hold: every object it
// accepted and has not replaced, purged, removed or deleted. The store may
// hold less (eviction, expiry) but never more, and what it dropped on its
// own must show in its Evictions and Expired counters.
type model struct {
	t      *testing.T
	s      *Store
	clk    *atomic.Int64
	r      *rand.Rand
	objs   map[*Object]bool
	gone   []*Object // removed objects, for Delete of stale pointers
	purges []loggedPurge
	seq    uint64
	fences []Fence
	ev, ex int64
}

type loggedPurge struct {
	seq uint64
	p   Purge
}

func modelMatches(p *Purge, o *Object) bool {
	if p.All || (!p.Before.IsZero() && o.ResponseTime.Before(p.Before)) {
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

func (m *model) fenced(o *Object, f Fence) bool {
	switch {
	case uint64(f) > m.seq:
		return true
	case uint64(f) == m.seq:
		return false
	case m.seq > uint64(m.s.cfg.PurgeLog) && uint64(f) < m.seq-uint64(m.s.cfg.PurgeLog):
		return true
	}
	for _, lp := range m.purges {
		if lp.seq > uint64(f) && modelMatches(&lp.p, o) {
			return true
		}
	}
	return false
}

func effVary(o *Object) []string {
	if len(o.Vary) == 0 {
		return nil
	}
	return o.Vary
}

func effSkey(o *Object) string {
	if effVary(o) == nil {
		return ""
	}
	return o.Secondary
}

var (
	rndVarys = [][]string{nil, {}, {"Accept-Encoding"}, {"Accept-Encoding", "X-Geo"}}
	rndSecs  = []string{"", "x", "y", "z"}
)

func (m *model) randomObject() *Object {
	r := m.r
	now := clockTime(m.clk)
	o := &Object{
		Primary:      fmt.Sprint("h/", r.IntN(30)),
		Secondary:    rndSecs[r.IntN(len(rndSecs))],
		Vary:         rndVarys[r.IntN(len(rndVarys))],
		Status:       200,
		Header:       http.Header{},
		ResponseTime: now.Add(-time.Duration(r.IntN(30)) * time.Second),
		Lifetime:     time.Duration(10+r.IntN(600)) * time.Second,
		InitialAge:   time.Duration(r.IntN(5)) * time.Second,
	}
	if r.IntN(3) == 0 {
		o.SWR = time.Duration(r.IntN(60)) * time.Second
	}
	if r.IntN(20) == 0 {
		o.Lifetime = -time.Minute // already expired
	}
	size := r.IntN(4000)
	if r.IntN(25) == 0 {
		size = 7000 // over MaxObjectBytes
	}
	o.Body = make([]byte, size)
	for range r.IntN(4) {
		o.Header.Add(fmt.Sprint("X-H", r.IntN(3)), "v")
	}
	for range r.IntN(5) {
		o.Keys = append(o.Keys, fmt.Sprint("k", r.IntN(20)))
	}
	return o
}

func (m *model) randomFence() Fence {
	switch n := m.r.IntN(20); {
	case n == 0:
		return m.s.Fence() + 1
	case n < 4 && len(m.fences) > 0:
		return m.fences[m.r.IntN(len(m.fences))]
	}
	return m.s.Fence()
}

func (m *model) randomPurge() Purge {
	r := m.r
	var p Purge
	switch r.IntN(30) {
	case 0:
		p.All = true
	case 1:
		p.Before = clockTime(m.clk).Add(-time.Duration(r.IntN(40)) * time.Second)
	case 2, 3, 4, 5:
		for range 1 + r.IntN(3) {
			p.URLs = append(p.URLs, fmt.Sprint("h/", r.IntN(30)))
		}
	case 6, 7:
		p.URLs = []string{fmt.Sprint("h/", r.IntN(30))}
		p.Keys = []string{fmt.Sprint("k", r.IntN(20))}
	default:
		for range 1 + r.IntN(3) {
			p.Keys = append(p.Keys, fmt.Sprint("k", r.IntN(22)))
		}
	}
	p.Soft = r.IntN(3) == 0
	return p
}

func (m *model) stored() []*Object {
	var out []*Object
	for o := range m.objs {
		out = append(out, o)
	}
	return out
}

func (m *model) step(op int) {
	t, s, r := m.t, m.s, m.r
	switch op {
	case 0, 1, 2, 3, 4, 5, 6, 7, 8: // insert
		o := m.randomObject()
		f := m.randomFence()
		var want error
		switch {
		case int64(len(o.Body)) > s.cfg.MaxObjectBytes || objectSize(o, distinct(o.Keys), packedOf(o)) > s.cfg.MaxBytes:
			want = ErrTooLarge
		case expiresNanos(o) <= m.clk.Load():
			want = ErrExpired
		case m.fenced(o, f):
			want = ErrFenced
		}
		if got := s.Insert(o, f); !errors.Is(got, want) || (want == nil && got != nil) {
			t.Fatalf("insert %q fence %d (seq %d): got %v, want %v", o.Primary, f, m.seq, got, want)
		}
		if want != nil {
			return
		}
		for x := range m.objs {
			if x.Primary == o.Primary && (!equalStrings(effVary(x), effVary(o)) || effSkey(x) == effSkey(o)) {
				delete(m.objs, x)
				m.gone = append(m.gone, x)
			}
		}
		m.objs[o] = true
	case 9: // purge
		p := m.randomPurge()
		want := 0
		for o := range m.objs {
			if modelMatches(&p, o) && (!p.Soft || !o.SoftPurged()) {
				want++
			}
		}
		if got := s.Purge(p); got != want {
			t.Fatalf("purge %+v: %d, want %d", p, got, want)
		}
		m.seq++
		m.purges = append(m.purges, loggedPurge{seq: m.seq, p: p})
		for o := range m.objs {
			if !modelMatches(&p, o) {
				continue
			}
			if p.Soft {
				if !o.SoftPurged() {
					t.Fatalf("soft purge %+v did not mark %q", p, o.Primary)
				}
				continue
			}
			delete(m.objs, o)
			m.gone = append(m.gone, o)
		}
	case 10, 11, 12: // lookup
		p := fmt.Sprint("h/", r.IntN(30))
		sk := rndSecs[r.IntN(len(rndSecs))]
		now := m.clk.Load()
		var want *Object
		wantFound := false
		for o := range m.objs {
			if o.Primary != p || o.expires <= now {
				continue
			}
			wantFound = true
			if effSkey(o) == sk || effVary(o) == nil {
				want = o
			}
		}
		got, found := s.Lookup(p, func([]string) string { return sk })
		if got != want || found != wantFound {
			t.Fatalf("lookup %q/%q: got %p %v, want %p %v", p, sk, got, found, want, wantFound)
		}
	case 13: // remove
		p := fmt.Sprint("h/", r.IntN(30))
		want := 0
		for o := range m.objs {
			if o.Primary == p {
				delete(m.objs, o)
				m.gone = append(m.gone, o)
				want++
			}
		}
		if got := s.Remove(p); got != want {
			t.Fatalf("remove %q: %d, want %d", p, got, want)
		}
	case 14: // delete a stored, a removed, or a never-inserted object
		switch objs := m.stored(); {
		case len(objs) > 0 && r.IntN(2) == 0:
			o := objs[r.IntN(len(objs))]
			s.Delete(o)
			delete(m.objs, o)
			m.gone = append(m.gone, o)
		case len(m.gone) > 0 && r.IntN(2) == 0:
			s.Delete(m.gone[r.IntN(len(m.gone))])
		default:
			s.Delete(m.randomObject())
		}
	case 15: // time passes
		m.clk.Add(int64(time.Duration(r.IntN(30)) * time.Second))
	case 16: // background work
		switch objs := m.stored(); {
		case r.IntN(3) == 0:
			s.reapAll()
		case r.IntN(2) == 0:
			s.sweepStep(1 + r.IntN(64))
		case len(objs) > 0:
			s.reclaimExpired(objs[r.IntN(len(objs))])
		}
	default: // a fetch begins
		m.fences = append(m.fences, s.Fence())
		if len(m.fences) > 30 {
			m.fences = m.fences[1:]
		}
	}
}

// reconcile checks the store against the model and drops from the model
// what the store evicted or expired on its own.
func (m *model) reconcile(op int) {
	t, s := m.t, m.s
	if err := s.invariantErr(); err != nil {
		t.Fatalf("after op %d: %v", op, err)
	}
	actual := map[*Object]bool{}
	s.mu.Lock()
	for i := range s.shards {
		for v := range s.shards[i].m.all() {
			for _, o := range v.objs {
				actual[o] = true
			}
		}
	}
	s.mu.Unlock()
	for o := range actual {
		if !m.objs[o] {
			t.Fatalf("after op %d: store holds %q/%q, which the model does not", op, o.Primary, o.skey)
		}
	}
	dropped := int64(0)
	for o := range m.objs {
		if !actual[o] {
			delete(m.objs, o)
			m.gone = append(m.gone, o)
			dropped++
		}
	}
	st := s.Stats()
	if d := st.Evictions - m.ev + st.Expired - m.ex; d != dropped {
		t.Fatalf("after op %d: store dropped %d objects, counted %d evictions+expiries", op, dropped, d)
	}
	m.ev, m.ex = st.Evictions, st.Expired
	if len(m.gone) > 200 {
		m.gone = m.gone[len(m.gone)-100:]
	}
}

func TestRandomOpsAgainstModel(t *testing.T) {
	for seed := range uint64(6) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			s, clk := newTestStore(t, Config{MaxBytes: 48 << 10, MaxObjectBytes: 6000, MaxVariants: 3, PurgeLog: 6})
			if seed%2 == 1 {
				// 32 possible hashes for 30 primaries and 20 keys: the
				// collision (overflow map) paths run all the time.
				s.hashMask = 0x10f
			}
			m := &model{t: t, s: s, clk: clk, r: rand.New(rand.NewPCG(seed, 99)), objs: map[*Object]bool{}}
			for range 3000 {
				op := m.r.IntN(19)
				m.step(op)
				m.reconcile(op)
			}
			st := s.Stats()
			overflow := 0
			for i := range s.shards {
				overflow += len(s.shards[i].m.over)
			}
			t.Logf("%+v, %d primaries in overflow maps now", st, overflow)
			if st.Evictions == 0 || st.Expired == 0 || st.Purged == 0 || st.Fenced == 0 || st.TooLarge == 0 {
				t.Fatalf("the run did not exercise every path: %+v", st)
			}
		})
	}
}

// FuzzRandomOps: operation sequences chosen by the fuzzer (a seed, a hash
// mask that forces collisions in the primary maps and the key index, a
// length) against the reference model, every structure checked after each
// operation. The seed corpus runs under go test.
func FuzzRandomOps(f *testing.F) {
	f.Add(uint64(1), uint64(0x10f), uint16(300))
	f.Add(uint64(2), uint64(0), uint16(300)) // one hash for everything: overflow maps only
	f.Add(uint64(3), ^uint64(0), uint16(300))
	f.Fuzz(func(t *testing.T, seed, mask uint64, ops uint16) {
		s, clk := newTestStore(t, Config{MaxBytes: 48 << 10, MaxObjectBytes: 6000, MaxVariants: 3, PurgeLog: 6})
		s.hashMask = mask
		m := &model{t: t, s: s, clk: clk, r: rand.New(rand.NewPCG(seed, 99)), objs: map[*Object]bool{}}
		for range min(int(ops), 2000) {
			op := m.r.IntN(19)
			m.step(op)
			m.reconcile(op)
		}
	})
}

// Many goroutines doing everything at once; afterwards every structure
// must still agree (the race detector watches meanwhile).
func TestConcurrentOpsKeepInvariants(t *testing.T) {
	s, clk := newTestStore(t, Config{MaxBytes: 256 << 10, MaxVariants: 4, PurgeLog: 32})
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 7))
			ae := []string{"Accept-Encoding"}
			for i := range 2000 {
				p := fmt.Sprint("h/", r.IntN(200))
				switch r.IntN(10) {
				case 0, 1, 2, 3:
					o := mk(clk, p, r.IntN(3000), fmt.Sprint("k", r.IntN(20)), fmt.Sprint("k", r.IntN(20)))
					if r.IntN(2) == 0 {
						o.Vary, o.Secondary = ae, fmt.Sprint(r.IntN(6))
					}
					if err := s.Insert(o, s.Fence()); err != nil && !errors.Is(err, ErrFenced) {
						t.Error(err)
						return
					}
				case 4:
					s.Purge(Purge{Keys: []string{fmt.Sprint("k", r.IntN(20))}, Soft: i%2 == 0})
				case 5:
					s.Purge(Purge{URLs: []string{p}})
				case 6:
					s.Remove(p)
				case 7:
					if o, _ := s.Lookup(p, func([]string) string { return "1" }); o != nil {
						s.Delete(o)
					}
				case 8:
					if i%500 == 0 {
						s.Purge(Purge{All: i%1000 == 0, Before: clockTime(clk)})
					}
					s.sweepStep(4)
				default:
					s.Lookup(p, func([]string) string { return "2" })
				}
				if st := s.Stats(); st.Bytes > st.MaxBytes {
					t.Errorf("bytes %d over budget %d", st.Bytes, st.MaxBytes)
					return
				}
			}
		}()
	}
	wg.Wait()
	checkInvariants(t, s)
}
