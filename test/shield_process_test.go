package test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// originRequests reads the demo origin's request counter.
func originRequests(t *testing.T, origin string) uint64 {
	t.Helper()
	resp, err := client.Get(origin + "/v1/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s struct {
		Requests uint64 `json:"requests"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s.Requests
}

// shieldGet GETs path from edge with the site's one host name (every node
// serves the same site, as behind geo-DNS).
func shieldGet(edge, path string) (status int, doc userDoc, cacheStatus []string, err error) {
	req, _ := http.NewRequest("GET", edge+path, nil)
	req.Host = "api.example.com"
	resp, err := client.Do(req)
	if err != nil {
		return 0, doc, nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == 200 {
		if err := json.Unmarshal(body, &doc); err != nil {
			return resp.StatusCode, doc, nil, fmt.Errorf("bad JSON %q: %v", body, err)
		}
	}
	return resp.StatusCode, doc, resp.Header.Values("Cache-Status"), nil
}

// burst sends n GETs at once, spread over the running nodes, and fails on
// any that is not a 200 with at least version min.
func burst(t *testing.T, edges []string, path string, n int, min uint64) (owners map[string]int) {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	owners = map[string]int{}
	var bad []string
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := edges[i%len(edges)]
			code, doc, cs, err := shieldGet(e, path)
			mu.Lock()
			defer mu.Unlock()
			if err != nil || code != 200 || doc.Version < min {
				bad = append(bad, fmt.Sprintf("%s: %d v%d %v", e, code, doc.Version, err))
				return
			}
			if len(cs) == 2 { // fetched through the owner: its entry first
				owners[strings.TrimSpace(strings.SplitN(cs[0], ";", 2)[0])]++
			}
		}()
	}
	wg.Wait()
	if len(bad) > 0 {
		t.Fatalf("%d of %d requests failed: %v", len(bad), n, bad)
	}
	return owners
}

// Shielding across processes: 5 nodes with shield: cluster. After an
// event purges a user (wait=all), 50 concurrent requests spread over all
// nodes cost the demo origin one fetch; with the object's owner killed,
// the requests still succeed.
func TestProcessesShieldOneOriginFetch(t *testing.T) {
	t0 := time.Now()
	c := startCluster(t, 5, "--shield", "cluster", "--gossip-key", "AAECAwQFBgcICQoLDA0ODw==")
	t.Logf("5 nodes up after %v", time.Since(t0))
	path := "/v1/users/7?company=42"
	burst(t, c.edges, path, 10, 1) // cached everywhere

	resp, err := client.Post(c.origin+"/v1/users/7/events", "application/json", strings.NewReader(`{"type":"profile_updated"}`))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("event: status %d", resp.StatusCode)
	}
	_, doc, _, err := shieldGet(c.origin, path)
	if err != nil {
		t.Fatal(err)
	}
	v := doc.Version
	before := originRequests(t, c.origin)
	owners := burst(t, c.edges, path, 50, v)
	after := originRequests(t, c.origin)
	t.Logf("after the purge: 50 requests over 5 nodes, %d origin fetch(es); owners named in Cache-Status %v", after-before, owners)
	if after-before != 1 {
		t.Fatalf("the origin saw %d fetches for the object, want 1", after-before)
	}
	if len(owners) != 1 {
		t.Fatalf("want one owner named by the children, got %v", owners)
	}
	var owner string
	for o := range owners {
		owner = o
	}

	// Kill the owner (SIGKILL: no leave), purge again, and ask the others.
	var rest []string
	for i, p := range c.nodes {
		if p.name == owner {
			_ = p.cmd.Process.Kill()
			<-p.done
			continue
		}
		rest = append(rest, c.edges[i])
		_ = i
	}
	if len(rest) != 4 {
		t.Fatalf("owner %q is not one of the nodes", owner)
	}
	for i, p := range c.nodes {
		if p.name != owner {
			runCLI(t, "purge", "--admin", c.admins[i], "user/7")
			break
		}
	}
	time.Sleep(100 * time.Millisecond) // the purge (no wait) reaches the others
	t1 := time.Now()
	burst(t, rest, path, 50, v)
	t.Logf("50 requests with the owner killed: all answered in %v", time.Since(t1))
}
