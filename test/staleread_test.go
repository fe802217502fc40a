package test

// The stale-read checker: real edge proxies on real sockets, one per node of
// a real in-process memberlist cluster, in front of one versioned origin.
// Writers change an object at the origin and purge its key through a random
// node's admin API (POST /purge?wait=all), which returns once every live node
// has acked. Readers read random objects
// through random nodes. The rule checked: once a purge has returned complete,
// no read that starts afterwards may return an older version — under packet
// loss and while a node is killed and restarted; with shielding on, the same
// (a miss on a node that does not own the object is fetched from its owner,
// which must never refill the node with what a purge removed).

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshcdn/meshcdn/api"
	"github.com/meshcdn/meshcdn/cluster"
	"github.com/meshcdn/meshcdn/cluster/clustertest"
	"github.com/meshcdn/meshcdn/edge"
	"github.com/meshcdn/meshcdn/store"
)

// versionedOrigin serves /obj/{k} with the object's current version in the
// body, tagged obj/{k}, cacheable for an hour.
type versionedOrigin struct {
	mu       sync.Mutex
	versions map[string]uint64
	fetches  atomic.Int64
	viaPeer  atomic.Int64 // fetches made by an owner for another node (Via names two nodes)
}

func (o *versionedOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	k := strings.TrimPrefix(r.URL.Path, "/obj/")
	o.mu.Lock()
	v := o.versions[k]
	o.mu.Unlock()
	o.fetches.Add(1)
	if strings.Contains(r.Header.Get("Via"), ",") {
		o.viaPeer.Add(1)
	}
	w.Header().Set("Surrogate-Key", "obj/"+k)
	w.Header().Set("Surrogate-Control", "max-age=3600")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprintf(w, "%d", v)
}

func (o *versionedOrigin) bump(k string) uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.versions[k]++
	return o.versions[k]
}

// edgeNode is the edge proxy and the admin API of one cluster node, rebuilt
// when the node restarts (a restarted node has a new, empty store).
type edgeNode struct {
	cur   atomic.Pointer[edge.Proxy]
	srv   *httptest.Server
	admin atomic.Pointer[http.Handler]
	asrv  *httptest.Server
}

// adminHandler serves the node's current admin API.
type adminHandler struct{ e *edgeNode }

func (a adminHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == edge.PeerFetchPath {
		p := a.e.cur.Load()
		if p == nil {
			http.Error(w, "node down", http.StatusServiceUnavailable)
			return
		}
		p.ServePeer(w, r)
		return
	}
	h := a.e.admin.Load()
	if h == nil {
		http.Error(w, "node down", http.StatusServiceUnavailable)
		return
	}
	(*h).ServeHTTP(w, r)
}

