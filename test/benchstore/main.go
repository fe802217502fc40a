// Command benchstore measures what the size of the store costs a node:
// it runs a real edge (edge.Proxy over store.Store, the admin API for
// purges) on 127.0.0.1 with an in-process origin, fills it through HTTP
// with N objects (a body of -body bytes, ~200 B of headers, two surrogate
// keys: one of its own and one shared by 100 000 objects), and for each N
// reports, in the same process: RSS and store bytes per object, Go heap
// objects and scannable heap bytes per object (/gc/scan/heap, a figure
// the machine's load does not move), the GC's share of CPU during the
// hit test, 1 KiB hit throughput
// and latency (wrk, or the Go load generator when wrk is absent) on a
// 1000-object hot set stored beside them, and the time of a purge (HTTP,
// POST /purge, request → answer) of one key tagging 100 000 objects.
//
//	go run ./test/benchstore -n 0,200000,1000000 -body 100
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshcdn/meshcdn/api"
	"github.com/meshcdn/meshcdn/edge"
	"github.com/meshcdn/meshcdn/store"
)

const groupSize = 100000 // objects tagged by one shared key

type config struct {
	ns        []int
	body      int
	hot       int
	hotBody   int
	duration  time.Duration
	conns     int
	fillConns int
	cacheSize int64
	loadgen   string
	gc        bool
}

func main() {
	var cfg config
	ns := flag.String("n", "0,200000,1000000", "object counts to fill to, ascending, comma-separated")
	flag.IntVar(&cfg.body, "body", 100, "body bytes of the filled objects")
	flag.IntVar(&cfg.hot, "hot", 1000, "objects in the hot set")
	flag.IntVar(&cfg.hotBody, "hot-body", 1024, "body bytes of the hot-set objects")
	flag.DurationVar(&cfg.duration, "d", 5*time.Second, "duration of each hit test")
	flag.IntVar(&cfg.conns, "c", 64, "connections of the hit test")
	flag.IntVar(&cfg.fillConns, "fill-conns", 16, "connections filling the store")
	flag.Int64Var(&cfg.cacheSize, "cache-size", 8<<30, "store byte budget")
	flag.StringVar(&cfg.loadgen, "loadgen", "auto", "hit load generator: wrk, go, or auto (wrk when installed)")
	flag.BoolVar(&cfg.gc, "gc", true, "run one garbage collection a third into each hit test (as a busy node would: its cost grows with the store)")
	flag.Parse()
	for _, f := range strings.Split(*ns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 {
			log.Fatalf("benchstore: -n: bad count %q", f)
		}
		cfg.ns = append(cfg.ns, n)
	}
	if !slices.IsSorted(cfg.ns) {
		log.Fatal("benchstore: -n must be ascending")
	}
	if cfg.loadgen == "auto" {
		cfg.loadgen = "go"
		if _, err := exec.LookPath("wrk"); err == nil {
			cfg.loadgen = "wrk"
		}
	}
	if err := run(cfg); err != nil {
		log.Fatal(err)
	}
}

// node is the system under test: edge, store and admin API in this process.
type node struct {
	st     *store.Store
	edge   string // base URL
	admin  string
	client *http.Client
}

func run(cfg config) error {
	originURL, stopOrigin, err := serve(http.HandlerFunc(origin))
	if err != nil {
		return err
	}
	defer stopOrigin()
	st := store.New(store.Config{MaxBytes: cfg.cacheSize})
	defer st.Close()
	ou, _ := url.Parse(originURL)
	px, err := edge.New(edge.Config{Sites: []*edge.Site{{Name: "bench", Default: true, Origin: ou}}, Store: st, NodeName: "bench"})
	if err != nil {
		return fmt.Errorf("edge: %w", err)
	}
	defer px.Close()
	edgeURL, stopEdge, err := serve(px)
	if err != nil {
		return err
	}
	defer stopEdge()
	ah, err := api.New(api.Config{Store: st, AllowNoToken: true})
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	adminURL, stopAdmin, err := serve(ah)
	if err != nil {
		return err
	}
	defer stopAdmin()
	nd := &node{st: st, edge: edgeURL, admin: adminURL, client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}}

	fmt.Printf("benchstore: body %d B, hot set %d × %d B, hit test %s × %d conns with %s, GOMAXPROCS %d, %s\n",
		cfg.body, cfg.hot, cfg.hotBody, cfg.duration, cfg.conns, cfg.loadgen, runtime.GOMAXPROCS(0), runtime.Version())
	if err := nd.fill(cfg.fillConns, 0, cfg.hot, func(i int) string { return hotPath(i, cfg.hotBody) }); err != nil {
		return err
	}
	var rows []row
	var base *row
	filled := 0
	for _, n := range cfg.ns {
		t0 := time.Now()
		if err := nd.fill(cfg.fillConns, filled, n, func(i int) string { return fillPath(i, cfg.body) }); err != nil {
			return err
		}
		filled = n
		fillTime := time.Since(t0)
		r, err := nd.measure(cfg, n, base)
		if err != nil {
			return err
		}
		r.fill = fillTime
		if base == nil {
			base = &r
		}
		// The purge: the shared key of the last full group of objects,
		// which are then fetched again so the next N starts from N.
		if n >= groupSize {
			lo := n/groupSize*groupSize - groupSize
			r.purge, r.purgeHitP99, err = nd.purgeUnderHits(cfg, "o/"+groupKey(lo), groupSize)
			if err != nil {
				return err
			}
			if err := nd.fill(cfg.fillConns, lo, lo+groupSize, func(i int) string { return fillPath(i, cfg.body) }); err != nil {
				return err
			}
		}
		rows = append(rows, r)
		printRow(os.Stderr, r, len(rows) == 1) // progress
	}
	fmt.Println()
	for i, r := range rows {
		printRow(os.Stdout, r, i == 0)
	}
	return nil
}

