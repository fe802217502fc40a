package api

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/meshcdn/meshcdn/edge/purgegate"
	"github.com/meshcdn/meshcdn/store"
)

// env is an admin API on a real socket in front of a real store.
type env struct {
	t   *testing.T
	st  *store.Store
	reg *prometheus.Registry
	srv *httptest.Server
}

func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	e := &env{t: t, st: store.New(store.Config{MaxBytes: 64 << 20}), reg: prometheus.NewRegistry()}
	if cfg.Store == nil {
		cfg.Store = e.st
	} else {
		e.st = cfg.Store
	}
	cfg.Registerer, cfg.Gatherer = e.reg, e.reg
	h, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	return e
}

// handler is the env's admin handler.
func (e *env) handler(t *testing.T) *handler {
	t.Helper()
	h, ok := e.srv.Config.Handler.(*handler)
	if !ok {
		t.Fatalf("handler is %T", e.srv.Config.Handler)
	}
	return h
}

// newEnvOn is newEnv serving on ln (an address known before the handler).
func newEnvOn(t *testing.T, cfg Config, ln net.Listener) *env {
	t.Helper()
	e := &env{t: t, st: cfg.Store, reg: prometheus.NewRegistry()}
	cfg.Registerer, cfg.Gatherer = e.reg, e.reg
	h, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.srv = httptest.NewUnstartedServer(h)
	e.srv.Listener.Close()
	e.srv.Listener = ln
	e.srv.Start()
	t.Cleanup(e.srv.Close)
	return e
}

// put stores an object under primary key primary tagged with keys.
func (e *env) put(primary string, keys ...string) {
	e.t.Helper()
	now := time.Now()
	o := &store.Object{Primary: primary, Status: 200, Header: http.Header{}, Body: []byte("body of " + primary),
		Keys: keys, RequestTime: now, ResponseTime: now, Lifetime: time.Hour}
	if err := e.st.Insert(o, e.st.Fence()); err != nil {
		e.t.Fatalf("insert %s: %v", primary, err)
	}
}

// stored reports whether primary has a stored object that is not soft-purged.
func (e *env) stored(primary string) (present, fresh bool) {
	o, _ := e.st.Lookup(primary, func([]string) string { return "" })
	if o == nil {
		return false, false
	}
	return true, !o.SoftPurged()
}

func (e *env) do(method, path string, hdr map[string]string, body string) (*http.Response, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp, string(b)
}

func (e *env) purge(body string, hdr map[string]string) (int, PurgeResponse, string) {
	e.t.Helper()
	resp, b := e.do("POST", "/purge", hdr, body)
	var pr PurgeResponse
	if resp.StatusCode == 200 || resp.StatusCode == 202 {
		if err := json.Unmarshal([]byte(b), &pr); err != nil {
			e.t.Fatalf("answer %q: %v", b, err)
		}
	}
	return resp.StatusCode, pr, b
}

// counter returns the value of a counter (or histogram sample count) with the given labels.
func (e *env) counter(name string, labels map[string]string) float64 {
	e.t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.Metric {
			if labelsMatch(m, labels) {
				if m.Counter != nil {
					return m.Counter.GetValue()
				}
				if m.Histogram != nil {
					return float64(m.Histogram.GetSampleCount())
				}
			}
		}
	}
	return 0
}

func labelsMatch(m *dto.Metric, want map[string]string) bool {
	n := 0
	for _, lp := range m.Label {
		if v, ok := want[lp.GetName()]; ok {
			if v != lp.GetValue() {
				return false
			}
			n++
		}
	}
	return n == len(want)
}

func TestNewRefusesNoTokenUnlessAllowed(t *testing.T) {
	if _, err := New(Config{Store: store.New(store.Config{})}); err == nil {
		t.Fatal("New without a token and without AllowNoToken succeeded")
	}
	if _, err := New(Config{Token: "x"}); err == nil {
		t.Fatal("New without a store succeeded")
	}
	if _, err := New(Config{Store: store.New(store.Config{}), AllowNoToken: true}); err != nil {
		t.Fatalf("AllowNoToken: %v", err)
	}
}

