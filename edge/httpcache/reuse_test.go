package httpcache

import (
	"net/http"
	"net/url"
	"testing"
	"time"
)

func TestClientAllows(t *testing.T) {
	req := func(v string) Directives { return ParseCacheControl([]string{v}) }
	tests := []struct {
		rfc       string
		name      string
		req       Directives
		age, life time.Duration
		mustReval bool
		want      bool
	}{
		{"RFC 9111 §4.2", "fresh, no directives", req(""), 10 * s, 60 * s, false, true},
		{"RFC 9111 §4.2", "stale, no directives", req(""), 60 * s, 60 * s, false, false},
		{"RFC 9111 §5.2.1.4", "no-cache", req("no-cache"), 0, 60 * s, false, false},
		{"RFC 9111 §5.2.1.1", "max-age=0", req("max-age=0"), 0, 60 * s, false, false},
		{"RFC 9111 §5.2.1.1", "max-age older", req("max-age=5"), 10 * s, 60 * s, false, false},
		{"RFC 9111 §5.2.1.1", "max-age younger", req("max-age=20"), 10 * s, 60 * s, false, true},
		{"RFC 9111 §5.2.1.3", "min-fresh met", req("min-fresh=30"), 10 * s, 60 * s, false, true},
		{"RFC 9111 §5.2.1.3", "min-fresh not met", req("min-fresh=30"), 40 * s, 60 * s, false, false},
		{"RFC 9111 §5.2.1.2", "max-stale admits", req("max-stale=30"), 80 * s, 60 * s, false, true},
		{"RFC 9111 §5.2.1.2", "max-stale exceeded", req("max-stale=10"), 80 * s, 60 * s, false, false},
		{"RFC 9111 §5.2.1.2", "bare max-stale admits any", req("max-stale"), 1000 * time.Hour, 60 * s, false, true},
		{"RFC 9111 §4.2.4", "max-stale vs must-revalidate", req("max-stale"), 80 * s, 60 * s, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.rfc+"/"+tc.name, func(t *testing.T) {
			if got := ClientAllows(tc.req, tc.age, tc.life, tc.mustReval); got != tc.want {
				t.Errorf("ClientAllows = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestInvalidationURIs(t *testing.T) {
	target, _ := url.Parse("https://example.com/a/b?x=1")
	strs := func(us []*url.URL) []string {
		var out []string
		for _, u := range us {
			out = append(out, u.String())
		}
		return out
	}
	tests := []struct {
		rfc    string
		name   string
		method string
		status int
		h      http.Header
		want   []string
	}{
		{"RFC 9111 §4.4", "GET invalidates nothing", "GET", 200, hdr(), nil},
		{"RFC 9111 §4.4", "OPTIONS is safe", "OPTIONS", 200, hdr(), nil},
		{"RFC 9111 §4.4", "POST invalidates the target", "POST", 200, hdr(), []string{"https://example.com/a/b?x=1"}},
		{"RFC 9111 §4.4", "error status invalidates nothing", "POST", 500, hdr(), nil},
		{"RFC 9111 §4.4", "3xx counts", "DELETE", 303, hdr("Location", "/c"), []string{"https://example.com/a/b?x=1", "https://example.com/c"}},
		{"RFC 9111 §4.4", "relative Content-Location", "PUT", 201, hdr("Content-Location", "d"), []string{"https://example.com/a/b?x=1", "https://example.com/a/d"}},
		{"RFC 9111 §4.4", "other origin ignored", "PATCH", 200, hdr("Location", "https://evil.example/c"), []string{"https://example.com/a/b?x=1"}},
		{"RFC 9111 §4.4", "other scheme ignored", "PATCH", 200, hdr("Location", "http://example.com/c"), []string{"https://example.com/a/b?x=1"}},
		{"RFC 9111 §4.4", "extension method is unsafe", "PROPPATCH", 207, hdr("Location", "/z"), []string{"https://example.com/a/b?x=1", "https://example.com/z"}},
		{"RFC 9111 §4.4", "duplicates removed", "POST", 200, hdr("Location", "/a/b?x=1", "Content-Location", "/a/b?x=1"), []string{"https://example.com/a/b?x=1"}},
		{"RFC 9111 §4.4", "malformed ignored", "POST", 200, hdr("Location", "%zz"), []string{"https://example.com/a/b?x=1"}},
	}
	for _, tc := range tests {
		t.Run(tc.rfc+"/"+tc.name, func(t *testing.T) {
			got := strs(InvalidationURIs(tc.method, tc.status, target, tc.h))
			if len(got) != len(tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("got %q, want %q", got, tc.want)
				}
			}
		})
	}
}