func newAdmin(t *testing.T, c *clustertest.Cluster, i int) *http.Handler {
	t.Helper()
	h, err := api.New(api.Config{Store: c.Store(i), Cluster: c.Node(i), AllowNoToken: true, WaitTimeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return &h
}

func (e *edgeNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := e.cur.Load()
	if p == nil {
		http.Error(w, "node down", http.StatusServiceUnavailable)
		return
	}
	p.ServeHTTP(w, r)
}

// shieldSecret authenticates peer fetches in the tests (the clusters run
// without gossip keys).
var shieldSecret = []byte("test-shield-secret-0123456789abc")

func newProxy(t *testing.T, c *clustertest.Cluster, i int, origin *url.URL, shield string) *edge.Proxy {
	t.Helper()
	n := c.Node(i)
	var sh edge.Shield
	if shield != "" {
		sh = n.ShieldView(shieldSecret)
	}
	p, err := edge.New(edge.Config{
		Sites:    []*edge.Site{{Name: "test", Origin: origin, Shield: shield}},
		Shield:   sh,
		Store:    c.Store(i),
		NodeName: n.Name(),
		Purge: func(ctx context.Context, pg store.Purge) (edge.PurgeResult, error) {
			res, err := n.Purge(ctx, pg, false)
			return edge.PurgeResult{ID: res.ID, Purged: res.Local}, err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// commitLog records, per object, the versions whose purge has returned
// complete and when.
type commitLog struct {
	mu sync.Mutex
	by map[string][]commit
}

type commit struct {
	at time.Time
	v  uint64
}

func (l *commitLog) add(k string, v uint64, at time.Time) {
	l.mu.Lock()
	l.by[k] = append(l.by[k], commit{at, v})
	l.mu.Unlock()
}

// floor is the highest version committed before t.
func (l *commitLog) floor(k string, t time.Time) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var v uint64
	for _, c := range l.by[k] {
		if c.at.Before(t) && c.v > v {
			v = c.v
		}
	}
	return v
}

func TestStaleReadChecker(t *testing.T) { staleRead(t, "") }

// With shielding, misses go through the objects' owners: still no stale
// read under loss and a restart (the owner answers from its cache only
// once it has applied every purge the asking node had applied).
func TestStaleReadCheckerShielded(t *testing.T) { staleRead(t, "cluster") }

func staleRead(t *testing.T, shield string) {
	const nodes, objects = 6, 12
	dur := 6 * time.Second
	if testing.Short() {
		dur = 3 * time.Second
	}
	faults := clustertest.NewFaults()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// The admin listeners first: their addresses are the nodes' metadata
	// (where peer fetches go).
	edges := make([]*edgeNode, nodes)
	for i := range edges {
		e := &edgeNode{}
		e.srv = httptest.NewServer(e)
		defer e.srv.Close()
		e.asrv = httptest.NewServer(adminHandler{e})
		defer e.asrv.Close()
		edges[i] = e
	}
	c, err := clustertest.Start(ctx, clustertest.Options{Nodes: nodes, Faults: faults,
		Configure: func(i int, cfg *cluster.Config) { cfg.AdminAddr = strings.TrimPrefix(edges[i].asrv.URL, "http://") }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	org := &versionedOrigin{versions: map[string]uint64{}}
	osrv := httptest.NewServer(org)
	defer osrv.Close()
	ou, _ := url.Parse(osrv.URL)

	for i, e := range edges {
		e.cur.Store(newProxy(t, c, i, ou, shield))
		e.admin.Store(newAdmin(t, c, i))
	}
	defer func() {
		for _, e := range edges {
			if p := e.cur.Load(); p != nil {
				p.Close()
			}
		}
	}()

	faults.SetLoss(0.2) // 20 % of gossip packets lost, both ways, every link

	log := &commitLog{by: map[string][]commit{}}
	var (
		stop                          atomic.Bool
		wg                            sync.WaitGroup
		reads, violations, incomplete atomic.Int64
		writes                        atomic.Int64
		violMu                        sync.Mutex
		violList                      []string
		downMu                        sync.RWMutex // held for writing while a node restarts
		down                          = -1
	)
	running := func(r *rand.Rand) int {
		for {
			i := r.IntN(nodes)
			if i != down {
				return i
			}
		}
	}

	// Writers.
	purgeClient := &http.Client{Timeout: 5 * time.Second}
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, 1))
			for !stop.Load() {
				k := strconv.Itoa(r.IntN(objects))
				v := org.bump(k)
				downMu.RLock()
				i := running(r)
				downMu.RUnlock()
				resp, err := purgeClient.Post(edges[i].asrv.URL+"/purge?wait=all", "application/json",
					strings.NewReader(`{"keys":["obj/`+k+`"]}`))
				if err != nil {
					incomplete.Add(1)
					continue
				}
				var res api.PurgeResponse
				derr := json.NewDecoder(resp.Body).Decode(&res)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || derr != nil || !res.Complete {
					incomplete.Add(1) // not a commit (202: timed out; 503: node down): makes no promise
					continue
				}
				log.add(k, v, time.Now())
				writes.Add(1)
				time.Sleep(time.Duration(r.IntN(20)) * time.Millisecond)
			}
		}(uint64(w))
	}

	// Readers.
	hc := &http.Client{Timeout: 5 * time.Second}
	for rd := 0; rd < 4; rd++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, 2))
			for !stop.Load() {
				k := strconv.Itoa(r.IntN(objects))
				downMu.RLock()
				i := running(r)
				downMu.RUnlock()
				startAt := time.Now()
				floor := log.floor(k, startAt)
				// One host name for every node (as behind geo-DNS): the
				// nodes share cache keys, so a shield owner's copy serves
				// the others.
				req, _ := http.NewRequest("GET", edges[i].srv.URL+"/obj/"+k, nil)
				req.Host = "objects.example"
				resp, err := hc.Do(req)
				if err != nil {
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					continue // a node restarting answers 503
				}
				got, err := strconv.ParseUint(string(body), 10, 64)
				if err != nil {
					t.Errorf("bad body %q", body)
					continue
				}
				reads.Add(1)
				if got < floor {
					violations.Add(1)
					violMu.Lock()
					if len(violList) < 10 {
						violList = append(violList, fmt.Sprintf("node %d obj %s: read v%d, committed v%d before the read began (%s)",
							i, k, got, floor, resp.Header.Get("Cache-Status")))
					}
					violMu.Unlock()
				}
			}
		}(uint64(rd) + 10)
	}

	// Kill one node in the middle of the run and restart it.
	time.Sleep(dur / 3)
	victim := 2
	downMu.Lock()
	down = victim
	edges[victim].cur.Store(nil)
	edges[victim].admin.Store(nil)
	downMu.Unlock()
	if err := c.Kill(victim); err != nil {
		t.Fatal(err)
	}
	time.Sleep(dur / 6)
	if err := c.Restart(victim, nil); err != nil {
		t.Fatal(err)
	}
	p := newProxy(t, c, victim, ou, shield)
	adm := newAdmin(t, c, victim)
	downMu.Lock()
	edges[victim].cur.Store(p)
	edges[victim].admin.Store(adm)
	down = -1
	downMu.Unlock()

	time.Sleep(dur / 2)
	stop.Store(true)
	wg.Wait()

	t.Logf("shield %q: reads %d, committed purges %d, incomplete purges %d, origin fetches %d (%d by an owner for another node), violations %d, faults %+v",
		shield, reads.Load(), writes.Load(), incomplete.Load(), org.fetches.Load(), org.viaPeer.Load(), violations.Load(), faults.Stats())
	if violations.Load() != 0 {
		t.Fatalf("%d stale reads:\n%s", violations.Load(), strings.Join(violList, "\n"))
	}
	if reads.Load() < 100 || writes.Load() < 10 {
		t.Fatalf("too little traffic to mean anything: %d reads, %d committed purges", reads.Load(), writes.Load())
	}
	if org.fetches.Load() >= reads.Load() {
		t.Fatalf("nothing was served from cache: %d fetches for %d reads", org.fetches.Load(), reads.Load())
	}
	if shield != "" && org.viaPeer.Load() == 0 {
		t.Fatal("shielding on, but no origin fetch was made by an owner for another node")
	}
}
