package store

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestCollector(t *testing.T) {
	s, clk := newTestStore(t, Config{MaxBytes: 20000, MaxObjectBytes: 5000, MaxVariants: 1})
	reg := prometheus.NewRegistry()
	if err := reg.Register(NewCollector(s)); err != nil {
		t.Fatal(err)
	}
	a := mk(clk, "a", 3000, "k1", "k2")
	mustInsert(t, s, a)
	for i := range 6 { // fill past the budget: evictions
		mustInsert(t, s, mk(clk, "f/"+string(rune('0'+i)), 4000, "k3"))
	}
	f := s.Fence()
	s.Purge(Purge{Keys: []string{"k3"}})
	if err := s.Insert(mk(clk, "late", 10, "k3"), f); !errors.Is(err, ErrFenced) {
		t.Fatal(err)
	}
	if err := s.Insert(mk(clk, "big", 6000), s.Fence()); !errors.Is(err, ErrTooLarge) {
		t.Fatal(err)
	}
	keep := mk(clk, "keep", 100, "x", "y")
	mustInsert(t, s, keep)
	exp := mk(clk, "exp", 100)
	exp.Lifetime = 1e9
	mustInsert(t, s, exp)
	clk.Add(2e9)
	s.sweepStep(numShards)

	st := s.Stats()
	if st.Evictions == 0 || st.Purged == 0 {
		t.Fatalf("scenario did not evict and purge: %+v", st)
	}
	want := `
# HELP meshcdn_store_bytes Bytes counted against the budget: bodies, headers, keys and index overhead.
# TYPE meshcdn_store_bytes gauge
meshcdn_store_bytes ` + itoa(st.Bytes) + `
# HELP meshcdn_store_evictions_total Objects evicted to stay within the byte budget or the variant cap.
# TYPE meshcdn_store_evictions_total counter
meshcdn_store_evictions_total ` + itoa(st.Evictions) + `
# HELP meshcdn_store_expired_total Objects removed because they expired.
# TYPE meshcdn_store_expired_total counter
meshcdn_store_expired_total 1
# HELP meshcdn_store_fenced_total Inserts refused by the purge fence.
# TYPE meshcdn_store_fenced_total counter
meshcdn_store_fenced_total 1
# HELP meshcdn_store_max_bytes The byte budget.
# TYPE meshcdn_store_max_bytes gauge
meshcdn_store_max_bytes 20000
# HELP meshcdn_store_objects Objects (response variants) stored.
# TYPE meshcdn_store_objects gauge
meshcdn_store_objects ` + itoa(st.Objects) + `
# HELP meshcdn_store_purged_objects_total Objects removed or marked stale by purges.
# TYPE meshcdn_store_purged_objects_total counter
meshcdn_store_purged_objects_total ` + itoa(st.Purged) + `
# HELP meshcdn_store_purges_total Purges applied to the store.
# TYPE meshcdn_store_purges_total counter
meshcdn_store_purges_total 1
# HELP meshcdn_store_surrogate_keys Distinct surrogate keys indexed.
# TYPE meshcdn_store_surrogate_keys gauge
meshcdn_store_surrogate_keys ` + itoa(st.SurrogateKeys) + `
# HELP meshcdn_store_too_large_total Inserts refused for exceeding the max object size.
# TYPE meshcdn_store_too_large_total counter
meshcdn_store_too_large_total 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	if st.Objects != 1+boolInt(has(s, "a")) || st.SurrogateKeys != 2+2*boolInt(has(s, "a")) {
		t.Fatalf("objects/keys: %+v", st)
	}
	if n := testutil.CollectAndCount(NewCollector(s)); n != 10 {
		t.Fatalf("%d metrics, want 10", n)
	}
	problems, err := testutil.CollectAndLint(NewCollector(s))
	if err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", err, problems)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