// serve runs h on 127.0.0.1 (port 0) and returns its base URL.
func serve(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}

func fillPath(i, size int) string { return "/o/" + strconv.Itoa(i) + "?size=" + strconv.Itoa(size) }
func hotPath(i, size int) string  { return "/hot/" + strconv.Itoa(i) + "?size=" + strconv.Itoa(size) }
func groupKey(i int) string       { return "g" + strconv.Itoa(i/groupSize) }

var lastModified = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Format(http.TimeFormat)

// origin answers /o/<i>?size=S and /hot/<i>?size=S with S bytes, cacheable
// for a day, ~200 B of headers and the surrogate keys "o/<i> o/g<i/100000>".
func origin(w http.ResponseWriter, r *http.Request) {
	size, err := strconv.Atoi(r.URL.Query().Get("size"))
	if err != nil || size < 0 || size > 1<<20 {
		http.Error(w, "bad size", http.StatusBadRequest)
		return
	}
	kind, id, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	i, err := strconv.Atoi(id)
	if !ok || err != nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h["Content-Type"] = []string{"application/octet-stream"}
	h["Cache-Control"] = []string{"public, max-age=86400"}
	h["Etag"] = []string{fmt.Sprintf(`"%s-%08x"`, kind, i)}
	h["Last-Modified"] = []string{lastModified}
	h["Surrogate-Key"] = []string{kind + "/" + id + " " + kind + "/" + groupKey(i)}
	h["Content-Length"] = []string{strconv.Itoa(size)}
	w.WriteHeader(http.StatusOK)
	w.Write(bytes.Repeat([]byte{'x'}, size))
}

// fill requests paths [lo, hi) through the edge with conns workers.
func (nd *node) fill(conns, lo, hi int, path func(int) string) error {
	var next atomic.Int64
	next.Store(int64(lo))
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= hi || firstErr.Load() != nil {
					return
				}
				if err := nd.get(path(i)); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return err
	}
	return nil
}

func (nd *node) get(path string) error {
	resp, err := nd.client.Get(nd.edge + path)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return fmt.Errorf("GET %s: body: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d", path, resp.StatusCode)
	}
	return nil
}

// purgeUnderHits purges key while 4 connections request the hot set, and
// returns the purge's time and the p99 latency of those hits.
func (nd *node) purgeUnderHits(cfg config, key string, want int) (time.Duration, time.Duration, error) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	for i := range 8 { // open the connections first
		if err := nd.getWith(client, hotPath(i%cfg.hot, cfg.hotBody)); err != nil {
			return 0, 0, err
		}
	}
	stop := make(chan struct{})
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	for c := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local []time.Duration
			for i := c * 7919; ; i++ {
				select {
				case <-stop:
					mu.Lock()
					lat = append(lat, local...)
					mu.Unlock()
					return
				default:
				}
				t0 := time.Now()
				if nd.getWith(client, hotPath(i%cfg.hot, cfg.hotBody)) == nil {
					local = append(local, time.Since(t0))
				}
			}
		}()
	}
	took, err := nd.purge(key, want)
	close(stop)
	wg.Wait()
	if len(lat) == 0 {
		return took, 0, err
	}
	slices.Sort(lat)
	return took, lat[len(lat)*99/100], err
}

