package test

// End-to-end tests across processes: the real meshcdn binary, built once,
// run as a demo origin and as several `serve` nodes that form one cluster
// over real gossip sockets on loopback.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// meshcdnBinary builds cmd/meshcdn once per test run.
func meshcdnBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "meshcdn-e2e-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "meshcdn")
		gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(gobin); err != nil {
			gobin = "go"
		}
		cmd := exec.Command(gobin, "build", "-o", binPath, "github.com/meshcdn/meshcdn/cmd/meshcdn")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// freePort returns a loopback port free for both TCP and UDP (gossip needs
// both). It picks from 20000–31999, below the kernel's ephemeral range, so
// that no outgoing connection or port-0 listener of a test running in
// parallel can take it between now and the moment the process binds it; each
// port is handed out once per run.
func freePort(t *testing.T) int {
	t.Helper()
	portMu.Lock()
	defer portMu.Unlock()
	for i := 0; i < 1000; i++ {
		port := 20000 + rand.IntN(12000)
		if portUsed[port] {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		portUsed[port] = true
		return port
	}
	t.Fatal("no free port")
	return 0
}

var (
	portMu   sync.Mutex
	portUsed = map[int]bool{}
)

type proc struct {
	name string
	cmd  *exec.Cmd
	log  *bytes.Buffer
	mu   *sync.Mutex
	done chan struct{}
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.b.Len() > 4<<20 { // bound what a chatty process can make us hold
		return len(b), nil
	}
	return w.b.Write(b)
}

// start runs the binary with args; it is stopped (SIGTERM, then SIGKILL) by
// PID when the test ends, and its output is printed if the test failed.
func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, log: &bytes.Buffer{}, mu: &sync.Mutex{}, done: make(chan struct{})}
	p.cmd = exec.Command(meshcdnBinary(t), args...)
	w := lockedWriter{p.mu, p.log}
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop(5 * time.Second)
		if t.Failed() {
			t.Logf("---- output of %s ----\n%s", name, p.output())
		}
	})
	return p
}

func (p *proc) stop(grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// eventually polls f until it returns nil or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: not true after %v: %v", what, within, err)
}

var client = &http.Client{Timeout: 10 * time.Second}

type userDoc struct {
	ID      string `json:"id"`
	Version uint64 `json:"version"`
}

