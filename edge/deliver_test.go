package edge

import (
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// RFC 9110 §13.1, §13.2.2, §15.4.5: client conditionals answered from the
// cache — If-None-Match with the weak comparison, If-Modified-Since,
// If-Match (strong) → 412; on a hit and on the miss that stores it.
func TestClientConditionals(t *testing.T) {
	lm := time.Now().Add(-time.Hour).UTC()
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("ETag", `"abc"`)
		w.Header().Set("Last-Modified", lm.Format(http.TimeFormat))
		io.WriteString(w, "representation")
	})
	fmtT := func(t time.Time) string { return t.Format(http.TimeFormat) }
	cases := []struct {
		name string
		hdr  []string
		want int
	}{
		{"If-None-Match same tag", []string{"If-None-Match", `"abc"`}, 304},
		{"If-None-Match weak tag matches weakly", []string{"If-None-Match", `W/"abc"`}, 304},
		{"If-None-Match list", []string{"If-None-Match", `"x", "abc"`}, 304},
		{"If-None-Match *", []string{"If-None-Match", `*`}, 304},
		{"If-None-Match other tag", []string{"If-None-Match", `"zzz"`}, 200},
		{"If-Modified-Since later", []string{"If-Modified-Since", fmtT(lm.Add(time.Minute))}, 304},
		{"If-Modified-Since earlier", []string{"If-Modified-Since", fmtT(lm.Add(-time.Minute))}, 200},
		{"If-Modified-Since ignored when If-None-Match present", []string{"If-None-Match", `"zzz"`, "If-Modified-Since", fmtT(lm.Add(time.Minute))}, 200},
		{"If-Modified-Since garbage", []string{"If-Modified-Since", "not a date"}, 200},
		{"If-Match other tag", []string{"If-Match", `"zzz"`}, 412},
		{"If-Match weak never matches (strong comparison)", []string{"If-Match", `W/"abc"`}, 412},
		{"If-Match same tag", []string{"If-Match", `"abc"`}, 200},
	}
	for _, first := range []bool{true, false} {
		e := newEdge(t, o)
		if !first {
			e.get("/c")
			e.settle()
		}
		for i, c := range cases {
			path := "/c"
			if first {
				path += strconv.Itoa(i) // every case is the miss that stores the object
			}
			r := e.get(path, c.hdr...)
			if r.StatusCode != c.want {
				t.Errorf("miss=%v %s: status %d, want %d", first, c.name, r.StatusCode, c.want)
				continue
			}
			switch c.want {
			case 304:
				if r.body != "" || r.Header.Get("ETag") != `"abc"` || r.Header.Get("Cache-Control") != "max-age=60" {
					t.Errorf("%s: 304 %q %v", c.name, r.body, r.Header)
				}
			case 200:
				if r.body != "representation" {
					t.Errorf("%s: body %q", c.name, r.body)
				}
			}
		}
		if !first && o.hits.Load() > 1+int64(len(cases)) {
			t.Errorf("conditionals on hits went to the origin")
		}
	}
}

