package main

import (
	"net"
	"net/http/httptest"
	"testing"

	"github.com/meshcdn/meshcdn/api"
	"github.com/meshcdn/meshcdn/store"
)

// TestExitStatuses: the exit statuses scripts rely on: 0 done, 1 error,
// 2 usage, 3 not authorised, 4 node unreachable (5: purgewait_test.go).
func TestExitStatuses(t *testing.T) {
	h, err := api.New(api.Config{Store: store.New(store.Config{}), Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String() // nothing listens there once closed
	ln.Close()

	for _, c := range []struct {
		args []string
		want int
	}{
		{[]string{"purge", "--admin", srv.URL, "--token", "tok", "k"}, 0},
		{[]string{"frobnicate"}, exitUsage},
		{[]string{"purge", "--admin", srv.URL, "--no-such-flag", "k"}, exitUsage},
		{[]string{"purge", "--admin", srv.URL, "--token", "bad", "k"}, exitUnauthorised},
		{[]string{"purge", "--admin", srv.URL, "k"}, exitUnauthorised}, // no token
		{[]string{"purge", "--admin", dead, "--token", "tok", "k"}, exitUnreachable},
		{[]string{"members", "--admin", dead}, exitUnreachable},
		{[]string{"status", "--admin", dead}, exitUnreachable},
		{[]string{"status", "--admin", srv.URL}, exitError},  // a node without a cluster: 404
		{[]string{"members", "--admin", srv.URL}, exitError}, // idem
		{[]string{"health", "--quiet", "--admin", dead}, exitError},
	} {
		if got := run(c.args); got != c.want {
			t.Errorf("meshcdn %v: exit %d, want %d", c.args, got, c.want)
		}
	}
}