func TestNativePurgeByKey(t *testing.T) {
	e := newEnv(t, Config{AllowNoToken: true})
	e.put("example.com/users/1", "user/1", "company/7")
	e.put("example.com/users/2", "user/2", "company/7")
	e.put("example.com/users/3", "user/3", "company/8")

	code, pr, body := e.purge(`{"keys":["user/1"]}`, nil)
	if code != 200 || pr.Purged != 1 || pr.ID == "" || !pr.Complete {
		t.Fatalf("purge user/1: %d %s", code, body)
	}
	if p, _ := e.stored("example.com/users/1"); p {
		t.Fatal("users/1 still stored after its key was purged")
	}
	if p, _ := e.stored("example.com/users/2"); !p {
		t.Fatal("users/2 purged by another key")
	}
	code, pr, body = e.purge(`{"keys":["company/7","company/8","company/7"]}`, nil)
	if code != 200 || pr.Purged != 2 {
		t.Fatalf("purge companies: %d %s", code, body)
	}
	if e.st.Stats().Objects != 0 {
		t.Fatalf("%d objects left", e.st.Stats().Objects)
	}
	if got := e.counter("meshcdn_api_purges_total", map[string]string{"kind": "key", "soft": "false"}); got != 2 {
		t.Fatalf("meshcdn_api_purges_total{kind=key,soft=false} = %v, want 2", got)
	}
	if got := e.counter("meshcdn_api_purge_duration_seconds", map[string]string{"wait": "false"}); got != 2 {
		t.Fatalf("meshcdn_api_purge_duration_seconds count = %v, want 2", got)
	}
}

func TestNativePurgeByURL(t *testing.T) {
	e := newEnv(t, Config{AllowNoToken: true})
	e.put(store.KeyFor("example.com", "/v1/users/9", "company=3&lang=en"))
	e.put(store.KeyFor("example.com", "/", ""))
	e.put(store.KeyFor("example.com", "/a%2Fb", ""))
	e.put(store.KeyFor("example.com", "/keep", ""))

	code, pr, body := e.purge(`{"urls":["http://EXAMPLE.com:80/v1/users/9?lang=en&company=3","https://example.com","http://example.com/a%2Fb"]}`, nil)
	if code != 200 || pr.Purged != 3 {
		t.Fatalf("purge by url: %d %s", code, body)
	}
	if p, _ := e.stored(store.KeyFor("example.com", "/keep", "")); !p {
		t.Fatal("an unrelated URL was purged")
	}
	if got := e.counter("meshcdn_api_purges_total", map[string]string{"kind": "url", "soft": "false"}); got != 1 {
		t.Fatalf("purges_total{kind=url} = %v", got)
	}
}

func TestNativePurgeAllAndSoft(t *testing.T) {
	e := newEnv(t, Config{AllowNoToken: true})
	e.put("h/a", "k")
	e.put("h/b", "k")
	e.put("h/c")

	code, pr, body := e.purge(`{"keys":["k"],"soft":true}`, nil)
	if code != 200 || pr.Purged != 2 {
		t.Fatalf("soft purge: %d %s", code, body)
	}
	if present, fresh := e.stored("h/a"); !present || fresh {
		t.Fatalf("soft-purged object: present=%v fresh=%v, want kept and marked stale", present, fresh)
	}
	if got := e.counter("meshcdn_api_purges_total", map[string]string{"kind": "key", "soft": "true"}); got != 1 {
		t.Fatalf("purges_total{soft=true} = %v", got)
	}

	code, pr, body = e.purge(`{"all":true}`, nil)
	if code != 200 || pr.Purged != 3 {
		t.Fatalf("purge all: %d %s", code, body)
	}
	if e.st.Stats().Objects != 0 {
		t.Fatal("objects left after purge all")
	}
}