func getUser(t *testing.T, edge, path string) (xcache string, doc userDoc) {
	t.Helper()
	resp, err := client.Get(edge + path)
	if err != nil {
		t.Fatalf("GET %s%s: %v", edge, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s%s: status %d: %s", edge, path, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("GET %s%s: bad JSON %q: %v", edge, path, body, err)
	}
	if resp.Header.Get("Surrogate-Key") != "" {
		t.Errorf("Surrogate-Key leaked to the client: %q", resp.Header.Get("Surrogate-Key"))
	}
	return resp.Header.Get("X-Cache"), doc
}

type cluster3 struct {
	origin        string
	edges, admins []string
	gossips       []string
	nodes         []*proc
	originProc    *proc
	nodeArgs      [][]string
}

func startCluster(t *testing.T, n int, extra ...string) *cluster3 {
	t.Helper()
	c := &cluster3{}
	op := freePort(t)
	c.origin = fmt.Sprintf("http://127.0.0.1:%d", op)
	for i := 0; i < n; i++ {
		c.edges = append(c.edges, fmt.Sprintf("http://127.0.0.1:%d", freePort(t)))
		c.admins = append(c.admins, fmt.Sprintf("http://127.0.0.1:%d", freePort(t)))
		c.gossips = append(c.gossips, fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	}
	c.originProc = start(t, "origin", "origin", "--listen", fmt.Sprintf("127.0.0.1:%d", op),
		"--purge-url", strings.Join(c.admins, ","), "--log-level", "warn")
	for i := 0; i < n; i++ {
		// Every node joins the one after it: the cluster forms whatever the start order.
		args := []string{"serve",
			"--listen", strings.TrimPrefix(c.edges[i], "http://"),
			"--admin", strings.TrimPrefix(c.admins[i], "http://"),
			"--origin", c.origin,
			"--node-name", fmt.Sprintf("node%d", i+1),
			"--region", fmt.Sprintf("region-%d", i+1),
			"--gossip", c.gossips[i],
			"--join", c.gossips[(i+1)%n],
			"--log-level", "warn",
			"--drain-delay", "0", // no load balancer to tell: stop at once
		}
		args = append(args, extra...)
		c.nodeArgs = append(c.nodeArgs, args)
		c.nodes = append(c.nodes, start(t, fmt.Sprintf("node%d", i+1), args...))
	}
	for i := 0; i < n; i++ {
		c.waitMembers(t, i, n)
	}
	return c
}

type memberDoc struct {
	Name   string `json:"name"`
	Region string `json:"region"`
	State  string `json:"state"`
}

func (c *cluster3) members(i int) ([]memberDoc, error) {
	resp, err := client.Get(c.admins[i] + "/cluster/members")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("status %d: %s", resp.StatusCode, body)
	}
	var ms []memberDoc
	if err := json.Unmarshal(body, &ms); err != nil {
		// tolerate an envelope {"members": [...]}
		var env struct {
			Members []memberDoc `json:"members"`
		}
		if err2 := json.Unmarshal(body, &env); err2 != nil {
			return nil, fmt.Errorf("bad members JSON %q: %v", body, err)
		}
		ms = env.Members
	}
	return ms, nil
}

func (c *cluster3) waitMembers(t *testing.T, i, alive int) {
	t.Helper()
	eventually(t, 20*time.Second, fmt.Sprintf("node%d sees %d alive members", i+1, alive), func() error {
		ms, err := c.members(i)
		if err != nil {
			return err
		}
		n := 0
		for _, m := range ms {
			if m.State == "alive" {
				n++
			}
		}
		if n != alive {
			return fmt.Errorf("%d alive: %+v", n, ms)
		}
		return nil
	})
}

func runCLI(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, meshcdnBinary(t), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("meshcdn %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// The product's promise, across processes: a purge sent to any node (by the
// origin's event pipeline, by the CLI, by the Fastly-compatible API) drops the
// object on every node.
func TestProcessesPurgeReachesEveryNode(t *testing.T) {
	t0 := time.Now()
	c := startCluster(t, 3)
	t.Logf("cluster of 3 up after %v", time.Since(t0))
	path := "/v1/users/7?company=42"

	// MISS then HIT on every node.
	var v0 uint64
	for i, e := range c.edges {
		xc, doc := getUser(t, e, path)
		if xc != "MISS" {
			t.Fatalf("node%d first GET: X-Cache %q, want MISS", i+1, xc)
		}
		xc, doc2 := getUser(t, e, path)
		if xc != "HIT" || doc2.Version != doc.Version {
			t.Fatalf("node%d second GET: X-Cache %q version %d→%d, want HIT and same", i+1, xc, doc.Version, doc2.Version)
		}
		v0 = doc.Version
	}

	// An event at the origin changes the data and purges user/7 (wait=all).
	resp, err := client.Post(c.origin+"/v1/users/7/events", "application/json", strings.NewReader(`{"type":"profile_updated"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("event: status %d: %s", resp.StatusCode, body)
	}
	for i, e := range c.edges {
		xc, doc := getUser(t, e, path)
		if xc != "MISS" || doc.Version <= v0 {
			t.Fatalf("node%d after event: X-Cache %q version %d (before %d): want MISS with new data", i+1, xc, doc.Version, v0)
		}
		if xc, _ := getUser(t, e, path); xc != "HIT" {
			t.Fatalf("node%d after refill: X-Cache %q, want HIT", i+1, xc)
		}
	}

	// The CLI, against node 2, by company key, waiting for every ack.
	out := runCLI(t, "purge", "--admin", c.admins[1], "--wait", "company/42")
	if !strings.Contains(out, "node") {
		t.Logf("purge output: %s", out)
	}
	for i, e := range c.edges {
		if xc, _ := getUser(t, e, path); xc != "MISS" {
			t.Fatalf("node%d after CLI purge on node2: X-Cache %q, want MISS", i+1, xc)
		}
	}

	// Fastly-compatible API on node 3.
	req, _ := http.NewRequest("POST", c.admins[2]+"/service/demo/purge/user/7", nil)
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`"ok"`)) {
		t.Fatalf("fastly purge: %d %s", resp.StatusCode, body)
	}
	for i, e := range c.edges {
		eventually(t, 2*time.Second, fmt.Sprintf("node%d drops user/7", i+1), func() error {
			if xc, _ := getUser(t, e, path); xc != "MISS" {
				return fmt.Errorf("X-Cache %s", xc)
			}
			return nil
		})
	}

	// members CLI shows the three nodes and their regions.
	out = runCLI(t, "members", "--admin", c.admins[0])
	for i := 1; i <= 3; i++ {
		if !strings.Contains(out, fmt.Sprintf("node%d", i)) || !strings.Contains(out, fmt.Sprintf("region-%d", i)) {
			t.Fatalf("members output lacks node%d/region-%d:\n%s", i, i, out)
		}
	}

	// Graceful stop of node 2: the others see it leave, and purges keep working.
	t.Logf("purges checked after %v", time.Since(t0))
	c.nodes[1].stop(10 * time.Second)
	t.Logf("node2 stopped after %v", time.Since(t0))
	c.waitMembers(t, 0, 2)
	t.Logf("node1 sees node2 gone after %v", time.Since(t0))
	runCLI(t, "purge", "--admin", c.admins[0], "--wait", "--all")
	if xc, _ := getUser(t, c.edges[2], path); xc != "MISS" {
		t.Fatalf("node3 after purge-all with node2 gone: X-Cache %q, want MISS", xc)
	}
}

// A node started with another gossip key cannot join, and says why.
func TestProcessesWrongGossipKeyCannotJoin(t *testing.T) {
	key1 := "AAECAwQFBgcICQoLDA0ODw==" // 16 bytes
	key2 := "Dw4NDAsKCQgHBgUEAwIBAA=="
	c := startCluster(t, 2, "--gossip-key", key1)

	g := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	admin := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	bad := start(t, "intruder", "serve",
		"--listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--admin", admin,
		"--origin", c.origin, "--node-name", "intruder", "--gossip", g,
		"--join", c.gossips[0], "--gossip-key", key2, "--log-level", "info", "--drain-delay", "0")
	// It must say why it cannot join: the gossip key mismatch message of
	// the cluster package ("cannot join the cluster: gossip key mismatch
	// …"). Not just any mention of keys or encryption: its own startup line
	// says "encrypted":true.
	eventually(t, 15*time.Second, "intruder logs why it cannot join", func() error {
		if strings.Contains(strings.ToLower(bad.output()), "gossip key mismatch") {
			return nil
		}
		return fmt.Errorf("no gossip key mismatch message yet")
	})
	// And the cluster never counts it.
	for i := range c.admins {
		ms, err := c.members(i)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if m.Name == "intruder" {
				t.Fatalf("node%d lists the intruder: %+v", i+1, ms)
			}
		}
	}
}
