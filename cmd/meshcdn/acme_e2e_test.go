package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meshcdn/meshcdn/cluster/autotls"
	"github.com/meshcdn/meshcdn/cluster/autotls/pebbletest"
)

// TestServeACME: a node of serve's wiring gets its certificates from
// Pebble, answering HTTP-01 on its edge listener and TLS-ALPN-01 on its
// HTTPS listener, serves them by SNI, and reports them on /readyz and
// /metrics.
func TestServeACME(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs Pebble")
	}
	defer pebbletest.Cleanup()
	p := pebbletest.Start(t, pebbletest.Options{})
	const ip = "127.0.0.21"
	names := map[string]string{"www.e2e.meshcdn.test": autotls.HTTP01, "api.e2e.meshcdn.test": autotls.TLSALPN01}
	var sites []autotls.Site
	for name, chal := range names {
		p.PointDNS(t, name, ip)
		sites = append(sites, autotls.Site{Name: strings.SplitN(name, ".", 2)[0], Hosts: []string{name}, Directory: p.Directory, CARoots: p.Roots, Challenges: []string{chal}})
	}
	cfg := nodeConfig{
		Name: "acme-1", Listen: net.JoinHostPort(ip, strconv.Itoa(p.HTTPPort)), Admin: "127.0.0.1:0",
		HTTPSListen: net.JoinHostPort(ip, strconv.Itoa(p.TLSPort)),
		Origin:      &url.URL{Scheme: "http", Host: "127.0.0.1:1"},
		CacheSize:   16 << 20, MaxObjectSize: 1 << 20, OriginTimeout: time.Second, PurgeWait: time.Second,
		GossipHost: "127.0.0.1", GossipKeys: [][]byte{bytes.Repeat([]byte{9}, 32)}, ShutdownTimeout: time.Second,
		DataDir: t.TempDir(), ACMESites: sites,
		acmeTiming: autotls.Timing{Tick: 100 * time.Millisecond, Settle: 200 * time.Millisecond},
	}
	n, err := startNode(cfg, nopLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.stop)
	roots := p.IssuerRoots(t)
	for name := range names {
		pebbletest.WaitFor(t, 30*time.Second, "a Pebble certificate for "+name, func() bool {
			c, err := tls.Dial("tcp", n.httpsAddr, &tls.Config{ServerName: name, RootCAs: roots})
			if err != nil {
				return false
			}
			c.Close()
			return true
		})
	}
	resp, err := http.Get("http://" + n.admAddr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	var ready struct {
		TLS []autotls.Status `json:"tls"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&ready); err != nil || len(ready.TLS) != 2 {
		t.Fatalf("/readyz tls detail: %v %+v", err, ready)
	}
	resp.Body.Close()
	for _, s := range ready.TLS {
		if s.NotAfter == nil || s.RenewAt == nil || !strings.HasPrefix(s.Issuer, "Pebble") || !s.Shared {
			t.Errorf("/readyz: %+v", s)
		}
	}
	resp, err = http.Get("http://" + n.admAddr + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	ready.TLS = nil
	if err := json.NewDecoder(resp.Body).Decode(&ready); err != nil || len(ready.TLS) != 2 || ready.TLS[0].NotAfter == nil {
		t.Errorf("/stats tls: %v %+v", err, ready.TLS)
	}
	resp.Body.Close()
	resp, err = http.Get("http://" + n.admAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`meshcdn_acme_certificate_expiry_seconds{site="www"}`, `meshcdn_acme_orders_total{result="ok",site="api"} 1`,
		`meshcdn_acme_validations_answered_total{challenge="http-01"}`, `meshcdn_acme_validations_answered_total{challenge="tls-alpn-01"}`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
