package main

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshcdn/meshcdn/geo"
)

// --proxy-header picks the one header the trusted proxies write;
// X-Forwarded-For by default. A bad value is a usage error (exit 2).
func TestServeProxyHeaderFlag(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, geo.HeaderXForwardedFor},
		{[]string{"--proxy-header", "x-forwarded-for"}, geo.HeaderXForwardedFor},
		{[]string{"--proxy-header", "X-Forwarded-For"}, geo.HeaderXForwardedFor},
		{[]string{"--proxy-header", "forwarded"}, geo.HeaderForwarded},
		{[]string{"--proxy-header=Forwarded"}, geo.HeaderForwarded},
	} {
		cfg, err := parseServe(t, nil, append([]string{"--origin", "http://o"}, c.args...)...)
		if err != nil || cfg.ProxyHeader != c.want {
			t.Errorf("%v: ProxyHeader %q, %v; want %q", c.args, cfg.ProxyHeader, err, c.want)
		}
	}
	for _, v := range []string{"", "auto", "x-real-ip", "both", "x-forwarded-for,forwarded"} {
		_, err := parseServe(t, nil, "--origin", "http://o", "--proxy-header", v)
		var ue *usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), "--proxy-header") {
			t.Errorf("--proxy-header %q: %v, want a usage error", v, err)
		}
	}
	if got := run([]string{"serve", "--origin", "http://x", "--proxy-header", "x-real-ip"}); got != 2 {
		t.Errorf("bad --proxy-header: exit %d, want 2", got)
	}
	var help bytes.Buffer
	fs, _ := serveFlagSet()
	fs.SetOutput(&help)
	fs.Usage()
	if !strings.Contains(help.String(), "--proxy-header x-forwarded-for|forwarded") {
		t.Errorf("--help does not document --proxy-header:\n%s", help.String())
	}
}

// The flag reaches the resolver: by default a client's Forwarded header is
// ignored behind a trusted proxy; with --proxy-header forwarded it is read.
func TestServeProxyHeaderWiring(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		io.WriteString(w, r.Header.Get("X-Geo-Country-Code"))
	}))
	t.Cleanup(origin.Close)
	ou, _ := url.Parse(origin.URL)
	for _, c := range []struct {
		flag, want string
	}{
		{"x-forwarded-for", "US"}, // from X-Forwarded-For: 8.8.8.8
		{"forwarded", "GB"},       // from Forwarded: for=81.2.69.142
	} {
		cfg, err := parseServe(t, nil, "--origin", ou.String(), "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0",
			"--gossip", "127.0.0.1:0", "--node-name", "ph-"+c.flag, "--trusted-proxies", "127.0.0.0/8", "--proxy-header", c.flag)
		if err != nil {
			t.Fatal(err)
		}
		cfg.ShutdownTimeout = time.Second
		n, err := startNode(cfg, nopLogger())
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("GET", "http://"+n.edgeAddr+"/where", nil)
		req.Header.Set("X-Forwarded-For", "8.8.8.8")
		req.Header.Set("Forwarded", "for=81.2.69.142")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			n.stop()
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		n.stop()
		if string(b) != c.want {
			t.Errorf("--proxy-header %s: origin saw country %q, want %s", c.flag, b, c.want)
		}
	}
}

// The site flags reach a running node: the geo header names the origin is
// sent (and --vary-geo varies on the configured one), the default stale
// windows (a stale object is served while the origin is down) and
// --max-variants.
func TestServeSiteFlagsWiring(t *testing.T) {
	var down atomic.Bool
	var fetches atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		if down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Cache-Control", "max-age=1")
		io.WriteString(w, r.Header.Get("Edge-Country")+"/"+r.Header.Get("Edge-Continent")+"/"+r.Header.Get("X-Geo-Country-Code"))
	}))
	t.Cleanup(origin.Close)
	cfg, err := parseServe(t, nil, "--origin", origin.URL, "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0",
		"--gossip", "127.0.0.1:0", "--node-name", "siteflags", "--trusted-proxies", "127.0.0.0/8",
		"--geo-country-header", "Edge-Country", "--geo-continent-header", "Edge-Continent", "--vary-geo", "country",
		"--default-stale-if-error", "1m", "--max-variants", "1")
	if err != nil {
		t.Fatal(err)
	}
	cfg.ShutdownTimeout = time.Second
	n, err := startNode(cfg, nopLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer n.stop()
	get := func(xff string) (string, *http.Response) {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+n.edgeAddr+"/g", nil)
		req.Header.Set("X-Forwarded-For", xff)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return string(b), resp
	}
	if b, resp := get("8.8.8.8"); b != "US/NA/" || !strings.Contains(resp.Header.Get("Vary"), "Edge-Country") {
		t.Fatalf("custom geo headers: %q, Vary %q", b, resp.Header.Get("Vary"))
	}
	if b, _ := get("81.2.69.142"); b != "GB/EU/" { // a second variant: with --max-variants 1 it evicts the US one
		t.Fatalf("GB: %q", b)
	}
	before := fetches.Load()
	if b, resp := get("8.8.8.8"); b != "US/NA/" || resp.Header.Get("X-Cache") != "MISS" || fetches.Load() != before+1 {
		t.Fatalf("US variant after the GB one (max 1 variant): %q %s", b, resp.Header.Get("X-Cache"))
	}
	time.Sleep(1100 * time.Millisecond) // stale now
	down.Store(true)
	if b, resp := get("8.8.8.8"); resp.StatusCode != 200 || b != "US/NA/" || !strings.Contains(resp.Header.Get("Cache-Status"), "stale-if-error") {
		t.Fatalf("--default-stale-if-error: %d %q %s", resp.StatusCode, b, resp.Header.Get("Cache-Status"))
	}
}
