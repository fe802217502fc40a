package edge

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/meshcdn/meshcdn/geo"
	"github.com/meshcdn/meshcdn/store"
)

// testGeoDB writes a GeoIP2-Country database built with mmdbwriter.
func testGeoDB(t *testing.T) string {
	t.Helper()
	w, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "GeoIP2-Country", IPVersion: 6, RecordSize: 28})
	if err != nil {
		t.Fatal(err)
	}
	for cidr, cc := range map[string][2]string{
		"81.2.69.0/24":     {"GB", "EU"},
		"216.160.83.0/24":  {"US", "NA"},
		"2001:218::/32":    {"JP", "AS"},
		"175.16.199.0/24":  {"CN", "AS"},
		"202.196.224.0/20": {"PH", "AS"},
	} {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			t.Fatal(err)
		}
		rec := mmdbtype.Map{
			"country":   mmdbtype.Map{"iso_code": mmdbtype.String(cc[0]), "geoname_id": mmdbtype.Uint32(1)},
			"continent": mmdbtype.Map{"code": mmdbtype.String(cc[1]), "geoname_id": mmdbtype.Uint32(2)},
		}
		if err := w.Insert(n, rec); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "country.mmdb")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func testResolver(t *testing.T, dbPath string) *geo.Resolver {
	t.Helper()
	r, err := geo.NewResolver(geo.ResolverConfig{DBPath: dbPath, TrustedProxies: loopback, ProxyHeader: geo.HeaderXForwardedFor, PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// echoGeo answers with the geo headers the origin received.
func echoGeo(names ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var parts []string
		for _, n := range names {
			parts = append(parts, n+"="+strings.Join(r.Header.Values(n), "|"))
		}
		io.WriteString(w, strings.Join(parts, " "))
	}
}

// Issue 4: the edge sets the client's country and continent on the origin
// request (header names per site) after removing any client-supplied value
// — a client must never pick its own variant. Unknown/private → XX.
func TestGeoHeaders(t *testing.T) {
	db := testGeoDB(t)
	cases := []struct {
		name     string
		geo      bool
		country  string // site header names ("" = defaults)
		cont     string
		hdr      []string
		wantBody string
	}{
		{"resolved via trusted proxy", true, "", "", []string{"X-Forwarded-For", "81.2.69.160"},
			"X-Geo-Country-Code=GB X-Geo-Continent-Code=EU"},
		{"spoofed values removed", true, "", "", []string{"X-Forwarded-For", "216.160.83.56", "X-Geo-Country-Code", "FR", "x-geo-continent-code", "AF", "X-Geo-Country-Code", "DE"},
			"X-Geo-Country-Code=US X-Geo-Continent-Code=NA"},
		{"IPv6", true, "", "", []string{"X-Forwarded-For", "2001:218::1"},
			"X-Geo-Country-Code=JP X-Geo-Continent-Code=AS"},
		{"loopback peer is unknown", true, "", "", []string{"X-Geo-Country-Code", "FR"},
			"X-Geo-Country-Code=XX X-Geo-Continent-Code=XX"},
		{"private address is unknown", true, "", "", []string{"X-Forwarded-For", "192.168.1.1"},
			"X-Geo-Country-Code=XX X-Geo-Continent-Code=XX"},
		{"no resolver: spoofed values still removed", false, "", "", []string{"X-Geo-Country-Code", "FR", "X-Geo-Continent-Code", "EU"},
			"X-Geo-Country-Code= X-Geo-Continent-Code="},
		{"custom names", true, "CF-IPCountry", "X-Continent", []string{"X-Forwarded-For", "81.2.69.160", "Cf-Ipcountry", "US"},
			"CF-IPCountry=GB X-Continent=EU X-Geo-Country-Code="},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			names := []string{"X-Geo-Country-Code", "X-Geo-Continent-Code"}
			if c.country != "" {
				names = []string{c.country, c.cont, "X-Geo-Country-Code"}
			}
			o := newOrigin(t, echoGeo(names...))
			e := newEdge(t, o, func(cfg *Config, s *Site) {
				if c.geo {
					cfg.Geo = testResolver(t, db)
				}
				s.GeoCountryHeader, s.GeoContinentHeader = c.country, c.cont
			})
			for _, method := range []string{"GET", "POST"} { // miss and pass
				if r := e.do(method, "/g", c.hdr...); r.body != c.wantBody {
					t.Errorf("%s: origin saw %q, want %q", method, r.body, c.wantBody)
				}
			}
		})
	}
}

// Issue 4 end to end: the origin varies on the continent (or the site adds
// the Vary itself); clients from two continents get their own variants,
// each a HIT the second time, and one purge by key drops both.
func TestGeoVariants(t *testing.T) {
	db := testGeoDB(t)
	for _, siteVary := range []bool{false, true} {
		name := "origin sends Vary"
		if siteVary {
			name = "site VaryGeo"
		}
		t.Run(name, func(t *testing.T) {
			var mu sync.Mutex
			seen := map[string]int{}
			o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
				c := r.Header.Get("X-Geo-Continent-Code")
				mu.Lock()
				seen[c]++
				mu.Unlock()
				w.Header().Set("Cache-Control", "max-age=60")
				w.Header().Set("Surrogate-Key", "offers")
				if !siteVary {
					w.Header().Set("Vary", "Accept-Encoding, X-Geo-Continent-Code")
				}
				io.WriteString(w, "offers for "+c)
			})
			e := newEdge(t, o, func(cfg *Config, s *Site) {
				cfg.Geo = testResolver(t, db)
				if siteVary {
					s.VaryGeo = []string{"x-geo-continent-code"}
				}
			})
			clients := map[string]string{"EU": "81.2.69.160", "NA": "216.160.83.56"}
			for round, want := range []string{"MISS", "HIT", "HIT"} {
				for cont, ip := range clients {
					r := e.get("/offers", "X-Forwarded-For", ip, "X-Geo-Continent-Code", "AN")
					if r.body != "offers for "+cont || r.Header.Get("X-Cache") != want {
						t.Errorf("round %d %s: %q %s", round, cont, r.body, r.Header.Get("X-Cache"))
					}
					if !strings.Contains(r.Header.Get("Vary"), "X-Geo-Continent-Code") {
						t.Errorf("delivered Vary %q lacks the geo field", r.Header.Get("Vary"))
					}
					e.settle()
				}
			}
			mu.Lock()
			if len(seen) != 2 || seen["EU"] != 1 || seen["NA"] != 1 {
				t.Errorf("origin saw %v", seen)
			}
			mu.Unlock()
			if n := e.store.Purge(store.Purge{Keys: []string{"offers"}}); n != 2 {
				t.Errorf("purge by key dropped %d variants, want 2", n)
			}
			e.waitCounter(3, "meshcdn_edge_requests_by_continent_total", "continent", "EU")
			e.waitCounter(3, "meshcdn_edge_requests_by_continent_total", "continent", "NA")
		})
	}
}

// The embedded default database works through the edge too.
func TestGeoEmbeddedDatabase(t *testing.T) {
	o := newOrigin(t, echoGeo("X-Geo-Country-Code", "X-Geo-Continent-Code"))
	e := newEdge(t, o, func(cfg *Config, _ *Site) { cfg.Geo = testResolver(t, "") })
	r := e.get("/e", "X-Forwarded-For", "8.8.8.8")
	if r.body != "X-Geo-Country-Code=US X-Geo-Continent-Code=NA" {
		t.Errorf("origin saw %q", r.body)
	}
}