func TestAuth(t *testing.T) {
	const token = "s3cret-token"
	e := newEnv(t, Config{Token: token})
	e.put("h/a", "k")

	cases := []struct {
		name string
		hdr  map[string]string
		want int
	}{
		{"missing", nil, 401},
		{"empty bearer", map[string]string{"Authorization": "Bearer "}, 401},
		{"basic scheme", map[string]string{"Authorization": "Basic czNjcmV0LXRva2Vu"}, 401},
		{"wrong bearer", map[string]string{"Authorization": "Bearer nope"}, 403},
		{"wrong fastly-key", map[string]string{"Fastly-Key": "s3cret-toke"}, 403},
		{"longer token", map[string]string{"Fastly-Key": token + "x"}, 403},
		{"bearer", map[string]string{"Authorization": "Bearer " + token}, 200},
		{"bearer lower-case scheme", map[string]string{"Authorization": "bearer " + token}, 200},
		{"fastly-key", map[string]string{"Fastly-Key": token}, 200},
	}
	for _, c := range cases {
		for _, path := range []string{"/purge", "/service/svc/purge/k", "/service/svc/purge_all"} {
			body := ""
			if path == "/purge" {
				body = `{"keys":["k"]}`
			}
			resp, b := e.do("POST", path, c.hdr, body)
			if resp.StatusCode != c.want {
				t.Errorf("%s %s: status %d (%s), want %d", c.name, path, resp.StatusCode, b, c.want)
			}
			if c.want == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s %s: 401 without WWW-Authenticate", c.name, path)
			}
		}
	}
	if got := e.counter("meshcdn_api_purge_denied_total", map[string]string{"reason": "missing_token"}); got != 9 {
		t.Errorf("denied{missing_token} = %v, want 9", got)
	}
	if got := e.counter("meshcdn_api_purge_denied_total", map[string]string{"reason": "bad_token"}); got != 9 {
		t.Errorf("denied{bad_token} = %v, want 9", got)
	}
	// Read-only endpoints need no token.
	for _, path := range []string{"/healthz", "/readyz", "/stats", "/metrics"} {
		if resp, b := e.do("GET", path, nil, ""); resp.StatusCode != 200 {
			t.Errorf("GET %s: %d %s", path, resp.StatusCode, b)
		}
	}
}

func TestGarbageBodies(t *testing.T) {
	e := newEnv(t, Config{AllowNoToken: true})
	e.put("h/a", "k")
	long := strings.Repeat("x", purgegate.MaxKeyBytes+1)
	many := `{"keys":[` + strings.TrimSuffix(strings.Repeat(`"k",`, MaxKeys+1), ",") + `]}`
	cases := []struct{ name, body, want string }{
		{"empty", "", "empty body"},
		{"truncated", `{"keys":["k"`, "invalid JSON"},
		{"array", `["k"]`, "invalid JSON"},
		{"keys not a list", `{"keys":"k"}`, "invalid JSON"},
		{"unknown field", `{"keys":["k"],"surrogate_keys":["k"]}`, "unknown field"},
		{"trailing data", `{"keys":["k"]} {"all":true}`, "after the JSON object"},
		{"binary", "\x00\xff\xfe garbage", "invalid JSON"},
		{"null", `null`, "nothing to purge"},
		{"nothing", `{}`, "nothing to purge"},
		{"empty key", `{"keys":[""]}`, "empty"},
		{"control character", `{"keys":["a\u0000b"]}`, "control character"},
		{"key too long", `{"keys":["` + long + `"]}`, "1025 bytes"},
		{"too many keys", many, "too many"},
		{"relative url", `{"urls":["/v1/users/1"]}`, "not an absolute"},
		{"ftp url", `{"urls":["ftp://example.com/x"]}`, "not an absolute"},
		{"bad url", `{"urls":["http://[::1/x"]}`, "url 0"},
		{"no host", `{"urls":["http:///x"]}`, "no host"},
		{"all and keys", `{"all":true,"keys":["k"]}`, "cannot be combined"},
		{"soft not bool", `{"keys":["k"],"soft":"yes"}`, "invalid JSON"},
	}
	for _, c := range cases {
		code, _, body := e.purge(c.body, nil)
		if code != 400 || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d %s, want 400 mentioning %q", c.name, code, body, c.want)
		}
		if !json.Valid([]byte(body)) {
			t.Errorf("%s: error answer is not JSON: %q", c.name, body)
		}
	}
	if p, _ := e.stored("h/a"); !p {
		t.Fatal("a rejected purge removed an object")
	}
	for _, q := range []string{"?wait=some", "?timeout=soon", "?timeout=-1s", "?wait=all&timeout=0s"} {
		resp, body := e.do("POST", "/purge"+q, nil, `{"keys":["k"]}`)
		if resp.StatusCode != 400 {
			t.Errorf("%s: %d %s, want 400", q, resp.StatusCode, body)
		}
	}
	if resp, _ := e.do("GET", "/purge", nil, ""); resp.StatusCode != 405 {
		t.Errorf("GET /purge: %d, want 405", resp.StatusCode)
	}
	if got := e.counter("meshcdn_api_purge_rejected_total", map[string]string{"reason": "bad_json"}); got < 5 {
		t.Errorf("rejected{bad_json} = %v", got)
	}
}

