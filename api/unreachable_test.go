package api

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshcdn/meshcdn/cluster/clustertest"
)

// A partitioned member (failed for the others, still serving its cache):
// wait=all answers 202, names it as unreachable and is not complete; the
// Fastly endpoints say so in their headers.
func TestPurgeAnswerNamesUnreachableMember(t *testing.T) {
	faults := clustertest.NewFaults()
	c, e := startCluster(t, 3, faults, Config{AllowNoToken: true, WaitTimeout: 10 * time.Second})
	cut := c.Names()[2]
	faults.Isolate(cut)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.WaitState(ctx, 0, 2, "dead"); err != nil {
		t.Fatal(err)
	}
	code, pr, body := e.purge(`{"keys":["k"]}`, map[string]string{"Meshcdn-Wait": "all"})
	if code != 202 || pr.Complete || !slices.Equal(pr.Unreachable, []string{cut}) || !slices.Equal(pr.Acked, c.Names()[1:2]) || len(pr.Pending) != 0 {
		t.Fatalf("wait=all with %s partitioned: %d %s", cut, code, body)
	}
	if !strings.Contains(body, `"unreachable":["`+cut+`"]`) {
		t.Fatalf("answer without the unreachable list: %s", body)
	}
	// Without waiting: 200 (accepted), but not complete, and it says why.
	code, pr, body = e.purge(`{"keys":["k"]}`, nil)
	if code != 200 || pr.Complete || !slices.Equal(pr.Unreachable, []string{cut}) {
		t.Fatalf("no wait with %s partitioned: %d %s", cut, code, body)
	}
	resp, b := e.do("POST", "/service/s/purge/k?wait=all", nil, "")
	if resp.StatusCode != 200 || resp.Header.Get("Meshcdn-Purge-Complete") != "false" || resp.Header.Get("Meshcdn-Purge-Unreachable") != cut {
		t.Fatalf("Fastly purge with %s partitioned: %d %v %s", cut, resp.StatusCode, resp.Header, b)
	}
}

// /readyz of a node that has heard from no peer for longer than
// Config.IsolationUnready answers 503 (health-checked DNS and load
// balancers take it out of rotation while it may be missing purges) and
// 200 again once it hears from them.
func TestReadyzIsolatedNode(t *testing.T) {
	faults := clustertest.NewFaults()
	c, _ := startCluster(t, 3, faults, Config{AllowNoToken: true})
	e := newEnv(t, Config{Store: c.Store(2), Cluster: c.Node(2), AllowNoToken: true, IsolationUnready: time.Second})
	readyz := func() (int, map[string]any) {
		resp, b := e.do("GET", "/readyz", nil, "")
		var out map[string]any
		if err := json.Unmarshal([]byte(b), &out); err != nil {
			t.Fatalf("/readyz %q: %v", b, err)
		}
		return resp.StatusCode, out
	}
	if code, out := readyz(); code != 200 {
		t.Fatalf("healthy node: %d %v", code, out)
	}
	faults.Isolate(c.Names()[2])
	waitUntil(t, "/readyz to answer 503", func() bool { code, _ := readyz(); return code == 503 })
	_, out := readyz()
	if r, _ := out["reason"].(string); !strings.Contains(r, "heard from no") {
		t.Fatalf("reason: %v", out)
	}
	if _, ok := out["last_contact"].(string); !ok {
		t.Fatalf("no last_contact: %v", out)
	}
	faults.Heal()
	waitUntil(t, "/readyz to answer 200 again", func() bool { code, _ := readyz(); return code == 200 })

	// Off (0): never unready for isolation.
	off := newEnv(t, Config{Store: c.Store(1), Cluster: c.Node(1), AllowNoToken: true})
	faults.Isolate(c.Names()[1])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.WaitState(ctx, 1, 0, "dead"); err != nil {
		t.Fatal(err)
	}
	if resp, b := off.do("GET", "/readyz", nil, ""); resp.StatusCode != 200 {
		t.Fatalf("isolation check off: %d %s", resp.StatusCode, b)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