// RFC 9110 §14: Range from a cached full object — single, suffix, open,
// multiple (multipart/byteranges), If-Range, 416, invalid → 200; on a miss
// the whole object is fetched and stored, then the range answered.
func TestRanges(t *testing.T) {
	body := make([]byte, 1000)
	for i := range body {
		body[i] = 'a' + byte(i%26)
	}
	var ranged atomic.Int64
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") != "" {
			ranged.Add(1)
		}
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("ETag", `"r1"`)
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Date", time.Now().UTC().Format(http.TimeFormat))
		w.Header().Set("Last-Modified", time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat))
		w.Write(body)
	})
	e := newEdge(t, o)
	// Miss with a Range: whole object fetched, range answered, object stored.
	r := e.get("/r", "Range", "bytes=10-19")
	if r.StatusCode != 206 || r.body != string(body[10:20]) || r.Header.Get("Content-Range") != "bytes 10-19/1000" {
		t.Fatalf("range on a miss: %d %q %q", r.StatusCode, r.body, r.Header.Get("Content-Range"))
	}
	e.settle()
	if ranged.Load() != 0 {
		t.Error("the origin saw a Range header")
	}
	if full := e.get("/r"); full.Header.Get("X-Cache") != "HIT" || full.body != string(body) {
		t.Fatalf("object not stored whole after a range miss")
	}
	cases := []struct {
		name, rng string
		hdr       []string
		status    int
		want      string // body (single range / full)
		cr        string // Content-Range
		parts     []string
	}{
		{"single", "bytes=0-9", nil, 206, string(body[:10]), "bytes 0-9/1000", nil},
		{"suffix", "bytes=-5", nil, 206, string(body[995:]), "bytes 995-999/1000", nil},
		{"open-ended", "bytes=998-", nil, 206, string(body[998:]), "bytes 998-999/1000", nil},
		{"end beyond size is clamped", "bytes=990-5000", nil, 206, string(body[990:]), "bytes 990-999/1000", nil},
		{"multiple", "bytes=0-1, 10-12", nil, 206, "", "", []string{string(body[0:2]), string(body[10:13])}},
		{"unsatisfiable", "bytes=5000-6000", nil, 416, "", "bytes */1000", nil},
		{"invalid unit ignored", "items=0-1", nil, 200, string(body), "", nil},
		{"malformed ignored", "bytes=abc", nil, 200, string(body), "", nil},
		{"If-Range matching etag", "bytes=0-9", []string{"If-Range", `"r1"`}, 206, string(body[:10]), "bytes 0-9/1000", nil},
		{"If-Range other etag", "bytes=0-9", []string{"If-Range", `"zz"`}, 200, string(body), "", nil},
		{"If-Range weak etag", "bytes=0-9", []string{"If-Range", `W/"r1"`}, 200, string(body), "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.get("/r", append([]string{"Range", c.rng}, c.hdr...)...)
			if r.StatusCode != c.status {
				t.Fatalf("status %d, want %d", r.StatusCode, c.status)
			}
			if r.Header.Get("Content-Range") != c.cr {
				t.Errorf("Content-Range %q, want %q", r.Header.Get("Content-Range"), c.cr)
			}
			if c.parts == nil {
				if r.body != c.want {
					t.Errorf("body %q", r.body)
				}
				if c.status != 416 && r.Header.Get("Content-Length") != strconv.Itoa(len(c.want)) {
					t.Errorf("Content-Length %q", r.Header.Get("Content-Length"))
				}
				return
			}
			mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if err != nil || mt != "multipart/byteranges" {
				t.Fatalf("Content-Type %q", r.Header.Get("Content-Type"))
			}
			if r.Header.Get("Content-Length") != strconv.Itoa(len(r.body)) {
				t.Errorf("Content-Length %q for %d bytes", r.Header.Get("Content-Length"), len(r.body))
			}
			mr := multipart.NewReader(strings.NewReader(r.body), params["boundary"])
			for i, want := range c.parts {
				part, err := mr.NextPart()
				if err != nil {
					t.Fatalf("part %d: %v", i, err)
				}
				b, _ := io.ReadAll(part)
				if string(b) != want || part.Header.Get("Content-Type") != "text/plain" || !strings.HasSuffix(part.Header.Get("Content-Range"), "/1000") {
					t.Errorf("part %d: %q %v", i, b, part.Header)
				}
			}
			if _, err := mr.NextPart(); err != io.EOF {
				t.Errorf("extra parts: %v", err)
			}
		})
	}
	if o.hits.Load() != 1 {
		t.Errorf("origin requests %d", o.hits.Load())
	}
}

// Issue 5: HEAD from a cached GET; a HEAD miss fetches with GET so the
// object gets cached (RFC 9110 §9.3.2).
func TestHead(t *testing.T) {
	var methods sync.Map
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		methods.Store(r.URL.Path, r.Method)
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "0123456789")
	})
	e := newEdge(t, o)
	// HEAD miss.
	r := e.do("HEAD", "/h1")
	if m, _ := methods.Load("/h1"); m != "GET" {
		t.Errorf("HEAD miss reached the origin as %v", m)
	}
	if r.StatusCode != 200 || r.body != "" || r.Header.Get("Content-Length") != "10" {
		t.Errorf("HEAD miss: %d %q CL %q", r.StatusCode, r.body, r.Header.Get("Content-Length"))
	}
	e.settle()
	if g := e.get("/h1"); g.Header.Get("X-Cache") != "HIT" || g.body != "0123456789" {
		t.Errorf("GET after HEAD miss: %s %q", g.Header.Get("X-Cache"), g.body)
	}
	// HEAD hit of a cached GET.
	e.get("/h2")
	e.settle()
	r = e.do("HEAD", "/h2")
	if r.Header.Get("X-Cache") != "HIT" || r.body != "" || r.Header.Get("Content-Length") != "10" {
		t.Errorf("HEAD hit: %s %q CL %q", r.Header.Get("X-Cache"), r.body, r.Header.Get("Content-Length"))
	}
	if o.hits.Load() != 2 {
		t.Errorf("origin requests %d", o.hits.Load())
	}
}

