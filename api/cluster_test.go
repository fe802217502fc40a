package api

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshcdn/meshcdn/cluster/clustertest"
	"github.com/meshcdn/meshcdn/edge/purgegate"
	"github.com/meshcdn/meshcdn/store"
)

// startCluster starts n in-process nodes (real memberlist on loopback) and
// an admin API on a real socket in front of node 0.
func startCluster(t *testing.T, n int, faults *clustertest.Faults, cfg Config) (*clustertest.Cluster, *env) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := clustertest.Start(ctx, clustertest.Options{Nodes: n, Faults: faults})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cfg.Store, cfg.Cluster = c.Store(0), c.Node(0)
	return c, newEnv(t, cfg)
}

func putIn(t *testing.T, st *store.Store, primary string, keys ...string) {
	t.Helper()
	now := time.Now()
	o := &store.Object{Primary: primary, Status: 200, Body: []byte("x"), Keys: keys, RequestTime: now, ResponseTime: now, Lifetime: time.Hour}
	if err := st.Insert(o, st.Fence()); err != nil {
		t.Fatal(err)
	}
}

func has(st *store.Store, primary string) bool {
	o, _ := st.Lookup(primary, func([]string) string { return "" })
	return o != nil
}

func TestSingleNodeCluster(t *testing.T) {
	c, e := startCluster(t, 1, nil, Config{AllowNoToken: true})
	e.put("h/a", "k")
	code, pr, body := e.purge(`{"keys":["k"]}`, nil)
	if code != 200 || pr.Purged != 1 || !strings.HasPrefix(pr.ID, c.Node(0).Name()+"/") {
		t.Fatalf("purge: %d %s", code, body)
	}
	code, pr, body = e.purge(`{"keys":["k"]}`, map[string]string{"Meshcdn-Wait": "all"})
	if code != 200 || !pr.Complete || len(pr.Pending) != 0 {
		t.Fatalf("wait=all alone: %d %s", code, body)
	}
	resp, b := e.do("GET", "/cluster/members", nil, "")
	var ms Members
	if resp.StatusCode != 200 || json.Unmarshal([]byte(b), &ms) != nil || len(ms.Members) != 1 ||
		!ms.Members[0].Self || ms.Members[0].State != "alive" || ms.Self != c.Node(0).Name() || ms.Members[0].Seq != 2 {
		t.Fatalf("members: %d %s", resp.StatusCode, b)
	}
	resp, b = e.do("GET", "/readyz", nil, "")
	if resp.StatusCode != 200 || !strings.Contains(b, `"alive":1`) {
		t.Fatalf("readyz: %d %s", resp.StatusCode, b)
	}
}

// A purge accepted by node 0's API reaches every node; with wait=all the
// answer lists every other node as having acknowledged it.
func TestThreeNodePurge(t *testing.T) {
	c, e := startCluster(t, 3, nil, Config{Token: "tok"})
	auth := map[string]string{"Authorization": "Bearer tok"}
	for i := 0; i < 3; i++ {
		putIn(t, c.Store(i), "h/user/1", "user/1", "company/7")
		putIn(t, c.Store(i), "h/user/2", "user/2", "company/7")
		putIn(t, c.Store(i), "h/user/3", "user/3", "company/8")
	}
	code, pr, body := e.purge(`{"keys":["user/1"]}`, nil)
	if code != 401 {
		t.Fatalf("no token on a cluster node: %d %s", code, body)
	}
	e.purge(`{"keys":["user/1"]}`, map[string]string{"Authorization": "Bearer nope"})

	code, pr, body = e.do2("POST", "/purge?wait=all", auth, `{"keys":["user/1"]}`)
	if code != 200 || pr.Purged != 1 || !pr.Complete || len(pr.Pending) != 0 || !slices.Equal(pr.Acked, c.Names()[1:]) {
		t.Fatalf("wait=all: %d %s", code, body)
	}
	for i := 0; i < 3; i++ {
		if has(c.Store(i), "h/user/1") {
			t.Fatalf("node %d still has user/1 after a complete purge", i)
		}
		if !has(c.Store(i), "h/user/2") {
			t.Fatalf("node %d lost user/2", i)
		}
	}

	// Fastly-compatible, waiting through the header.
	hdr := map[string]string{"Fastly-Key": "tok", "Meshcdn-Wait": "all", "Surrogate-Key": "company/7 company/8"}
	resp, b := e.do("POST", "/service/svc/purge", hdr, "")
	if resp.StatusCode != 200 || resp.Header.Get("Meshcdn-Purge-Complete") != "true" || resp.Header.Get("Meshcdn-Purged") != "2" {
		t.Fatalf("fastly bulk wait: %d %v %s", resp.StatusCode, resp.Header, b)
	}
	for i := 0; i < 3; i++ {
		if n := c.Store(i).Stats().Objects; n != 0 {
			t.Fatalf("node %d has %d objects after purging every key", i, n)
		}
	}

	resp, b = e.do("GET", "/cluster/members", nil, "")
	var ms Members
	if resp.StatusCode != 200 || json.Unmarshal([]byte(b), &ms) != nil || len(ms.Members) != 3 {
		t.Fatalf("members: %d %s", resp.StatusCode, b)
	}
	for i, m := range ms.Members {
		if m.Name != c.Names()[i] || m.State != "alive" || m.Region == "" || m.Addr == "" || m.Self != (i == 0) {
			t.Fatalf("member %d: %+v", i, m)
		}
	}
	// The cluster's own metrics appear next to the API's when they share a registry.
	if got := e.counter("meshcdn_api_purge_denied_total", map[string]string{"reason": "bad_token"}); got != 1 {
		t.Fatalf("denied{bad_token} = %v", got)
	}
	if got := e.counter("meshcdn_api_purge_duration_seconds", map[string]string{"wait": "true"}); got != 2 {
		t.Fatalf("purge duration count{wait=true} = %v", got)
	}
}

