package purgegate_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/meshcdn/meshcdn/edge/purgegate"
	"github.com/meshcdn/meshcdn/geo"
	"github.com/meshcdn/meshcdn/store"
)

func TestToken(t *testing.T) {
	cases := []struct {
		name               string
		hdr                http.Header
		tok                string
		present, malformed bool
	}{
		{"none", http.Header{}, "", false, false},
		{"Fastly-Key", http.Header{"Fastly-Key": {"abc"}}, "abc", true, false},
		{"Fastly-Key padded", http.Header{"Fastly-Key": {" \tabc \t"}}, "abc", true, false},
		{"Fastly-Key blank", http.Header{"Fastly-Key": {" "}}, "", false, false},
		{"Fastly-Key twice", http.Header{"Fastly-Key": {"abc", "abc"}}, "", true, true},
		{"bearer", http.Header{"Authorization": {"Bearer abc"}}, "abc", true, false},
		{"bearer any case", http.Header{"Authorization": {"bEaReR abc"}}, "abc", true, false},
		{"bearer tab and spaces", http.Header{"Authorization": {" Bearer\t  abc  "}}, "abc", true, false},
		{"bearer without token", http.Header{"Authorization": {"Bearer "}}, "", false, false},
		{"bearer glued", http.Header{"Authorization": {"Bearerabc"}}, "", false, false},
		{"basic", http.Header{"Authorization": {"Basic YWJj"}}, "", false, false},
		{"authorization twice", http.Header{"Authorization": {"Bearer abc", "Bearer abc"}}, "", true, true},
		{"Fastly-Key first", http.Header{"Fastly-Key": {"one"}, "Authorization": {"Bearer two"}}, "one", true, false},
		{"blank Fastly-Key, bearer", http.Header{"Fastly-Key": {""}, "Authorization": {"Bearer two"}}, "two", true, false},
	}
	for _, c := range cases {
		tok, present, malformed := purgegate.Token(c.hdr)
		if tok != c.tok || present != c.present || malformed != c.malformed {
			t.Errorf("%s: Token = %q %v %v, want %q %v %v", c.name, tok, present, malformed, c.tok, c.present, c.malformed)
		}
	}
}

func pfx(s ...string) (out []netip.Prefix) {
	for _, v := range s {
		out = append(out, netip.MustParsePrefix(v))
	}
	return out
}

