package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// nameOrigin answers "<name> <Host>" with Server: origin-<name>,
// uncacheable unless the path ends in /cached.
func nameOrigin(t *testing.T, name string) string {
	t.Helper()
	srv := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "origin-"+name)
		if strings.HasSuffix(r.URL.Path, "/cached") {
			w.Header().Set("Cache-Control", "max-age=60")
		} else {
			w.Header().Set("Cache-Control", "no-store")
		}
		io.WriteString(w, name+" "+r.Host)
	}))
	return srv
}

func newTestServer(t *testing.T, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// siteRequests sums meshcdn_edge_requests_total of a site.
func siteRequests(t *testing.T, n *node, site string) float64 {
	mfs, err := n.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != "meshcdn_edge_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "site" && l.GetValue() == site {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}

// startFromConfig starts a node as serve does from a configuration file
// (SIGHUP reloads it).
func startFromConfig(t *testing.T, file string, log *zap.Logger) *node {
	t.Helper()
	args := []string{"--config", file}
	env := func(string) string { return "" }
	st, err := loadServe(args, env)
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.node
	cfg.reload = func() (*serveSettings, error) { return loadServe(args, env) }
	cfg.global, cfg.configFile = st.global, st.file
	n, err := startNode(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.stop)
	return n
}

const nodeYAML = `node: { name: sites-node }
listen: { http: "127.0.0.1:0", admin: "127.0.0.1:0" }
cluster: { gossip: "127.0.0.1:0" }
cache: { size: %s }
shutdown: { drain_delay: 0s, drain_timeout: 2s }
`

// replaceFile writes body to path at once (rename), as an editor or a
// configuration manager would.
func replaceFile(t *testing.T, path, body string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

type hostResp struct {
	code          int
	body, loc, sv string
}

func getHost(t *testing.T, addr, host, path string) hostResp {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
	req.Host = host
	res, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return hostResp{res.StatusCode, string(b), res.Header.Get("Location"), res.Header.Get("Server")}
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// Two sites on one node, routed by Host to their own origins: exact and
// wildcard hosts, 404 for other hosts, a site redirecting plain HTTP but
// not ACME challenges, response_remove, requests counted by site.
func TestServeSitesByHost(t *testing.T) {
	a, b := nameOrigin(t, "A"), nameOrigin(t, "B")
	file := writeFile(t, "c.yaml", fmt.Sprintf(nodeYAML, "16MiB")+`sites:
  - name: alpha
    hosts: [a.example]
    origin: { url: "`+a+`" }
    headers: { response_remove: [Server] }
  - name: beta
    hosts: ["*.b.example"]
    origin: { url: "`+b+`", host: b-origin.internal }
    https: { redirect_http: true }
`, 0o644)
	n := startFromConfig(t, file, nopLogger())
	if r := getHost(t, n.edgeAddr, "a.example", "/x"); r.code != 200 || r.body != "A a.example" || r.sv != "" {
		t.Errorf("a.example: %+v", r)
	}
	if r := getHost(t, n.edgeAddr, "www.b.example", "/y?q=1"); r.code != http.StatusPermanentRedirect || r.loc != "https://www.b.example/y?q=1" {
		t.Errorf("www.b.example: %+v", r)
	}
	if r := getHost(t, n.edgeAddr, "www.b.example", "/.well-known/acme-challenge/tok"); r.code != 200 || r.body != "B b-origin.internal" || r.sv != "origin-B" {
		t.Errorf("ACME challenge on www.b.example: %+v", r)
	}
	if r := getHost(t, n.edgeAddr, "c.example", "/"); r.code != http.StatusNotFound || !strings.Contains(r.body, "no site is configured for this host") {
		t.Errorf("unknown host: %+v", r)
	}
	for _, site := range []string{"alpha", "beta"} {
		if got := siteRequests(t, n, site); got < 1 {
			t.Errorf("requests of site %s: %v", site, got)
		}
	}
}

// SIGHUP under steady load: clients on real sockets for about 2 s while the
// configuration swaps origins and hosts back and forth; no request fails.
// Then a bad configuration is refused (logged, counted) and the last good
// one keeps serving; a changed cache size is reported as needing a restart.
func TestServeReloadUnderLoad(t *testing.T) {
	a, b := nameOrigin(t, "A"), nameOrigin(t, "B")
	dir := t.TempDir()
	file := filepath.Join(dir, "c.yaml")
	conf := func(origin, size string) string {
		return fmt.Sprintf(nodeYAML, size) + `sites:
  - name: app
    hosts: [app.example, "*.app.example"]
    origin: { url: "` + origin + `" }
`
	}
	replaceFile(t, file, conf(a, "16MiB"))
	core, logs := observer.New(zap.InfoLevel)
	n := startFromConfig(t, file, zap.New(core))

	var failed, served atomic.Int64
	var seenA, seenB atomic.Bool
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for c := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Transport: &http.Transport{}}
			defer client.CloseIdleConnections()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				host := "app.example"
				if i%2 == 1 {
					host = fmt.Sprintf("c%d.app.example", c)
				}
				path := fmt.Sprintf("/p/%d", i%10)
				if i%3 == 0 {
					path += "/cached"
				}
				req, _ := http.NewRequest("GET", "http://"+n.edgeAddr+path, nil)
				req.Host = host
				res, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					t.Errorf("client %d: %v", c, err)
					continue
				}
				body, err := io.ReadAll(res.Body)
				res.Body.Close()
				switch {
				case err != nil || res.StatusCode != 200:
					failed.Add(1)
					t.Errorf("client %d: %s %d %q %v", c, host, res.StatusCode, body, err)
				case strings.HasPrefix(string(body), "A "):
					seenA.Store(true)
				case strings.HasPrefix(string(body), "B "):
					seenB.Store(true)
				default:
					failed.Add(1)
					t.Errorf("client %d: body %q", c, body)
				}
				served.Add(1)
			}
		}()
	}
	reloads := 0
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		origin := b
		if reloads%2 == 1 {
			origin = a
		}
		replaceFile(t, file, conf(origin, "16MiB"))
		reloads++
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "a reload", func() bool { return testutil.ToFloat64(n.reloads.ok) == float64(reloads) })
		time.Sleep(100 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if failed.Load() != 0 || served.Load() == 0 || !seenA.Load() || !seenB.Load() || reloads < 2 {
		t.Fatalf("%d of %d requests failed over %d reloads; saw A %v, B %v", failed.Load(), served.Load(), reloads, seenA.Load(), seenB.Load())
	}
	t.Logf("%d requests over %d reloads, none failed", served.Load(), reloads)

	// A bad configuration: refused, counted, logged with its error; the
	// running one stays.
	last := getHost(t, n.edgeAddr, "app.example", "/after").body[:1]
	replaceFile(t, file, conf("ftp://nowhere", "16MiB")+"    colour: blue\n")
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitUntil(t, "a refused reload", func() bool { return testutil.ToFloat64(n.reloads.failed) == 1 })
	if r := getHost(t, n.edgeAddr, "app.example", "/after"); r.code != 200 || r.body[:1] != last {
		t.Errorf("after a refused reload: %+v, want origin %s", r, last)
	}
	refused := logs.FilterMessage("configuration reload refused; the running configuration stays").All()
	if len(refused) != 1 || !strings.Contains(fmt.Sprint(refused[0].ContextMap()["error"]), "sites[0].colour: unknown key") ||
		!strings.Contains(fmt.Sprint(refused[0].ContextMap()["error"]), "sites[0].origin.url") {
		t.Errorf("refusal log: %+v", refused)
	}

	// A setting that needs a restart: reported, the sites still applied.
	replaceFile(t, file, conf(a, "32MiB"))
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitUntil(t, "a reload", func() bool { return testutil.ToFloat64(n.reloads.ok) == float64(reloads+1) })
	restart := logs.FilterMessage("configuration changes that need a restart were not applied").All()
	if len(restart) != 1 || fmt.Sprint(restart[0].ContextMap()["settings"]) != "[--cache-size]" {
		t.Errorf("restart log: %+v", restart)
	}
	if n.store.Config().MaxBytes != 16<<20 {
		t.Errorf("cache size changed live: %d", n.store.Config().MaxBytes)
	}
}

// waitUntil polls cond until it holds (at most 20 s: a failure, not a
// timing assertion).
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("no %s within 20s", what)
}
