package api

import (
	"context"
	"encoding/json"
	"net"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshcdn/meshcdn/cluster"
	"github.com/meshcdn/meshcdn/cluster/clustertest"
)

// adminCluster is an in-process cluster whose every node has its own
// admin API on a real socket, advertised in its cluster metadata.
type adminCluster struct {
	c    *clustertest.Cluster
	srvs []*httptest.Server
	envs []*env
}

// Nodes listed in silent get a listener that accepts connections and never
// answers (and no admin API).
func startAdminCluster(t *testing.T, n int, cfg Config, silent ...int) *adminCluster {
	t.Helper()
	lns := make([]net.Listener, n)
	for i := range lns {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[i] = ln
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := clustertest.Start(ctx, clustertest.Options{Nodes: n, Configure: func(i int, cc *cluster.Config) {
		cc.AdminAddr = lns[i].Addr().String()
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	ac := &adminCluster{c: c}
	for i := range lns {
		if slices.Contains(silent, i) {
			t.Cleanup(func() { lns[i].Close() })
			ac.envs, ac.srvs = append(ac.envs, nil), append(ac.srvs, nil)
			continue
		}
		ncfg := cfg
		ncfg.Store, ncfg.Cluster = c.Store(i), c.Node(i)
		e := newEnvOn(t, ncfg, lns[i])
		ac.envs = append(ac.envs, e)
		ac.srvs = append(ac.srvs, e.srv)
	}
	return ac
}

func getJSON(t *testing.T, e *env, path string, v any) {
	t.Helper()
	resp, body := e.do("GET", path, nil, "")
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, body)
	}
}

// TestClusterPurgesWaterfall: a purge accepted by node 0 shows, on any
// node's /cluster/purges, as accepted by node 0 and applied by the two
// others, each at a time after the stamp; a node whose admin listener does
// not answer is named and marked unreachable in the waterfall.
func TestClusterPurgesWaterfall(t *testing.T) {
	ac := startAdminCluster(t, 3, Config{Token: "tok"})
	code, pr, body := ac.envs[0].purge(`{"keys":["user/1"]}`, map[string]string{"Authorization": "Bearer tok", "Meshcdn-Wait": "all"})
	if code != 200 || !pr.Complete {
		t.Fatalf("purge: %d %s", code, body)
	}
	var lp LocalPurges
	getJSON(t, ac.envs[0], "/purges/local", &lp)
	if lp.Node != "node-00" || len(lp.Accepted) != 1 || lp.Accepted[0].ID != pr.ID || len(lp.Applied) != 0 {
		t.Fatalf("/purges/local of node 0: %+v", lp)
	}

	var cp ClusterPurges
	getJSON(t, ac.envs[1], "/cluster/purges", &cp) // any node gathers
	if cp.Self != "node-01" || len(cp.Members) != 3 || !strings.Contains(cp.Note, "wall clock") {
		t.Fatalf("/cluster/purges: %+v", cp)
	}
	for _, m := range cp.Members {
		if !m.Answered() {
			t.Fatalf("member %s did not answer: %s", m.Name, m.Error)
		}
	}
	if len(cp.Purges) != 1 {
		t.Fatalf("purges: %+v", cp.Purges)
	}
	wf := cp.Purges[0]
	if wf.ID != pr.ID || wf.Origin != "node-00" || wf.Kind != "key" || wf.Count != 1 || wf.Applied != 2 || wf.Unreachable != 0 || len(wf.Steps) != 3 {
		t.Fatalf("waterfall: %+v", wf)
	}
	if s := wf.Steps[0]; s.Node != "node-00" || s.Status != "accepted" || s.Region != "region-0" {
		t.Fatalf("origin step: %+v", s)
	}
	for _, s := range wf.Steps[1:] {
		if s.Status != "applied" || s.AfterMS > wf.SlowestMS {
			t.Fatalf("step %+v (slowest %v)", s, wf.SlowestMS)
		}
	}

	// Node 2's admin listener goes away (it stays in the cluster).
	ac.srvs[2].Close()
	cp = ClusterPurges{}
	getJSON(t, ac.envs[0], "/cluster/purges", &cp)
	if m := cp.Members[2]; m.Name != "node-02" || m.Answered() {
		t.Fatalf("node 2 should be named as not answering: %+v", cp.Members)
	}
	wf = cp.Purges[0]
	if wf.Applied != 1 || wf.Unreachable != 1 || wf.Steps[2].Node != "node-02" || wf.Steps[2].Status != "unreachable" {
		t.Fatalf("waterfall with node 2 unreachable: %+v", wf)
	}
	if resp, b := ac.envs[0].do("GET", "/cluster/purges?limit=0", nil, ""); resp.StatusCode != 400 {
		t.Fatalf("limit=0: %d %s", resp.StatusCode, b)
	}
}

// TestWaterfallOriginUnreachable: a purge whose origin does not answer is
// still shown from what the others applied, its origin marked.
func TestWaterfallOriginUnreachable(t *testing.T) {
	stamp := time.Unix(1000, 0)
	rec := cluster.PurgeRecord{Origin: "a", Seq: 7, Stamp: stamp, Kind: "all", At: stamp.Add(3 * time.Millisecond)}
	members := []Gathered{{Name: "a", Error: "no answer"}, {Name: "b"}, {Name: "c"}}
	locals := []*LocalPurges{nil, {Applied: []cluster.PurgeRecord{rec}}, {}}
	wfs := waterfalls(members, locals, 10)
	if len(wfs) != 1 {
		t.Fatalf("%+v", wfs)
	}
	wf := wfs[0]
	if wf.ID != "a/7" || wf.Steps[0].Status != "unreachable" || wf.Applied != 1 || wf.NotSeen != 1 || wf.SlowestMS != 3 ||
		wf.Steps[1].Status != "applied" || wf.Steps[2].Status != "not_seen" {
		t.Fatalf("%+v", wf)
	}
}