// purge purges key through the admin API and returns request → answer.
func (nd *node) purge(key string, want int) (time.Duration, error) {
	body, _ := json.Marshal(map[string]any{"keys": []string{key}})
	t0 := time.Now()
	resp, err := nd.client.Post(nd.admin+"/purge", "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("purge %s: %w", key, err)
	}
	var ans struct{ Purged int }
	err = json.NewDecoder(resp.Body).Decode(&ans)
	resp.Body.Close()
	took := time.Since(t0)
	if err != nil || resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("purge %s: status %d: %v", key, resp.StatusCode, err)
	}
	if ans.Purged != want {
		return 0, fmt.Errorf("purge %s: purged %d objects, want %d", key, ans.Purged, want)
	}
	return took, nil
}

type row struct {
	n                int
	fill             time.Duration
	rss, heapLive    uint64
	rssPerObj        float64 // above the N=0 row
	storeBytes       int64
	objects          int64
	heapObjects      uint64
	heapScan         uint64 // scannable heap bytes (/gc/scan/heap)
	gcFrac           float64
	rps              float64
	p50, p99         time.Duration
	purge            time.Duration
	loadErrs         int64
	gcTime           time.Duration // the collection during the hit test
	purgeHitP99      time.Duration // of hot-set hits while the purge ran
	baseRSS, baseObj uint64
	baseScan         uint64
}

var sampleNames = []string{
	"/gc/heap/objects:objects",
	"/gc/heap/live:bytes",
	"/cpu/classes/gc/total:cpu-seconds",
	"/cpu/classes/total:cpu-seconds",
	"/gc/scan/heap:bytes",
}

func readMetrics() []metrics.Sample {
	s := make([]metrics.Sample, len(sampleNames))
	for i, n := range sampleNames {
		s[i].Name = n
	}
	metrics.Read(s)
	return s
}

func (nd *node) measure(cfg config, n int, base *row) (row, error) {
	r := row{n: n}
	runtime.GC() // memory figures after one collection: live data, not the fill's garbage
	ms := readMetrics()
	r.heapObjects = ms[0].Value.Uint64()
	r.heapLive = ms[1].Value.Uint64()
	r.heapScan = ms[4].Value.Uint64()
	r.rss = rss()
	st := nd.st.Stats()
	r.storeBytes, r.objects = st.Bytes, st.Objects
	if base != nil && n > base.n {
		r.rssPerObj = float64(int64(r.rss)-int64(base.rss)) / float64(n-base.n)
		r.baseRSS, r.baseObj, r.baseScan = base.rss, base.heapObjects, base.heapScan
	}
	before := readMetrics()
	gcDone := make(chan time.Duration, 1)
	if cfg.gc {
		go func() {
			time.Sleep(cfg.duration / 3)
			t0 := time.Now()
			runtime.GC()
			gcDone <- time.Since(t0)
		}()
	}
	var err error
	if cfg.loadgen == "wrk" {
		err = nd.wrk(cfg, &r)
	} else {
		err = nd.goLoad(cfg, &r)
	}
	if err != nil {
		return r, err
	}
	if cfg.gc {
		r.gcTime = <-gcDone
	}
	after := readMetrics()
	gc := after[2].Value.Float64() - before[2].Value.Float64()
	total := after[3].Value.Float64() - before[3].Value.Float64()
	if total > 0 {
		r.gcFrac = gc / total
	}
	return r, nil
}

const hitsLua = `
local reqs, n, idx = {}, 0, 0
local counter = 0
function setup(thread) thread:set("tid", counter); counter = counter + 1 end
function init(args)
  n = tonumber(args[1]); local size = args[2]
  for i = 0, n - 1 do reqs[i + 1] = wrk.format("GET", "/hot/" .. i .. "?size=" .. size) end
  idx = ((tid or 0) * 7919) % n
end
function request() idx = idx + 1; if idx > n then idx = 1 end; return reqs[idx] end
function done(s, latency, requests)
  local e = s.errors
  io.write(string.format("WRKCSV %.1f,%d,%d,%d\n", s.requests / (s.duration / 1e6),
    latency:percentile(50), latency:percentile(99), e.connect + e.read + e.write + e.status + e.timeout))
end
`

