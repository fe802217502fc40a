package api

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/meshcdn/meshcdn/cluster/clustertest"
)

// TestForceLeave: the endpoint needs the token, refuses live and unknown
// members, and takes a crashed member out so that wait=all completes.
func TestForceLeave(t *testing.T) {
	c, e := startCluster(t, 3, nil, Config{Token: "secret"})
	auth := map[string]string{"Authorization": "Bearer secret"}
	gone := clustertest.NodeName(2)
	path := "/cluster/members/" + gone + "/force-leave"

	if resp, b := e.do("POST", path, nil, ""); resp.StatusCode != 401 {
		t.Fatalf("without a token: %d %s", resp.StatusCode, b)
	}
	if resp, b := e.do("POST", path, auth, ""); resp.StatusCode != 409 {
		t.Fatalf("a live member: %d %s", resp.StatusCode, b)
	}
	if resp, b := e.do("POST", "/cluster/members/"+clustertest.NodeName(0)+"/force-leave", auth, ""); resp.StatusCode != 409 {
		t.Fatalf("this node: %d %s", resp.StatusCode, b)
	}
	if resp, b := e.do("POST", "/cluster/members/nobody/force-leave", auth, ""); resp.StatusCode != 404 {
		t.Fatalf("an unknown member: %d %s", resp.StatusCode, b)
	}

	if err := c.Kill(2); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.WaitState(ctx, 0, 2, "dead"); err != nil {
		t.Fatal(err)
	}
	if code, pr, b := e.do2("POST", "/purge?wait=all", auth, `{"keys":["k"]}`); code != 202 || pr.Complete {
		t.Fatalf("wait=all with a crashed member: %d %s", code, b)
	}
	if resp, b := e.do("POST", path, auth, ""); resp.StatusCode != 200 {
		t.Fatalf("force-leave of the crashed member: %d %s", resp.StatusCode, b)
	}
	resp, b := e.do("GET", "/cluster/members", nil, "")
	var ms Members
	if resp.StatusCode != 200 || json.Unmarshal([]byte(b), &ms) != nil {
		t.Fatalf("members: %d %s", resp.StatusCode, b)
	}
	for _, m := range ms.Members {
		if m.Name == gone && m.State != "left" {
			t.Fatalf("%s is %q after force-leave", gone, m.State)
		}
	}
	if err := c.WaitState(ctx, 1, 2, "left"); err != nil {
		t.Fatalf("the other member was not told: %v", err)
	}
	if code, pr, b := e.do2("POST", "/purge?wait=all", auth, `{"keys":["k"]}`); code != 200 || !pr.Complete || len(pr.Unreachable) != 0 {
		t.Fatalf("wait=all after force-leave: %d %s", code, b)
	}
}