// rawPost sends a POST with a body of n bytes over a plain TCP connection,
// writing the body concurrently, and returns the answer's status. The server
// may answer (and close) before the body is fully written.
func rawPost(t *testing.T, addr, path string, n int, chunked bool) int {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hdr := "POST " + path + " HTTP/1.1\r\nHost: admin\r\nContent-Type: application/json\r\n"
	if chunked {
		hdr += "Transfer-Encoding: chunked\r\n\r\n"
	} else {
		hdr += fmt.Sprintf("Content-Length: %d\r\n\r\n", n)
	}
	if _, err := conn.Write([]byte(hdr)); err != nil {
		t.Fatal(err)
	}
	go func() {
		// A valid-looking JSON prefix, then padding: only the size is wrong.
		chunk := []byte(`{"keys":["` + strings.Repeat("k", 64<<10))
		for sent := 0; sent < n; sent += len(chunk) {
			var err error
			if chunked {
				_, err = fmt.Fprintf(conn, "%x\r\n%s\r\n", len(chunk), chunk)
			} else {
				_, err = conn.Write(chunk)
			}
			if err != nil {
				return // the server answered and closed: expected
			}
			chunk = []byte(strings.Repeat("k", 64<<10))
		}
		if chunked {
			_, _ = conn.Write([]byte("0\r\n\r\n"))
		}
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer to a %d-byte body: %v", n, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestOversizeBody(t *testing.T) {
	e := newEnv(t, Config{AllowNoToken: true})
	addr := strings.TrimPrefix(e.srv.URL, "http://")
	for _, c := range []struct {
		path    string
		n       int
		chunked bool
	}{
		{"/purge", 10 << 20, false},
		{"/purge", 10 << 20, true},
		{"/purge", MaxBodyBytes + 1, false},
		{"/service/x/purge", 10 << 20, true},
	} {
		if got := rawPost(t, addr, c.path, c.n, c.chunked); got != 413 {
			t.Errorf("%s with %d bytes (chunked %v): status %d, want 413", c.path, c.n, c.chunked, got)
		}
	}
	if got := e.counter("meshcdn_api_purge_rejected_total", map[string]string{"reason": "too_large"}); got != 4 {
		t.Errorf("rejected{too_large} = %v, want 4", got)
	}
	// A body just under the limit is read (and rejected only for its content).
	body := `{"keys":["` + strings.Repeat("k", MaxBodyBytes-20) + `"]}`
	if code, _, b := e.purge(body, nil); code != 400 || !strings.Contains(b, "bytes (at most 1024)") {
		t.Errorf("body under the limit: %d %s", code, b)
	}
}

func TestFastlyCompatible(t *testing.T) {
	const token = "tok"
	e := newEnv(t, Config{Token: token})
	auth := map[string]string{"Fastly-Key": token}
	e.put("h/1", "user/1")
	e.put("h/2", "user/2")
	e.put("h/3", "user/3")
	e.put("h/4", "user/4")
	e.put("h/5", "other")

	// Single key; a key with a slash may be sent escaped or not.
	for _, c := range []struct{ path, primary string }{{"/service/SU1Z0isxPaozGVKXdv0eY/purge/user%2F1", "h/1"}, {"/service/x/purge/user/2", "h/2"}} {
		resp, body := e.do("POST", c.path, auth, "")
		var out map[string]string
		if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &out) != nil || out["status"] != "ok" || out["id"] == "" {
			t.Fatalf("%s: %d %s", c.path, resp.StatusCode, body)
		}
		if resp.Header.Get("Meshcdn-Purged") != "1" || resp.Header.Get("Meshcdn-Purge-Id") != out["id"] {
			t.Fatalf("%s: result headers %v", c.path, resp.Header)
		}
		if p, _ := e.stored(c.primary); p {
			t.Fatalf("%s: object still stored", c.path)
		}
	}

	// Bulk by Surrogate-Key header: {"key": "id", …}.
	hdr := map[string]string{"Fastly-Key": token, "Surrogate-Key": "user/3  user/4 nothing"}
	resp, body := e.do("POST", "/service/x/purge", hdr, "")
	var bulk map[string]string
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &bulk) != nil || len(bulk) != 3 || bulk["user/3"] == "" {
		t.Fatalf("bulk purge: %d %s", resp.StatusCode, body)
	}
	if e.st.Stats().Objects != 1 {
		t.Fatalf("%d objects left, want 1", e.st.Stats().Objects)
	}

	// Bulk by JSON body, soft.
	hdr = map[string]string{"Fastly-Key": token, "Fastly-Soft-Purge": "1", "Content-Type": "application/json"}
	resp, body = e.do("POST", "/service/x/purge", hdr, `{"surrogate_keys":["other"]}`)
	if resp.StatusCode != 200 || !strings.Contains(body, `"other"`) {
		t.Fatalf("bulk JSON purge: %d %s", resp.StatusCode, body)
	}
	if present, fresh := e.stored("h/5"); !present || fresh {
		t.Fatalf("Fastly-Soft-Purge: present=%v fresh=%v", present, fresh)
	}

	// Limits: 256 keys accepted, 257 rejected.
	keys := make([]string, MaxFastlyKeys+1)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%d", i)
	}
	hdr = map[string]string{"Fastly-Key": token, "Surrogate-Key": strings.Join(keys[:MaxFastlyKeys], " ")}
	if resp, body := e.do("POST", "/service/x/purge", hdr, ""); resp.StatusCode != 200 {
		t.Fatalf("256 keys: %d %s", resp.StatusCode, body)
	}
	hdr["Surrogate-Key"] = strings.Join(keys, " ")
	if resp, body := e.do("POST", "/service/x/purge", hdr, ""); resp.StatusCode != 400 || !strings.Contains(body, "too many") {
		t.Fatalf("257 keys: %d %s, want 400", resp.StatusCode, body)
	}
	// No keys at all.
	if resp, body := e.do("POST", "/service/x/purge", auth, ""); resp.StatusCode != 400 {
		t.Fatalf("no keys: %d %s, want 400", resp.StatusCode, body)
	}
	// Empty key in the path.
	if resp, body := e.do("POST", "/service/x/purge/", auth, ""); resp.StatusCode != 400 {
		t.Fatalf("empty path key: %d %s, want 400", resp.StatusCode, body)
	}
	// Key too long in the path.
	if resp, body := e.do("POST", "/service/x/purge/"+strings.Repeat("a", 1025), auth, ""); resp.StatusCode != 400 {
		t.Fatalf("long path key: %d %s, want 400", resp.StatusCode, body)
	}

	// purge_all.
	e.put("h/6", "x")
	resp, body = e.do("POST", "/service/x/purge_all", auth, "")
	if resp.StatusCode != 200 || !strings.Contains(body, `"status":"ok"`) {
		t.Fatalf("purge_all: %d %s", resp.StatusCode, body)
	}
	if e.st.Stats().Objects != 0 {
		t.Fatal("objects left after purge_all")
	}
	if got := e.counter("meshcdn_api_purges_total", map[string]string{"kind": "all", "soft": "false"}); got != 1 {
		t.Fatalf("purges_total{kind=all} = %v", got)
	}
}

