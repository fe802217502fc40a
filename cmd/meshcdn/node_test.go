package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/meshcdn/meshcdn/api"
	"github.com/meshcdn/meshcdn/cmd/meshcdn/demoorigin"
)

// The wiring of serve, end to end on real sockets: three nodes (store, geo,
// cluster, edge, admin API) joined by gossip in front of the demo origin,
// whose events purge through one node's admin API.
func TestNodesEndToEnd(t *testing.T) {
	originLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	loop := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	var nodes []*node
	t.Cleanup(func() {
		for _, n := range nodes {
			n.stop()
		}
	})
	for i, region := range []string{"eu-west", "us-east", "ap-southeast"} {
		cfg := nodeConfig{
			Name: "n" + string(rune('1'+i)), Region: region,
			Listen: "127.0.0.1:0", Admin: "127.0.0.1:0",
			Origin:    &url.URL{Scheme: "http", Host: originLn.Addr().String()},
			CacheSize: 16 << 20, MaxObjectSize: 1 << 20, OriginTimeout: 5 * time.Second, PurgeWait: 5 * time.Second,
			PurgeAllow: loop, TrustedProxies: loop, GossipHost: "127.0.0.1", ShutdownTimeout: 2 * time.Second,
		}
		if i > 0 {
			cfg.Join = []string{nodes[0].cluster.Addr()}
		}
		n, err := startNode(cfg, nopLogger())
		if err != nil {
			t.Fatalf("start %s: %v", cfg.Name, err)
		}
		nodes = append(nodes, n)
	}
	origin := &http.Server{Handler: demoorigin.New(demoorigin.Config{PurgeURLs: []string{"http://" + nodes[1].admAddr}})}
	go origin.Serve(originLn)
	t.Cleanup(func() { origin.Close() })
	if !waitConverged(nodes, 20*time.Second) {
		t.Fatal("the three nodes did not converge")
	}

	get := func(n *node, path string, hdr ...string) (cache string, body map[string]any) {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+n.edgeAddr+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			if hdr[i] == "Host" {
				req.Host = hdr[i+1]
				continue
			}
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || json.Unmarshal(b, &body) != nil {
			t.Fatalf("GET %s on %s: %d %s", path, n.cfg.Name, resp.StatusCode, b)
		}
		if resp.Header.Get("Surrogate-Key") != "" {
			t.Fatalf("Surrogate-Key leaked to the client: %v", resp.Header)
		}
		return resp.Header.Get("X-Cache"), body
	}
	const user = "/v1/users/42?company=7"
	for _, n := range nodes {
		if c, b := get(n, user); c != "MISS" || b["version"] != 1.0 {
			t.Fatalf("%s first GET: %s %v", n.cfg.Name, c, b)
		}
		if c, _ := get(n, user); c != "HIT" {
			t.Fatalf("%s second GET: %s", n.cfg.Name, c)
		}
	}

	// An event purges user/42 through n2's admin API and waits for all.
	resp, err := http.Post("http://"+originLn.Addr().String()+"/v1/users/42/events", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	var ev demoorigin.EventResult
	var pr api.PurgeResponse
	if json.NewDecoder(resp.Body).Decode(&ev) != nil || !ev.Purged || json.Unmarshal(ev.Purge, &pr) != nil || !pr.Complete || len(pr.Acked) != 2 {
		t.Fatalf("event: %d %+v", resp.StatusCode, ev)
	}
	resp.Body.Close()
	for _, n := range nodes {
		if c, b := get(n, user); c != "MISS" || b["version"] != 2.0 {
			t.Fatalf("%s after the event: %s %v", n.cfg.Name, c, b)
		}
	}

	// The purge command through n3, by the company key, waiting for all.
	var out bytes.Buffer
	if err := runPurge([]string{"--admin", "http://" + nodes[2].admAddr, "--wait", "company/7"}, &out); err != nil {
		t.Fatalf("meshcdn purge: %v (%s)", err, out.String())
	}
	if !strings.Contains(out.String(), "complete") {
		t.Fatalf("meshcdn purge: %s", out.String())
	}
	for _, n := range nodes {
		if c, _ := get(n, user); c != "MISS" {
			t.Fatalf("%s after purging company/7: %s", n.cfg.Name, c)
		}
	}

	// PURGE <url> on one node's edge listener (from an allowed address)
	// purges that URL on every node (the public host name they all serve)
	// and answers with the cluster's purge id.
	const public = "api.example.com"
	for _, n := range nodes {
		get(n, user, "Host", public)
	}
	req, _ := http.NewRequest("PURGE", "http://"+nodes[2].edgeAddr+user, nil)
	req.Host = public
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var pa struct{ Status, ID string }
	derr := json.NewDecoder(resp.Body).Decode(&pa)
	resp.Body.Close()
	if resp.StatusCode != 200 || derr != nil || pa.Status != "ok" || !strings.HasPrefix(pa.ID, nodes[2].cfg.Name+"/") || strings.Count(pa.ID, "/") != 2 {
		t.Fatalf("PURGE on the edge: %d %+v %v", resp.StatusCode, pa, derr)
	}
	for _, n := range nodes {
		deadline := time.Now().Add(5 * time.Second)
		for {
			c, _ := get(n, user, "Host", public)
			if c == "MISS" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s still serves %s after PURGE %s: %s", n.cfg.Name, user, pa.ID, c)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	// Geo: the client's continent from a trusted X-Forwarded-For, one
	// cached variant per continent.
	eu := []string{"X-Forwarded-For", "81.2.69.142"}
	na := []string{"X-Forwarded-For", "8.8.8.8"}
	if c, b := get(nodes[0], "/v1/offers", eu...); c != "MISS" || b["continent"] != "EU" {
		t.Fatalf("EU offers: %s %v", c, b)
	}
	if c, b := get(nodes[0], "/v1/offers", na...); c != "MISS" || b["continent"] != "NA" {
		t.Fatalf("NA offers: %s %v", c, b)
	}
	if c, b := get(nodes[0], "/v1/offers", eu...); c != "HIT" || b["continent"] != "EU" {
		t.Fatalf("EU offers again: %s %v", c, b)
	}

	out.Reset()
	if err := runMembers([]string{"--admin", "http://" + nodes[0].admAddr}, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"n1 *", "n2", "n3", "eu-west", "ap-southeast", "3 member(s)"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("members table lacks %q:\n%s", want, out.String())
		}
	}

	// Metrics of every part on one node's /metrics.
	resp, err = http.Get("http://" + nodes[0].admAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"meshcdn_build_info", "meshcdn_store_objects", "meshcdn_edge_requests_total", "meshcdn_cluster_members", "meshcdn_api_purges_total", "meshcdn_geoip_reloads_total", "go_goroutines"} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// Every metric the Grafana dashboard asks for exists on some node
	// (message errors only once there are some).
	for _, n := range nodes[1:] {
		resp, err := http.Get("http://" + n.admAddr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		more, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		b = append(b, more...)
	}
	dash, err := os.ReadFile("../../deploy/grafana/meshcdn-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range regexp.MustCompile(`meshcdn_[a-z0-9_]+`).FindAllString(string(dash), -1) {
		name = strings.TrimSuffix(name, "_bucket")
		if name == "meshcdn_cluster_message_errors_total" {
			continue
		}
		if !bytes.Contains(b, []byte("# TYPE "+name+" ")) {
			t.Errorf("the dashboard asks for %s, which /metrics lacks", name)
		}
	}

	// meshcdn status: the three members with their traffic, the purges
	// made above and the slowest propagation among them.
	out.Reset()
	if err := runStatus([]string{"--admin", "http://" + nodes[0].admAddr}, &out); err != nil {
		t.Fatalf("status: %v\n%s", err, out.String())
	}
	for _, want := range []string{"n1 *", "n2", "n3", "eu-west", "us-east", "ap-southeast", "3 member(s), 3 answered", "hit ratio", "slowest recent purge propagation: n", "wall clocks"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("status lacks %q:\n%s", want, out.String())
		}
	}
	// A member whose admin API does not answer is named; status exits 4.
	nodes[2].adminSrv.Close()
	out.Reset()
	err = runStatus([]string{"--admin", "http://" + nodes[0].admAddr}, &out)
	if code := exitCode(err); code != exitUnreachable || !strings.Contains(out.String(), "unreachable: n3") || !strings.Contains(out.String(), "3 member(s), 2 answered") {
		t.Fatalf("status with n3's admin API down: exit %d (%v):\n%s", code, err, out.String())
	}
}
