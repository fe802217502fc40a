package edge

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshcdn/meshcdn/store"
)

// budgetObjectSize is the body size of /obj/n: 1-4 KiB, spread over n.
func budgetObjectSize(n int) int { return 1024 + int(uint32(n)*2654435761%3073) }

const budgetGroups = 8 // every object also carries the key grp/(n % budgetGroups)

// The byte budget under a flood of distinct objects through the real proxy
// on real sockets: ~5000 distinct 1-4 KiB objects, fetched concurrently,
// into a 1 MiB store, while a small hot set keeps being requested. The
// store's bytes never exceed the budget (sampled throughout and after), the
// surrogate-key index agrees with the objects (every stored object is
// found and removed by its keys, and nothing is left behind), the hot and
// the most recently inserted objects still hit, and no request fails.
func TestBudgetUnderDistinctObjectFlood(t *testing.T) {
	const budget = 1 << 20
	distinct, workers := 5000, 32
	if testing.Short() {
		distinct = 1500
	}
	const hot = 16

	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/")
		kind, num, _ := strings.Cut(name, "/")
		n, err := strconv.Atoi(num)
		if err != nil {
			http.Error(w, "bad path", http.StatusNotFound)
			return
		}
		h := w.Header()
		h.Set("Cache-Control", "public, max-age=3600")
		h.Set("Surrogate-Key", fmt.Sprintf("%s/%d grp/%d", kind, n, n%budgetGroups))
		body := strings.Repeat(string(rune('a'+n%26)), budgetObjectSize(n))
		h.Set("Content-Length", strconv.Itoa(len(body)))
		io.WriteString(w, body)
	})
	st := store.New(store.Config{MaxBytes: budget})
	t.Cleanup(st.Close)
	e := newEdge(t, o, func(cfg *Config, _ *Site) { cfg.Store = st })

	// fetch is safe from any goroutine: it reports, never stops the test.
	var failures atomic.Int64
	fetch := func(path string) (xcache string, ok bool) {
		res, err := e.client.Get(e.srv.URL + path)
		if err != nil {
			if failures.Add(1) <= 5 {
				t.Errorf("GET %s: %v", path, err)
			}
			return "", false
		}
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		n, _ := strconv.Atoi(path[strings.LastIndexByte(path, '/')+1:])
		if err != nil || res.StatusCode != 200 || len(b) != budgetObjectSize(n) {
			if failures.Add(1) <= 5 {
				t.Errorf("GET %s: status %d, %d bytes, %v", path, res.StatusCode, len(b), err)
			}
			return "", false
		}
		return res.Header.Get("X-Cache"), true
	}

	// The hot set: fetched twice before the flood, then among every fourth
	// request during it.
	for i := range hot {
		for range 2 {
			fetch("/hot/" + strconv.Itoa(i))
		}
	}

	// Sample the budget while the flood runs.
	var maxBytes, samples atomic.Int64
	stopSampler := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			s := st.Stats()
			samples.Add(1)
			if s.Bytes > maxBytes.Load() {
				maxBytes.Store(s.Bytes)
			}
			select {
			case <-stopSampler:
				return
			case <-time.After(200 * time.Microsecond):
			}
		}
	}()

	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; ; k++ {
				if k%4 == 3 {
					fetch("/hot/" + strconv.Itoa((w+k)%hot))
					continue
				}
				n := int(next.Add(1)) - 1
				if n >= distinct {
					return
				}
				fetch("/obj/" + strconv.Itoa(n))
			}
		}()
	}
	wg.Wait()
	e.settle()
	close(stopSampler)
	<-sampled

	if failures.Load() != 0 {
		t.Fatalf("%d requests failed", failures.Load())
	}
	s := st.Stats()
	t.Logf("after %d distinct objects: %d stored, %d bytes of %d (max sampled %d over %d samples), %d evictions, %d keys",
		distinct, s.Objects, s.Bytes, s.MaxBytes, maxBytes.Load(), samples.Load(), s.Evictions, s.SurrogateKeys)
	if maxBytes.Load() > budget || s.Bytes > budget {
		t.Fatalf("store bytes over the budget: max sampled %d, now %d, budget %d", maxBytes.Load(), s.Bytes, budget)
	}
	if s.Evictions == 0 || s.Objects == 0 || s.Objects >= int64(distinct) {
		t.Fatalf("the flood did not make the store evict: %+v", s)
	}
	if s.TooLarge != 0 || s.Fenced != 0 {
		t.Errorf("inserts refused: %+v", s)
	}

	// The hot objects survived the flood.
	for i := range hot {
		if xc, _ := fetch("/hot/" + strconv.Itoa(i)); xc != "HIT" {
			t.Errorf("hot object %d after the flood: X-Cache %q, want HIT", i, xc)
		}
	}
	// Objects inserted last still hit.
	for n := distinct; n < distinct+8; n++ {
		path := "/obj/" + strconv.Itoa(n)
		if xc, _ := fetch(path); xc != "MISS" {
			t.Errorf("%s first: X-Cache %q, want MISS", path, xc)
		}
		e.settle()
		if xc, _ := fetch(path); xc != "HIT" {
			t.Errorf("%s just inserted: X-Cache %q, want HIT", path, xc)
		}
	}
	e.settle()
	if s := st.Stats(); s.Bytes > budget {
		t.Fatalf("store bytes over the budget at the end: %d", s.Bytes)
	}

	// The surrogate-key index agrees with the objects: each object has its
	// own key and a group key, so there are between Objects+1 and
	// Objects+groups keys; purging the hot keys removes exactly the hot
	// objects; purging the group keys removes every other stored object and
	// leaves no key, object or byte behind.
	s = st.Stats()
	if s.SurrogateKeys <= s.Objects || s.SurrogateKeys > s.Objects+budgetGroups {
		t.Errorf("%d surrogate keys for %d objects (each has its own key and one of %d group keys)", s.SurrogateKeys, s.Objects, budgetGroups)
	}
	var hotKeys []string
	for i := range hot {
		hotKeys = append(hotKeys, "hot/"+strconv.Itoa(i))
	}
	if got := st.Purge(store.Purge{Keys: hotKeys}); got != hot {
		t.Errorf("purging the %d hot keys removed %d objects", hot, got)
	}
	left := st.Stats().Objects
	var groups []string
	for g := range budgetGroups {
		groups = append(groups, "grp/"+strconv.Itoa(g))
	}
	if got := st.Purge(store.Purge{Keys: groups}); int64(got) != left {
		t.Errorf("purging every group key removed %d objects, %d were stored", got, left)
	}
	if s := st.Stats(); s.Objects != 0 || s.SurrogateKeys != 0 || s.Bytes != 0 {
		t.Errorf("after purging every key: %+v", s)
	}
}