// A node that does not answer: wait=all gives up after ?timeout, answers
// 202 and names it as pending; the purge is still applied where it could be.
func TestWaitTimeoutNamesPendingNode(t *testing.T) {
	faults := clustertest.NewFaults()
	c, e := startCluster(t, 3, faults, Config{AllowNoToken: true, WaitTimeout: 10 * time.Second})
	for i := 0; i < 3; i++ {
		putIn(t, c.Store(i), "h/a", "k")
	}
	dead := c.Names()[2]
	faults.Isolate(dead)
	// Failure detection takes seconds; the purge is accepted while the
	// isolated node is still a live member, so it is waited for.
	code, pr, body := e.do2("POST", "/purge?wait=all&timeout=300ms", nil, `{"keys":["k"]}`)
	if code != 202 || pr.Complete || !slices.Equal(pr.Pending, []string{dead}) || !slices.Equal(pr.Acked, []string{c.Names()[1]}) {
		t.Fatalf("purge with an isolated node: %d %s", code, body)
	}
	if has(c.Store(0), "h/a") || has(c.Store(1), "h/a") {
		t.Fatal("reachable nodes kept the object")
	}
}

// do2 posts and decodes a purge answer.
func (e *env) do2(method, path string, hdr map[string]string, body string) (int, PurgeResponse, string) {
	e.t.Helper()
	resp, b := e.do(method, path, hdr, body)
	var pr PurgeResponse
	if resp.StatusCode == 200 || resp.StatusCode == 202 {
		if err := json.Unmarshal([]byte(b), &pr); err != nil {
			e.t.Fatalf("answer %q: %v", b, err)
		}
	}
	return resp.StatusCode, pr, b
}

// A URL purge as long as the native API accepts (8 KiB) travels the
// cluster: 200 with every node acknowledging, never a 503; one byte more
// is a 400.
func TestLongURLPurgeAcrossCluster(t *testing.T) {
	c, e := startCluster(t, 2, nil, Config{AllowNoToken: true})
	path := "/" + strings.Repeat("p", 4096)
	primary := store.KeyFor("example.com", path, "")
	putIn(t, c.Store(0), primary)
	putIn(t, c.Store(1), primary)
	code, pr, body := e.purge(`{"urls":["http://example.com`+path+`"]}`, map[string]string{"Meshcdn-Wait": "all"})
	if code != 200 || pr.Purged != 1 || !pr.Complete {
		t.Fatalf("4 KiB URL purge: %d %s", code, body)
	}
	if has(c.Store(0), primary) || has(c.Store(1), primary) {
		t.Fatal("the long URL survived the purge")
	}
	code, _, body = e.purge(`{"urls":["http://example.com/`+strings.Repeat("p", purgegate.MaxURLBytes)+`"]}`, nil)
	if code != 400 {
		t.Fatalf("URL over the limit: %d %s", code, body)
	}
}
