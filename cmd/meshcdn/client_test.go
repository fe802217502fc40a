package main

import (
	"bytes"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/meshcdn/meshcdn/api"
	"github.com/meshcdn/meshcdn/store"
)

func nopLogger() *zap.Logger { return zap.NewNop() }

func TestPurgeCommand(t *testing.T) {
	st := store.New(store.Config{})
	h, err := api.New(api.Config{Store: st, Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	now := time.Now()
	for _, o := range []*store.Object{
		{Primary: "h/a", Keys: []string{"user/1"}},
		{Primary: store.KeyFor("example.com", "/p", "b=1&a=2"), Keys: []string{"x"}},
	} {
		o.Status, o.ResponseTime, o.RequestTime, o.Lifetime = 200, now, now, time.Hour
		if err := st.Insert(o, st.Fence()); err != nil {
			t.Fatal(err)
		}
	}

	var out bytes.Buffer
	if err := runPurge([]string{"--admin", srv.URL + "/", "--token", "tok", "user/1", "nothing"}, &out); err != nil {
		t.Fatalf("purge: %v", err)
	}
	if !strings.Contains(out.String(), "1 object(s)") {
		t.Fatalf("output %q", out.String())
	}
	out.Reset()
	t.Setenv("MESHCDN_PURGE_TOKEN", "tok")
	if err := runPurge([]string{"--url", "http://example.com/p?a=2&b=1", "--admin", srv.URL, "--json", "--wait"}, &out); err != nil {
		t.Fatalf("purge --url: %v", err)
	}
	if !strings.Contains(out.String(), `"purged":1`) || st.Stats().Objects != 0 {
		t.Fatalf("purge --url: %q, %d objects left", out.String(), st.Stats().Objects)
	}
	// Wrong token: a runtime error naming the refusal.
	err = runPurge([]string{"--admin", srv.URL, "--token", "bad", "--all"}, &out)
	var ue *usageError
	if err == nil || errors.As(err, &ue) || !strings.Contains(err.Error(), "403") {
		t.Fatalf("wrong token: %v", err)
	}
}

func TestPrintMembers(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	var out bytes.Buffer
	printMembers(&out, api.Members{Self: "n1", Members: []api.Member{
		{Name: "n1", Region: "eu-west", Addr: "127.0.0.1:7947", HTTPAddr: "127.0.0.1:8081", AdminAddr: "127.0.0.1:9081", State: "alive", LastSeen: now, Seq: 3, Self: true},
		{Name: "n2", Region: "us-east", Addr: "127.0.0.1:7948", State: "suspect", LastSeen: now.Add(-1500 * time.Millisecond), Seq: 2},
	}}, now)
	s := out.String()
	for _, want := range []string{"NAME", "n1 *", "eu-west", "suspect", "1.5s ago", "2 member(s)"} {
		if !strings.Contains(s, want) {
			t.Errorf("table lacks %q:\n%s", want, s)
		}
	}
}
