package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/meshcdn/meshcdn/api"
	"github.com/meshcdn/meshcdn/cluster/clustertest"
)

func TestForceLeaveCommand(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := clustertest.Start(ctx, clustertest.Options{Nodes: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h, err := api.New(api.Config{Store: c.Store(0), Cluster: c.Node(0), Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	gone := clustertest.NodeName(2)
	var out bytes.Buffer
	run := func(args ...string) int {
		out.Reset()
		return exitCode(runForceLeave(append([]string{"--admin", srv.URL}, args...), &out))
	}
	if code := run(); code != exitUsage {
		t.Fatalf("no name: exit %d", code)
	}
	if code := run("--token", "bad", gone); code != exitUnauthorised {
		t.Fatalf("bad token: exit %d", code)
	}
	if code := run("--token", "tok", gone); code != exitError {
		t.Fatalf("a live member: exit %d", code)
	}
	if err := c.Kill(2); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitState(ctx, 0, 2, "dead"); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MESHCDN_PURGE_TOKEN", "tok")
	if code := run(gone); code != 0 || !strings.Contains(out.String(), gone+": left") {
		t.Fatalf("force-leave: exit %d, %q", code, out.String())
	}
}
