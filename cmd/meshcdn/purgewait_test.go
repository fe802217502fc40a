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

// meshcdn purge --wait with a partitioned member (failed for the others,
// still serving what it cached) names it and exits 5: the purge was
// applied where it could be, not everywhere. Without --wait it names it
// too, and exits 0 (nothing was to be confirmed).
func TestPurgeWaitUnreachableExitStatus(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	faults := clustertest.NewFaults()
	c, err := clustertest.Start(ctx, clustertest.Options{Nodes: 3, Faults: faults})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h, err := api.New(api.Config{Store: c.Store(0), Cluster: c.Node(0), AllowNoToken: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	var out bytes.Buffer
	if code := exitCode(runPurge([]string{"--admin", srv.URL, "--wait", "k"}, &out)); code != 0 || !strings.Contains(out.String(), "complete") {
		t.Fatalf("healthy cluster: exit %d: %s", code, out.String())
	}
	cut := c.Names()[2]
	faults.Isolate(cut)
	if err := c.WaitState(ctx, 0, 2, "dead"); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	code := exitCode(runPurge([]string{"--admin", srv.URL, "--wait", "k"}, &out))
	if code != exitIncomplete || !strings.Contains(out.String(), "unreachable: "+cut) || strings.Contains(out.String(), "; complete") {
		t.Fatalf("--wait with %s partitioned: exit %d: %s", cut, code, out.String())
	}
	out.Reset()
	code = exitCode(runPurge([]string{"--admin", srv.URL, "k"}, &out))
	if code != 0 || !strings.Contains(out.String(), "unreachable: "+cut) {
		t.Fatalf("no --wait with %s partitioned: exit %d: %s", cut, code, out.String())
	}
}