func TestStatusEndpoints(t *testing.T) {
	e := newEnv(t, Config{AllowNoToken: true})
	e.put("h/a", "k1", "k2")
	resp, body := e.do("GET", "/healthz", nil, "")
	if resp.StatusCode != 200 || body != "ok\n" {
		t.Fatalf("/healthz: %d %q", resp.StatusCode, body)
	}
	resp, body = e.do("GET", "/readyz", nil, "")
	if resp.StatusCode != 200 || !strings.Contains(body, `"ready":true`) {
		t.Fatalf("/readyz: %d %s", resp.StatusCode, body)
	}
	resp, body = e.do("GET", "/stats", nil, "")
	var st Stats
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &st) != nil || st.Objects != 1 || st.SurrogateKeys != 2 || st.Bytes <= 0 || st.MaxBytes != 64<<20 {
		t.Fatalf("/stats: %d %s", resp.StatusCode, body)
	}
	e.purge(`{"keys":["k1"]}`, nil)
	resp, body = e.do("GET", "/metrics", nil, "")
	for _, want := range []string{
		`meshcdn_api_purges_total{kind="key",soft="false"} 1`,
		`meshcdn_api_purge_duration_seconds_count{wait="false"} 1`,
		`meshcdn_api_purge_denied_total{reason="bad_token"} 0`,
	} {
		if resp.StatusCode != 200 || !strings.Contains(body, want) {
			t.Fatalf("/metrics lacks %q:\n%s", want, body)
		}
	}
	resp, body = e.do("GET", "/cluster/members", nil, "")
	if resp.StatusCode != 404 || !strings.Contains(body, "without a cluster") {
		t.Fatalf("/cluster/members without cluster: %d %s", resp.StatusCode, body)
	}
	if resp, _ := e.do("GET", "/nope", nil, ""); resp.StatusCode != 404 {
		t.Fatalf("/nope: %d", resp.StatusCode)
	}
}

