package edge

import (
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/meshcdn/meshcdn/geo"
)

// headerDump answers with every request field the origin received, one
// "name: value" line each (names as the Go server canonicalised them), and
// the Host; cacheable for a minute.
func headerDump(w http.ResponseWriter, r *http.Request) {
	var lines []string
	for k, v := range r.Header {
		lines = append(lines, k+": "+strings.Join(v, " | "))
	}
	sort.Strings(lines)
	w.Header().Set("Cache-Control", "max-age=60")
	io.WriteString(w, "Host: "+r.Host+"\n"+strings.Join(lines, "\n")+"\n")
}

// dumped returns the values of field name (compared with '_' read as '-',
// in any case) in a headerDump body.
func dumped(body, name string) []string {
	var out []string
	for line := range strings.SplitSeq(body, "\n") {
		k, v, ok := strings.Cut(line, ": ")
		if ok && foldedNameEqual(k, name) {
			out = append(out, v)
		}
	}
	return out
}

// Forwarding, method-override and URL-override fields a client sends are
// unkeyed: on a request fetched for the cache none reaches the origin, in
// any spelling, so a clean request later gets a clean copy. What the edge
// says about the client, the scheme and the host (one X-Forwarded-For,
// one X-Forwarded-Proto, X-Forwarded-Host = Host) replaces the client's.
func TestUnkeyedFieldsNotStored(t *testing.T) {
	cases := []struct{ field, value string }{
		{"Forwarded", "for=8.8.8.8;host=evil.example;proto=https"},
		{"X-Forwarded-Host", "evil.example"},
		{"X-Forwarded-Server", "evil.example"},
		{"X-Forwarded-Scheme", "https"},
		{"X-Forwarded-Proto", "https"},
		{"X-Forwarded-Port", "8443"},
		{"X-Forwarded-Prefix", "/evil"},
		{"X-Forwarded-Ssl", "on"},
		{"X-Forwarded-For", "8.8.8.8"},
		{"Front-End-Https", "on"},
		{"X-Host", "evil.example"},
		{"X-Original-Host", "evil.example"},
		{"X-Real-Ip", "8.8.8.8"},
		{"True-Client-Ip", "8.8.8.8"},
		{"X-Original-Url", "/evil"},
		{"X-Rewrite-Url", "/evil"},
		{"X-Http-Method-Override", "DELETE"},
		{"X-Http-Method", "DELETE"},
		{"X-Method-Override", "DELETE"},
		// '_' spellings, which CGI, WSGI, PHP and Rack read as the '-' ones.
		{"X_Forwarded_Host", "evil.example"},
		{"X_Original_URL", "/evil"},
		{"X_Forwarded_Proto", "https"},
		{"x_http_method_override", "DELETE"},
		{"X-Forwarded_Prefix", "/evil"},
	}
	o := newOrigin(t, headerDump)
	e := newEdge(t, o)
	for i, c := range cases {
		path := "/u" + string(rune('a'+i))
		first := e.get(path, c.field, c.value, "Host", "site.example")
		e.settle()
		clean := e.get(path, "Host", "site.example")
		for _, r := range []resp{first, clean} {
			restated := foldedNameEqual(c.field, "X-Forwarded-For") || foldedNameEqual(c.field, "X-Forwarded-Proto") ||
				foldedNameEqual(c.field, "X-Forwarded-Host")
			if got := dumped(r.body, c.field); !restated && len(got) > 0 {
				t.Errorf("%s: the origin saw %s: %q", c.field, c.field, got)
			}
			if strings.Contains(r.body, "evil") || strings.Contains(r.body, "8.8.8.8") || strings.Contains(r.body, "DELETE") ||
				strings.Contains(r.body, "8443") || strings.Contains(r.body, "https") || strings.Contains(r.body, ": on") {
				t.Errorf("%s: %s response carries the client's value:\n%s", c.field, r.Header.Get("X-Cache"), r.body)
			}
		}
		if clean.Header.Get("X-Cache") != "HIT" {
			t.Errorf("%s: clean request %s, want a HIT", c.field, clean.Header.Get("X-Cache"))
		}
		for name, want := range map[string]string{"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Proto": "http", "X-Forwarded-Host": "site.example"} {
			if got := dumped(first.body, name); len(got) != 1 || got[0] != want {
				t.Errorf("%s: origin saw %s %q, want one %q", c.field, name, got, want)
			}
		}
	}
}