// RFC 9111 §4.1 (Vary): variants per URL selected by the request fields
// the response names; Accept-Encoding normalised first (issue 5); Vary: *
// never matches; uri-miss vs vary-miss in Cache-Status (RFC 9211).
func TestVary(t *testing.T) {
	var aeSeen sync.Map
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		switch r.URL.Path {
		case "/lang":
			w.Header().Set("Vary", "Accept-Language")
			io.WriteString(w, "lang:"+r.Header.Get("Accept-Language"))
		case "/enc":
			ae := r.Header.Get("Accept-Encoding")
			aeSeen.Store(ae, true)
			w.Header().Set("Vary", "accept-encoding")
			io.WriteString(w, "enc:"+ae)
		case "/star":
			w.Header().Set("Vary", "*")
			io.WriteString(w, "star")
		}
	})
	e := newEdge(t, o)
	cases := []struct {
		path    string
		hdr     []string
		body    string
		xcache  string
		fwd     string
		origins int64 // origin requests so far
	}{
		{"/lang", []string{"Accept-Language", "en"}, "lang:en", "MISS", "uri-miss", 1},
		{"/lang", []string{"Accept-Language", "de"}, "lang:de", "MISS", "vary-miss", 2},
		{"/lang", []string{"Accept-Language", "en"}, "lang:en", "HIT", "", 2},
		{"/lang", []string{"Accept-Language", "de"}, "lang:de", "HIT", "", 2},
		{"/lang", []string{"Accept-Language", " de "}, "lang:de", "HIT", "", 2}, // whitespace normalised
		{"/lang", nil, "lang:", "MISS", "vary-miss", 3},
		{"/enc", []string{"Accept-Encoding", "gzip, deflate, br"}, "enc:br", "MISS", "uri-miss", 4},
		{"/enc", []string{"Accept-Encoding", "br"}, "enc:br", "HIT", "", 4},
		{"/enc", []string{"Accept-Encoding", "br;q=1.0, gzip;q=0.5"}, "enc:br", "HIT", "", 4},
		{"/enc", []string{"Accept-Encoding", "gzip"}, "enc:gzip", "MISS", "vary-miss", 5},
		{"/enc", []string{"Accept-Encoding", "x-gzip, deflate"}, "enc:gzip", "HIT", "", 5},
		{"/enc", []string{"Accept-Encoding", "br;q=0, identity"}, "enc:", "MISS", "vary-miss", 6},
		{"/enc", nil, "enc:", "HIT", "", 6},
		{"/star", nil, "star", "MISS", "uri-miss", 7},
		{"/star", nil, "star", "MISS", "miss", 8}, // remembered as uncacheable (hit-for-miss)
	}
	for i, c := range cases {
		r := e.get(c.path, c.hdr...)
		e.settle()
		cs := r.Header.Get("Cache-Status")
		fwd, _ := csParam(cs, "fwd")
		if r.body != c.body || r.Header.Get("X-Cache") != c.xcache || fwd != c.fwd {
			t.Errorf("%d %s %v: %q %s (%s), want %q %s fwd=%s", i, c.path, c.hdr, r.body, r.Header.Get("X-Cache"), cs, c.body, c.xcache, c.fwd)
		}
		if got := o.hits.Load(); got != c.origins {
			t.Errorf("%d: origin requests %d, want %d", i, got, c.origins)
		}
	}
	aeSeen.Range(func(k, _ any) bool {
		if s := k.(string); s != "br" && s != "gzip" && s != "" {
			t.Errorf("origin saw Accept-Encoding %q (not normalised)", s)
		}
		return true
	})
}