func TestMetricsRegisteredOnce(t *testing.T) {
	reg := prometheus.NewRegistry()
	st := store.New(store.Config{})
	if _, err := New(Config{Store: st, AllowNoToken: true, Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Store: st, AllowNoToken: true, Registerer: reg}); err == nil {
		t.Fatal("registering the API metrics twice on one registry did not fail")
	}
}

func TestURLKeyMatchesEdgeKey(t *testing.T) {
	for _, c := range []struct{ url, host, path, query string }{
		{"http://Example.COM:80/a/b?z=1&a=2", "example.com", "/a/b", "a=2&z=1"},
		{"https://example.com:443", "example.com", "/", ""},
		{"http://example.com:8080/x%20y", "example.com:8080", "/x%20y", ""},
		{"http://[::1]:8080/p?q", "[::1]:8080", "/p", "q"},
		// Only the default port of the URL's own scheme is dropped, as the
		// edge drops only that of the scheme a request came with.
		{"http://example.com:443/", "example.com:443", "/", ""},
		{"https://example.com:80/", "example.com:80", "/", ""},
		{"https://example.com:/?%61=1&a=2", "example.com", "/", "%61=1&a=2"},
	} {
		got, err := URLKey(c.url)
		if err != nil {
			t.Fatalf("%s: %v", c.url, err)
		}
		if want := store.KeyFor(c.host, c.path, c.query); got != want {
			t.Errorf("URLKey(%s) = %q, want %q", c.url, got, want)
		}
	}
	if got, _ := URLKey("http://example.com:443/x"); got != "example.com:443/x" {
		t.Errorf("URLKey(http://example.com:443/x) = %q: :443 is not http's default port", got)
	}
}
