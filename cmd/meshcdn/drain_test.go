package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// serveProc is this test binary run as "meshcdn serve", with its log lines
// collected as they come.
type serveProc struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	logs  bytes.Buffer
	lines chan string // every log line, closed at EOF
	edge  string      // addresses from the "node started" line
	admin string
	exit  chan error
}

func startServe(t *testing.T, origin string, args ...string) *serveProc {
	t.Helper()
	all := append([]string{"serve", "--origin", origin, "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0",
		"--gossip", "127.0.0.1:0", "--node-name", "drain"}, args...)
	p := &serveProc{cmd: exec.Command(os.Args[0], all...), lines: make(chan string, 4096), exit: make(chan error, 1)}
	p.cmd.Env = append(os.Environ(), "MESHCDN_TEST_RUN_MAIN=1", "MESHCDN_PURGE_TOKEN=", "MESHCDN_GOSSIP_KEY=")
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		if t.Failed() {
			t.Logf("serve's log:\n%s", p.log())
		}
	})
	go p.read(stderr)
	for l := range p.lines {
		var rec struct{ Msg, Edge, Admin string }
		if json.Unmarshal([]byte(l), &rec) == nil && rec.Msg == "node started" {
			p.edge, p.admin = rec.Edge, rec.Admin
			return p
		}
	}
	t.Fatalf("serve exited before it started")
	return nil
}

func (p *serveProc) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		p.mu.Lock()
		p.logs.WriteString(sc.Text() + "\n")
		p.mu.Unlock()
		select {
		case p.lines <- sc.Text():
		default: // nobody is reading lines any more; logs keeps them
		}
	}
	close(p.lines)
	p.exit <- p.cmd.Wait()
}

func (p *serveProc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// waitExit waits for the process to end (bounded, so that a hang fails
// the test) and returns its exit code.
func (p *serveProc) waitExit(t *testing.T, within time.Duration) int {
	t.Helper()
	go func() {
		for range p.lines { // drain, so that read reaches EOF
		}
	}()
	select {
	case err := <-p.exit:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(within):
		t.Fatalf("serve still running %v after the signal", within)
		return -1
	}
}

// health runs "meshcdn health" against the node and returns its exit code
// and what it printed.
func health(admin string) (int, string) {
	var out bytes.Buffer
	err := runHealth([]string{"--admin", "http://" + admin, "--timeout", "5s"}, &out)
	return exitCode(err), out.String()
}

// SIGTERM drains: /readyz (and meshcdn health) turns 503 at once, new
// requests are served during the drain delay, a request in flight across
// the listeners' close completes in full, and the node exits 0.
func TestServeDrainsOnSIGTERM(t *testing.T) {
	slowArrived := make(chan struct{})
	release := make(chan struct{})
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if r.URL.Path == "/slow" {
			close(slowArrived)
			<-release
		}
		io.WriteString(w, "body of "+r.URL.Path)
	}))
	defer origin.Close()
	p := startServe(t, origin.URL, "--drain-delay", "1s", "--drain-timeout", "20s")

	if code, out := health(p.admin); code != 0 || !strings.HasPrefix(out, "ready") {
		t.Fatalf("health before the signal: exit %d, %q", code, out)
	}
	slow := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + p.edge + "/slow")
		if err != nil {
			slow <- "error: " + err.Error()
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			slow <- "error: " + err.Error()
			return
		}
		slow <- resp.Status + " " + string(b)
	}()
	select {
	case <-slowArrived:
	case <-time.After(20 * time.Second):
		t.Fatal("the slow request never reached the origin")
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Draining: readyz is 503 while the edge still serves new requests.
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, out := health(p.admin)
		if code == 1 && strings.Contains(out, "draining") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("health never said draining after SIGTERM: exit %d, %q", code, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("http://" + p.edge + "/fast")
	if err != nil {
		t.Fatalf("a request during the drain delay failed: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "body of /fast" {
		t.Fatalf("during the drain delay: %s %q", resp.Status, b)
	}

	// After the delay the listener closes; the slow request is still in
	// flight and must complete.
	deadline = time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", p.edge, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the edge listener still accepts 20s after SIGTERM with a 1s drain delay")
		}
		time.Sleep(50 * time.Millisecond)
	}
	close(release)
	if got := <-slow; got != "200 OK body of /slow" {
		t.Fatalf("the request in flight across the drain: %q", got)
	}
	if code := p.waitExit(t, 30*time.Second); code != 0 {
		t.Fatalf("exit status %d after a drain", code)
	}
	for _, want := range []string{"draining", "node stopped"} {
		if !strings.Contains(p.log(), want) {
			t.Errorf("the log lacks %q", want)
		}
	}
}

// A second signal ends the process at once, status 1, whatever the drain
// delay.
func TestServeSecondSignalExitsAtOnce(t *testing.T) {
	p := startServe(t, "http://127.0.0.1:1", "--drain-delay", "10m")
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for l := range p.lines { // the first signal is being handled
		if strings.Contains(l, "draining") {
			break
		}
	}
	if code, out := health(p.admin); code != 1 || !strings.Contains(out, "draining") {
		t.Fatalf("health while draining: exit %d, %q", code, out)
	}
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := p.waitExit(t, time.Minute); code != 1 {
		t.Fatalf("exit status %d after a second signal, want 1", code)
	}
	if !strings.Contains(p.log(), "second signal") {
		t.Error("the log does not say why the process exited at once")
	}
}

// meshcdn health against nothing: exit 1 with the cause; bad flags: 2.
func TestHealthUnreachableAndUsage(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if code, _ := health(addr); code != 1 {
		t.Fatalf("health of a closed port: exit %d, want 1", code)
	}
	if code := exitCode(runHealth([]string{"--admin", "ftp://x"}, io.Discard)); code != 2 {
		t.Fatalf("health --admin ftp://x: exit %d, want 2", code)
	}
}