func (nd *node) wrk(cfg config, r *row) error {
	dir, err := os.MkdirTemp("", "benchstore")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "hits.lua")
	if err := os.WriteFile(script, []byte(hitsLua), 0o600); err != nil {
		return err
	}
	out, err := exec.Command("wrk", "-t2", "-c"+strconv.Itoa(cfg.conns), "-d"+cfg.duration.String(), "-s", script, nd.edge,
		"--", strconv.Itoa(cfg.hot), strconv.Itoa(cfg.hotBody)).CombinedOutput()
	if err != nil {
		return fmt.Errorf("wrk: %w: %s", err, out)
	}
	_, line, ok := strings.Cut(string(out), "WRKCSV ")
	if !ok {
		return fmt.Errorf("wrk: no result line: %s", out)
	}
	f := strings.Split(strings.TrimSpace(strings.SplitN(line, "\n", 2)[0]), ",")
	if len(f) != 4 {
		return fmt.Errorf("wrk: bad result line %q", line)
	}
	r.rps, _ = strconv.ParseFloat(f[0], 64)
	p50, _ := strconv.Atoi(f[1])
	p99, _ := strconv.Atoi(f[2])
	r.p50, r.p99 = time.Duration(p50)*time.Microsecond, time.Duration(p99)*time.Microsecond
	r.loadErrs, _ = strconv.ParseInt(f[3], 10, 64)
	return nil
}

// goLoad is the load generator used without wrk: cfg.conns keep-alive
// connections, each requesting the hot set round-robin.
func (nd *node) goLoad(cfg config, r *row) error {
	ctx, cancel := context.WithTimeout(context.Background(), cfg.duration)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: cfg.conns, MaxConnsPerHost: cfg.conns}}
	var mu sync.Mutex
	var lat []time.Duration
	var errs atomic.Int64
	var wg sync.WaitGroup
	t0 := time.Now()
	for c := range cfg.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 1<<14)
			for i := c * 7919; ctx.Err() == nil; i++ {
				s := time.Now()
				err := nd.getWith(client, hotPath(i%cfg.hot, cfg.hotBody))
				if err != nil {
					if !errors.Is(err, context.DeadlineExceeded) {
						errs.Add(1)
					}
					continue
				}
				local = append(local, time.Since(s))
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	el := time.Since(t0)
	slices.Sort(lat)
	if len(lat) == 0 {
		return errors.New("go load: no request succeeded")
	}
	r.rps = float64(len(lat)) / el.Seconds()
	r.p50, r.p99 = lat[len(lat)/2], lat[len(lat)*99/100]
	r.loadErrs = errs.Load()
	return nil
}

func (nd *node) getWith(c *http.Client, path string) error {
	resp, err := c.Get(nd.edge + path)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// rss is the process's resident set size in bytes (Linux /proc).
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func printRow(w io.Writer, r row, header bool) {
	if header {
		fmt.Fprintf(w, "%9s %8s %8s %9s %9s %9s %11s %9s %9s %7s %7s %9s %8s %8s %9s %9s %5s\n",
			"N", "fill_s", "rss_MiB", "rss_B/obj", "store_B/o", "heap_MiB", "heap_objs", "h_objs/o", "scan_B/o", "gc_cpu%", "gc_ms", "hits/s", "p50_ms", "p99_ms", "purge_ms", "p99_purge", "errs")
	}
	perObj := func(v float64) string {
		if r.n == 0 || v == 0 {
			return "-"
		}
		return fmt.Sprintf("%.0f", v)
	}
	storePer, hobj := 0.0, 0.0
	if r.objects > 0 && r.n > 0 {
		storePer = float64(r.storeBytes) / float64(r.objects)
	}
	if r.n > 0 && r.baseObj > 0 {
		hobj = float64(int64(r.heapObjects)-int64(r.baseObj)) / float64(r.n)
	}
	purge, purgeP99 := "-", "-"
	if r.purge > 0 {
		purge = fmt.Sprintf("%.1f", r.purge.Seconds()*1e3)
		purgeP99 = fmt.Sprintf("%.2f", r.purgeHitP99.Seconds()*1e3)
	}
	hobjS := "-"
	if hobj != 0 {
		hobjS = fmt.Sprintf("%.1f", hobj)
	}
	scanS := "-"
	if r.n > 0 && r.baseObj > 0 {
		scanS = fmt.Sprintf("%.0f", float64(int64(r.heapScan)-int64(r.baseScan))/float64(r.n))
	}
	fmt.Fprintf(w, "%9d %8.1f %8.0f %9s %9s %9.0f %11d %9s %9s %7.1f %7.1f %9.0f %8.2f %8.2f %9s %9s %5d\n",
		r.n, r.fill.Seconds(), float64(r.rss)/(1<<20), perObj(r.rssPerObj), perObj(storePer), float64(r.heapLive)/(1<<20),
		r.heapObjects, hobjS, scanS, r.gcFrac*100, r.gcTime.Seconds()*1e3, r.rps, r.p50.Seconds()*1e3, r.p99.Seconds()*1e3, purge, purgeP99, r.loadErrs)
}
