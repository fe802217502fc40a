package test

// Geo-aware caching end to end: the real geo resolver (embedded database),
// the real edge proxy on a socket, an origin that varies by continent.

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/meshcdn/meshcdn/edge"
	"github.com/meshcdn/meshcdn/geo"
	"github.com/meshcdn/meshcdn/store"
)

func TestGeoVariantsPerContinent(t *testing.T) {
	var fetches atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		cont := r.Header.Get("X-Geo-Continent-Code")
		w.Header().Set("Vary", "X-Geo-Continent-Code")
		w.Header().Set("Surrogate-Key", "offers offers/"+cont)
		w.Header().Set("Surrogate-Control", "max-age=3600")
		fmt.Fprintf(w, "offers for %s (country %s)", cont, r.Header.Get("X-Geo-Country-Code"))
	}))
	defer origin.Close()
	ou, _ := url.Parse(origin.URL)

	res, err := geo.NewResolver(geo.ResolverConfig{
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
	})
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(store.Config{MaxBytes: 64 << 20})
	defer st.Close()
	p, err := edge.New(edge.Config{Sites: []*edge.Site{{Name: "geo", Origin: ou}}, Store: st, Geo: res, NodeName: "geo-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	srv := httptest.NewServer(p)
	defer srv.Close()

	get := func(xff string, spoof bool) (xcache, body string) {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+"/v1/offers", nil)
		req.Header.Set("X-Forwarded-For", xff)
		if spoof {
			// A client must never pick its own variant.
			req.Header.Set("X-Geo-Continent-Code", "AN")
			req.Header.Set("X-Geo-Country-Code", "AQ")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
		return resp.Header.Get("X-Cache"), string(b)
	}

	na, eu := "8.8.8.8", "193.0.6.139" // US (NA), NL (EU) in the embedded NRO data
	for _, c := range []struct{ ip, want string }{{na, "offers for NA (country US)"}, {eu, "offers for EU (country NL)"}} {
		if xc, b := get(c.ip, true); xc != "MISS" || b != c.want {
			t.Fatalf("%s first: %s %q, want MISS %q", c.ip, xc, b, c.want)
		}
		if xc, b := get(c.ip, false); xc != "HIT" || b != c.want {
			t.Fatalf("%s second: %s %q, want HIT %q", c.ip, xc, b, c.want)
		}
	}
	// A private address behind the trusted proxy is unknown (XX), its own variant.
	if xc, b := get("192.168.1.1", false); xc != "MISS" || b != "offers for XX (country XX)" {
		t.Fatalf("private client: %s %q", xc, b)
	}
	if got := fetches.Load(); got != 3 {
		t.Fatalf("origin fetches %d, want 3 (one per continent)", got)
	}
	// One purge by key drops every variant.
	if n := st.Purge(store.Purge{Keys: []string{"offers"}}); n != 3 {
		t.Fatalf("purge dropped %d objects, want 3", n)
	}
	for _, ip := range []string{na, eu} {
		if xc, _ := get(ip, false); xc != "MISS" {
			t.Fatalf("%s after purge: %s, want MISS", ip, xc)
		}
	}
	if got := fetches.Load(); got != 5 {
		t.Fatalf("origin fetches %d, want 5", got)
	}
}
