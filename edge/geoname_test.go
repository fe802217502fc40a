package edge

import (
	"io"
	"net/http"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/meshcdn/meshcdn/geo"
)

// A client's geo header spelled with '_' for '-', in any case
// (X_Geo_Continent_Code), is removed like the real one: CGI and PHP map both
// to HTTP_X_GEO_CONTINENT_CODE, so it would reach the origin as the edge's
// value and poison the cached variant. Both scan paths: a small header
// (walked) and one of more than 12 fields (looked up).
func TestGeoHeaderUnderscoreSpellingsRemoved(t *testing.T) {
	// The origin reports every field whose name reads as a geo header name
	// when '_' is read as '-', case-insensitively.
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		var seen []string
		for k, v := range r.Header {
			n := strings.ToLower(strings.ReplaceAll(k, "_", "-"))
			if n == "x-geo-country-code" || n == "x-geo-continent-code" || n == "cf-ipcountry" {
				seen = append(seen, k+"="+strings.Join(v, "|"))
			}
		}
		sort.Strings(seen)
		w.Header().Set("Cache-Control", "no-store")
		io.WriteString(w, strings.Join(seen, " "))
	})
	spoof := [][2]string{
		{"X_Geo_Continent_Code", "AN"},
		{"x_geo_country_code", "FR"},
		{"X-GEO_COUNTRY-CODE", "DE"},
		{"X-Geo-Continent_Code", "OC"},
	}
	filler := func(n int) [][2]string {
		var f [][2]string
		for i := range n {
			f = append(f, [2]string{"X-Filler-" + strconv.Itoa(i), "1"})
		}
		return f
	}
	for _, c := range []struct {
		name    string
		country string // site country header ("" = default)
		hdr     [][2]string
		want    string
	}{
		{"small header", "", spoof, "X-Geo-Continent-Code=XX X-Geo-Country-Code=XX"},
		{"large header", "", append(filler(14), spoof...), "X-Geo-Continent-Code=XX X-Geo-Country-Code=XX"},
		{"custom name", "CF-IPCountry", [][2]string{{"Cf_Ipcountry", "US"}, {"X_Geo_Continent_Code", "AN"}}, "Cf-Ipcountry=XX X-Geo-Continent-Code=XX"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEdge(t, o, func(cfg *Config, s *Site) {
				cfg.Geo = fixedGeo{}
				s.GeoCountryHeader = c.country
			})
			for _, method := range []string{"GET", "POST"} { // miss and pass
				req, err := http.NewRequest(method, e.srv.URL+"/g", nil)
				if err != nil {
					t.Fatal(err)
				}
				for _, kv := range c.hdr {
					req.Header[kv[0]] = append(req.Header[kv[0]], kv[1]) // the spelling as given
				}
				res, err := e.client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if string(b) != c.want {
					t.Errorf("%s: origin saw %q, want %q", method, b, c.want)
				}
			}
		})
	}
}

// fixedGeo locates every client nowhere (XX).
type fixedGeo struct{}

func (fixedGeo) Resolve(remoteAddr string, h http.Header) (netip.Addr, geo.Location) {
	return netip.Addr{}, geo.Location{Country: geo.Unknown, Continent: geo.Unknown}
}

func TestGeoNameEqual(t *testing.T) {
	for _, c := range []struct {
		k, name string
		want    bool
	}{
		{"X-Geo-Country-Code", "X-Geo-Country-Code", true},
		{"X_Geo_Country_Code", "X-Geo-Country-Code", true},
		{"x_geo_country_code", "X-Geo-Country-Code", true},
		{"X-GEO_COUNTRY-CODE", "X-Geo-Country-Code", true},
		{"X-Country", "X_country", true}, // a configured name with '_'
		{"X_Geo_Country", "X-Geo-Country-Code", false},
		{"X-Geo-Country-Code_", "X-Geo-Country-Code", false},
		{"X-Geo-Country-Cod", "X-Geo-Country-Code", false},
		{"X.Geo.Country.Code", "X-Geo-Country-Code", false},
		{"X-Geo-Country-Code", "X-Geo-Continent-Code", false},
	} {
		if got := foldedNameEqual(c.k, c.name); got != c.want {
			t.Errorf("foldedNameEqual(%q, %q) = %v, want %v", c.k, c.name, got, c.want)
		}
	}
}

// The unkeyed fields are recognised in every spelling, and only they.
func TestUnkeyedKindOf(t *testing.T) {
	for _, c := range []struct {
		k    string
		want unkeyedKind
	}{
		{"X-Forwarded-Host", unkeyedForward},
		{"X_forwarded_host", unkeyedForward},
		{"X-Forwarded-Client-Cert-Chain-Of-Some-Length", unkeyedForward},
		{"Forwarded", unkeyedForward},
		{"FORWARDED", unkeyedForward},
		{"X_real_ip", unkeyedForward},
		{"X-Http-Method-Override", unkeyedOverride},
		{"X_http_method_override", unkeyedOverride},
		{"X-Original-Url", unkeyedOverride},
		{"X-Forwarded", 0},
		{"Forwarded-For", 0},
		{"X-Hosts", 0},
		{"Accept", 0},
		{"X-Geo-Country-Code", 0},
		{"X.Original.Url", 0},
		{strings.Repeat("X-Original-Url", 3), 0},
	} {
		if got := unkeyedKindOf(c.k); got != c.want {
			t.Errorf("unkeyedKindOf(%q) = %d, want %d", c.k, got, c.want)
		}
	}
}
