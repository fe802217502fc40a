package demoorigin

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/meshcdn/meshcdn/api"
	"github.com/meshcdn/meshcdn/store"
)

func get(t *testing.T, url string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func post(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(`{"type":"profile_updated"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestUserData(t *testing.T) {
	srv := httptest.NewServer(New(Config{}))
	defer srv.Close()
	resp, b := get(t, srv.URL+"/v1/users/42?company=7", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	for k, want := range map[string]string{
		"Surrogate-Key":     "company/7 user/42",
		"Surrogate-Control": "max-age=3600",
		"Cache-Control":     "no-store",
		"Content-Type":      "application/json",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	var u User
	if err := json.Unmarshal(b, &u); err != nil || u.ID != "42" || u.Company != "7" || u.Version != 1 || u.Name == "" {
		t.Fatalf("answer %s (%v)", b, err)
	}
	resp, _ = get(t, srv.URL+"/v1/users/42", nil)
	if got := resp.Header.Get("Surrogate-Key"); got != "user/42" {
		t.Errorf("without company: Surrogate-Key %q", got)
	}
	for _, bad := range []string{"/v1/users/a.b", "/v1/users/" + strings.Repeat("1", 65), "/v1/users/1?company=a%20b", "/v1/users/%00"} {
		if resp, b := get(t, srv.URL+bad, nil); resp.StatusCode != 400 {
			t.Errorf("%s: %d %s, want 400", bad, resp.StatusCode, b)
		}
	}
}

func TestEventWithoutPurge(t *testing.T) {
	o := New(Config{MaxUsers: 2})
	srv := httptest.NewServer(o)
	defer srv.Close()
	resp, b := post(t, srv.URL+"/v1/users/1/events")
	var ev EventResult
	if resp.StatusCode != 200 || json.Unmarshal(b, &ev) != nil || ev.Version != 2 || ev.Purged {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	_, b = get(t, srv.URL+"/v1/users/1", nil)
	var u User
	if json.Unmarshal(b, &u) != nil || u.Version != 2 {
		t.Fatalf("version after event: %s", b)
	}
	post(t, srv.URL+"/v1/users/2/events")
	// The state is bounded: a third user's event is refused, known users still work.
	if resp, b := post(t, srv.URL+"/v1/users/3/events"); resp.StatusCode != 503 {
		t.Fatalf("event beyond MaxUsers: %d %s", resp.StatusCode, b)
	}
	if resp, _ := post(t, srv.URL+"/v1/users/1/events"); resp.StatusCode != 200 {
		t.Fatalf("known user refused: %d", resp.StatusCode)
	}
	if o.Version("1") != 3 || o.Version("3") != 1 {
		t.Fatalf("versions: %d %d", o.Version("1"), o.Version("3"))
	}
}

// An event purges user/{id} through a real admin API (first URL down: the
// next one is used), with the token.
func TestEventPurgesThroughAdminAPI(t *testing.T) {
	st := store.New(store.Config{})
	h, err := api.New(api.Config{Store: st, Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	admin := httptest.NewServer(h)
	defer admin.Close()
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close() // refuses connections

	now := time.Now()
	for _, k := range []string{"user/9", "user/10"} {
		o := &store.Object{Primary: "h/" + k, Status: 200, Body: []byte("x"), Keys: []string{k}, ResponseTime: now, RequestTime: now, Lifetime: time.Hour}
		if err := st.Insert(o, st.Fence()); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(New(Config{PurgeURLs: []string{dead.URL, admin.URL + "/"}, Token: "tok"}))
	defer srv.Close()
	resp, b := post(t, srv.URL+"/v1/users/9/events")
	var ev EventResult
	var pr api.PurgeResponse
	if resp.StatusCode != 200 || json.Unmarshal(b, &ev) != nil || !ev.Purged || ev.Via != admin.URL+"/" ||
		json.Unmarshal(ev.Purge, &pr) != nil || pr.Purged != 1 || !pr.Complete {
		t.Fatalf("event: %d %s", resp.StatusCode, b)
	}
	if o, _ := st.Lookup("h/user/9", func([]string) string { return "" }); o != nil {
		t.Fatal("user/9 still cached after the event")
	}
	if o, _ := st.Lookup("h/user/10", func([]string) string { return "" }); o == nil {
		t.Fatal("user/10 purged by user/9's event")
	}

	// Wrong token: the event is applied, the purge failure reported as 502.
	bad := httptest.NewServer(New(Config{PurgeURLs: []string{admin.URL}, Token: "wrong"}))
	defer bad.Close()
	resp, b = post(t, bad.URL+"/v1/users/10/events")
	if resp.StatusCode != 502 || !strings.Contains(string(b), "403") {
		t.Fatalf("event with wrong token: %d %s", resp.StatusCode, b)
	}
}

func TestOffersVaryOnContinent(t *testing.T) {
	srv := httptest.NewServer(New(Config{}))
	defer srv.Close()
	resp, b := get(t, srv.URL+"/v1/offers", map[string]string{"X-Geo-Continent-Code": "EU", "X-Geo-Country-Code": "DE"})
	var of Offers
	if resp.StatusCode != 200 || json.Unmarshal(b, &of) != nil || of.Continent != "EU" || of.Country != "DE" {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	if resp.Header.Get("Vary") != "X-Geo-Continent-Code" || resp.Header.Get("Surrogate-Key") != "offers offers/EU" {
		t.Fatalf("headers %v", resp.Header)
	}
	_, b = get(t, srv.URL+"/v1/offers", map[string]string{"X-Geo-Continent-Code": "<script>"})
	if json.Unmarshal(b, &of) != nil || of.Continent != "XX" {
		t.Fatalf("garbage continent: %s", b)
	}
}

func TestBenchObject(t *testing.T) {
	srv := httptest.NewServer(New(Config{}))
	defer srv.Close()
	resp, b := get(t, srv.URL+"/obj/5?size=1024", nil)
	if resp.StatusCode != 200 || len(b) != 1024 || resp.Header.Get("Cache-Control") != "public, max-age=3600" {
		t.Fatalf("%d len %d %v", resp.StatusCode, len(b), resp.Header)
	}
	_, b2 := get(t, srv.URL+"/obj/5?size=1024", nil)
	if string(b) != string(b2) {
		t.Fatal("object bytes not deterministic")
	}
	for _, q := range []string{"?size=-1", "?size=x", "?size=1048577"} {
		if resp, _ := get(t, srv.URL+"/obj/5"+q, nil); resp.StatusCode != 400 {
			t.Errorf("%s: %d", q, resp.StatusCode)
		}
	}
}