func TestCheck(t *testing.T) {
	res, err := geo.NewResolver(geo.ResolverConfig{TrustedProxies: pfx("10.0.0.0/8"), PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	const tok = "s3cret"
	type req struct {
		peer string
		hdr  http.Header
	}
	cases := []struct {
		name    string
		cfg     purgegate.Config
		req     req
		reason  string
		by      string
		client  string
		refusal int
	}{
		{"no token", purgegate.Config{Token: tok}, req{"203.0.113.9:1", nil}, purgegate.ReasonMissingToken, "", "", 401},
		{"wrong token", purgegate.Config{Token: tok}, req{"203.0.113.9:1", http.Header{"Fastly-Key": {"x"}}}, purgegate.ReasonBadToken, "", "", 403},
		{"token prefix", purgegate.Config{Token: tok}, req{"203.0.113.9:1", http.Header{"Fastly-Key": {tok[:3]}}}, purgegate.ReasonBadToken, "", "", 403},
		{"token", purgegate.Config{Token: tok}, req{"203.0.113.9:1", http.Header{"Fastly-Key": {tok}}}, "", "token", "", 0},
		{"bearer", purgegate.Config{Token: tok}, req{"203.0.113.9:1", http.Header{"Authorization": {"Bearer " + tok}}}, "", "token", "", 0},
		{"ambiguous", purgegate.Config{Token: tok}, req{"203.0.113.9:1", http.Header{"Fastly-Key": {tok, "x"}}}, purgegate.ReasonBadToken, "", "", 403},
		{"no token configured", purgegate.Config{}, req{"203.0.113.9:1", http.Header{"Fastly-Key": {""}, "Authorization": {"Bearer x"}}}, purgegate.ReasonBadToken, "", "", 403},
		{"allowed peer", purgegate.Config{Allow: pfx("203.0.113.0/24")}, req{"203.0.113.9:1", nil}, "", "address", "203.0.113.9", 0},
		{"allowed mapped peer", purgegate.Config{Allow: pfx("203.0.113.0/24")}, req{"[::ffff:203.0.113.9]:1", nil}, "", "address", "203.0.113.9", 0},
		{"allow-list as mapped prefix", purgegate.Config{Allow: pfx("::ffff:203.0.113.0/120")}, req{"203.0.113.9:1", nil}, "", "address", "203.0.113.9", 0},
		{"peer not allowed", purgegate.Config{Allow: pfx("198.51.100.0/24")}, req{"203.0.113.9:1", nil}, purgegate.ReasonMissingToken, "", "203.0.113.9", 401},
		{"peer not allowed, token", purgegate.Config{Token: tok, Allow: pfx("198.51.100.0/24")}, req{"203.0.113.9:1", http.Header{"Fastly-Key": {tok}}}, "", "token", "203.0.113.9", 0},
		{"unparseable peer", purgegate.Config{Allow: pfx("0.0.0.0/0")}, req{"@", nil}, purgegate.ReasonMissingToken, "", "invalid IP", 401},
		// Client resolution through trusted proxies (10/8).
		{"trusted proxy allowed, its client not", purgegate.Config{Allow: pfx("10.0.0.0/8"), Clients: res},
			req{"10.0.0.1:1", http.Header{"X-Forwarded-For": {"8.8.8.8"}}}, purgegate.ReasonMissingToken, "", "8.8.8.8", 401},
		{"chain of trusted proxies, client allowed", purgegate.Config{Allow: pfx("198.51.100.0/24"), Clients: res},
			req{"10.0.0.1:1", http.Header{"X-Forwarded-For": {"1.1.1.1, 198.51.100.7, 10.9.9.9"}}}, "", "address", "198.51.100.7", 0},
		{"chain: a spoofed allowed address left of the client", purgegate.Config{Allow: pfx("198.51.100.0/24"), Clients: res},
			req{"10.0.0.1:1", http.Header{"X-Forwarded-For": {"198.51.100.7, 8.8.8.8, 10.9.9.9"}}}, purgegate.ReasonMissingToken, "", "8.8.8.8", 401},
		{"untrusted peer's X-Forwarded-For ignored", purgegate.Config{Allow: pfx("198.51.100.0/24"), Clients: res},
			req{"203.0.113.9:1", http.Header{"X-Forwarded-For": {"198.51.100.7"}}}, purgegate.ReasonMissingToken, "", "203.0.113.9", 401},
		{"trusted proxy without a header is the client", purgegate.Config{Allow: pfx("10.0.0.0/8"), Clients: res},
			req{"10.0.0.1:1", nil}, "", "address", "10.0.0.1", 0},
		{"proxied client with the token", purgegate.Config{Token: tok, Allow: pfx("10.0.0.0/8"), Clients: res},
			req{"10.0.0.1:1", http.Header{"X-Forwarded-For": {"8.8.8.8"}, "Authorization": {"Bearer " + tok}}}, "", "token", "8.8.8.8", 0},
	}
	for _, c := range cases {
		g, err := purgegate.New(c.cfg)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		r := httptest.NewRequest("PURGE", "/x", nil)
		r.RemoteAddr = c.req.peer
		if c.req.hdr != nil {
			r.Header = c.req.hdr
		}
		v := g.Check(r)
		client := ""
		if v.Client.IsValid() || len(c.cfg.Allow) > 0 {
			client = v.Client.String()
		}
		if v.Reason != c.reason || v.By != c.by || client != c.client || v.OK() != (c.reason == "") {
			t.Errorf("%s: %+v (client %s), want reason %q by %q client %q", c.name, v, client, c.reason, c.by, c.client)
		}
		if c.refusal == 0 {
			continue
		}
		w := httptest.NewRecorder()
		status, n := v.Refuse(w)
		auth := w.Header().Get("WWW-Authenticate")
		if status != c.refusal || w.Code != c.refusal || n != w.Body.Len() || (auth != "") != (c.refusal == 401) ||
			w.Header().Get("Content-Type") != "application/json" || !strings.Contains(w.Body.String(), `"status":"error"`) {
			t.Errorf("%s: refusal %d %d %q %v %s", c.name, status, w.Code, auth, w.Header(), w.Body)
		}
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	for _, tok := range []string{" x", "x y", "x\n", strings.Repeat("x", purgegate.MaxTokenBytes+1)} {
		if _, err := purgegate.New(purgegate.Config{Token: tok}); err == nil {
			t.Errorf("token %.20q accepted", tok)
		}
	}
	if _, err := purgegate.New(purgegate.Config{Allow: []netip.Prefix{{}}}); err == nil {
		t.Error("invalid prefix accepted")
	}
}

func TestLimits(t *testing.T) {
	for _, c := range []struct {
		key string
		ok  bool
	}{
		{"k", true}, {"", false}, {strings.Repeat("k", purgegate.MaxKeyBytes), true},
		{strings.Repeat("k", purgegate.MaxKeyBytes+1), false}, {"a\x00b", false}, {"a\x7fb", false}, {"a b", true},
	} {
		if err := purgegate.CheckKey(c.key); (err == nil) != c.ok {
			t.Errorf("CheckKey(%.20q) = %v", c.key, err)
		}
	}
	if purgegate.CheckURLKey(strings.Repeat("u", purgegate.MaxURLBytes)) != nil || purgegate.CheckURLKey(strings.Repeat("u", purgegate.MaxURLBytes+1)) == nil {
		t.Error("CheckURLKey bound")
	}
}

// Local stamps ids origin/boot/seq, distinct under concurrency.
func TestLocal(t *testing.T) {
	st := store.New(store.Config{MaxBytes: 1 << 20})
	defer st.Close()
	l := purgegate.NewLocal(st)
	shape := regexp.MustCompile(`^local/[0-9]+/([0-9]+)$`)
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				r := l.Purge(store.Purge{Keys: []string{"k"}})
				mu.Lock()
				if !shape.MatchString(r.ID) || seen[r.ID] || r.Seq == 0 {
					t.Errorf("id %q (seq %d)", r.ID, r.Seq)
				}
				seen[r.ID] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != 400 {
		t.Errorf("%d ids", len(seen))
	}
}