// What a trusted proxy says about the client and the scheme is
// re-expressed by the edge: one X-Forwarded-For with the client address the
// edge determined, one X-Forwarded-Proto; its Forwarded and other fields
// are not passed on.
func TestTrustedProxyReexpressed(t *testing.T) {
	r, err := geo.NewResolver(geo.ResolverConfig{TrustedProxies: loopback, PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	o := newOrigin(t, headerDump)
	e := newEdge(t, o, func(cfg *Config, _ *Site) { cfg.Geo = r })
	res := e.get("/t", "X-Forwarded-For", "8.8.8.8, 81.2.69.160", "X-Forwarded-Proto", "https",
		"Forwarded", "for=81.2.69.160;proto=https;host=evil.example", "X-Forwarded-Port", "443")
	for name, want := range map[string]string{"X-Forwarded-For": "81.2.69.160", "X-Forwarded-Proto": "https"} {
		if got := dumped(res.body, name); len(got) != 1 || got[0] != want {
			t.Errorf("origin saw %s %q, want one %q", name, got, want)
		}
	}
	for _, name := range []string{"Forwarded", "X-Forwarded-Port"} {
		if got := dumped(res.body, name); len(got) > 0 {
			t.Errorf("origin saw %s %q", name, got)
		}
	}
}

// A pass request (nothing is stored) keeps the method and URL overrides,
// which are the client's business with the origin; what it says about
// where it came from is replaced as on a cache fetch.
func TestPassKeepsOverridesOnly(t *testing.T) {
	o := newOrigin(t, headerDump)
	e := newEdge(t, o)
	r := e.do("POST", "/p", "X-Http-Method-Override", "PATCH", "X-Original-Url", "/other",
		"X-Forwarded-Host", "evil.example", "Forwarded", "host=evil.example", "X_Forwarded_Host", "evil.example",
		"X-Forwarded-For", "8.8.8.8", "Host", "site.example")
	if got := dumped(r.body, "X-Http-Method-Override"); len(got) != 1 || got[0] != "PATCH" {
		t.Errorf("pass: X-Http-Method-Override %q, want PATCH", got)
	}
	if got := dumped(r.body, "X-Original-Url"); len(got) != 1 || got[0] != "/other" {
		t.Errorf("pass: X-Original-Url %q, want /other", got)
	}
	if strings.Contains(r.body, "evil") || strings.Contains(r.body, "8.8.8.8") {
		t.Errorf("pass: the origin got the client's forwarding fields:\n%s", r.body)
	}
	if got := dumped(r.body, "X-Forwarded-Host"); len(got) != 1 || got[0] != "site.example" {
		t.Errorf("pass: X-Forwarded-Host %q, want site.example", got)
	}
}

// A Connection option naming a field the edge sets (geo, X-Forwarded-*,
// Via) has no effect on it: the edge sets them after the hop-by-hop
// removal. Otherwise a client could strip the geo headers and have the
// geo-less answer stored as its country's variant.
func TestConnectionCannotStripEdgeFields(t *testing.T) {
	db := testGeoDB(t)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Vary", "X-Geo-Country-Code")
		headerDump(w, r)
	})
	e := newEdge(t, o, func(cfg *Config, _ *Site) { cfg.Geo = testResolver(t, db) })
	conn := "keep-alive, X-Geo-Country-Code, X-Geo-Continent-Code, X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host, Via"
	first := e.get("/c", "X-Forwarded-For", "81.2.69.160", "Connection", conn, "Via", "1.1 upstream", "Host", "site.example")
	e.settle()
	clean := e.get("/c", "X-Forwarded-For", "81.2.69.161", "Host", "site.example")
	if clean.Header.Get("X-Cache") != "HIT" {
		t.Errorf("clean request from the same country: %s, want HIT", clean.Header.Get("X-Cache"))
	}
	for _, r := range []resp{first, clean} {
		for name, want := range map[string]string{
			"X-Geo-Country-Code": "GB", "X-Geo-Continent-Code": "EU", "X-Forwarded-For": "81.2.69.160",
			"X-Forwarded-Proto": "http", "X-Forwarded-Host": "site.example", "Via": "1.1 upstream, 1.1 edge1",
		} {
			if got := dumped(r.body, name); len(got) != 1 || got[0] != want {
				t.Errorf("%s: origin saw %s %q, want %q", r.Header.Get("X-Cache"), name, got, want)
			}
		}
	}
}
