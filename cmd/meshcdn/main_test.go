package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary act as the meshcdn command when asked, so
// tests can run it as a process and signal it.
func TestMain(m *testing.M) {
	if os.Getenv("MESHCDN_TEST_RUN_MAIN") == "1" {
		if os.Getenv("MESHCDN_TEST_SIGHUP_AT_START") == "1" {
			// A SIGHUP while the node starts, before its GeoIP watcher runs.
			testHookStartNode = func() {
				syscall.Kill(os.Getpid(), syscall.SIGHUP)
				time.Sleep(200 * time.Millisecond) // time for the default action, if any
				fmt.Fprintln(os.Stderr, "test: SIGHUP sent during startup")
			}
		}
		os.Exit(run(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// serve as a process: it starts, answers on its admin listener, and on
// SIGTERM drains, leaves and exits 0.
func TestServeProcessGracefulShutdown(t *testing.T) {
	cmd, stderr := startServeProcess(t, "proc")
	defer cmd.Process.Kill()

	var logs bytes.Buffer
	lines := bufio.NewScanner(stderr)
	admin := ""
	for admin == "" && lines.Scan() {
		logs.WriteString(lines.Text() + "\n")
		var rec struct{ Msg, Admin string }
		if json.Unmarshal(lines.Bytes(), &rec) == nil && rec.Msg == "node started" {
			admin = rec.Admin
		}
	}
	if admin == "" {
		t.Fatalf("no \"node started\" log line:\n%s", logs.String())
	}
	resp, err := http.Get("http://" + admin + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/readyz: %d", resp.StatusCode)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for lines.Scan() {
		logs.WriteString(lines.Text() + "\n")
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("still running 30s after SIGTERM\n%s", logs.String())
	}
	for _, want := range []string{"shutting down", "node stopped"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %q:\n%s", want, logs.String())
		}
	}
}

// A SIGHUP during startup, before the GeoIP watcher subscribes, must not
// kill serve (SIGHUP's default action); once started, SIGHUP reloads.
func TestServeSurvivesSIGHUPDuringStartup(t *testing.T) {
	cmd, stderr := startServeProcess(t, "hup", "MESHCDN_TEST_SIGHUP_AT_START=1")
	defer cmd.Process.Kill()
	var logs bytes.Buffer
	lines := bufio.NewScanner(stderr)
	started := false
	for !started && lines.Scan() {
		logs.WriteString(lines.Text() + "\n")
		var rec struct{ Msg string }
		started = json.Unmarshal(lines.Bytes(), &rec) == nil && rec.Msg == "node started"
	}
	if !started {
		err := cmd.Wait()
		t.Fatalf("serve did not start after a SIGHUP during startup (%v):\n%s", err, logs.String())
	}
	if !strings.Contains(logs.String(), "test: SIGHUP sent during startup") {
		t.Fatalf("the startup hook did not run:\n%s", logs.String())
	}
	// Started: SIGHUP now reloads (the embedded database: nothing to do).
	rest := make(chan string, 1024)
	go func() {
		defer close(rest)
		for lines.Scan() {
			rest <- lines.Text()
		}
	}()
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	reloaded := false
	timeout := time.After(10 * time.Second)
	for !reloaded {
		select {
		case l, ok := <-rest:
			if !ok {
				t.Fatalf("serve exited after a SIGHUP:\n%s", logs.String())
			}
			logs.WriteString(l + "\n")
			reloaded = strings.Contains(l, "geoip reload")
		case <-timeout:
			t.Fatalf("no geoip reload 10s after SIGHUP:\n%s", logs.String())
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	timeout = time.After(30 * time.Second)
	for eof := false; !eof; {
		select {
		case l, ok := <-rest:
			eof = !ok
			logs.WriteString(l + "\n")
		case <-timeout:
			t.Fatalf("still running 30s after SIGTERM\n%s", logs.String())
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v\n%s", err, logs.String())
	}
}

// startServeProcess runs this test binary as "meshcdn serve" on loopback
// ports (no token, no gossip key, an origin nobody answers on), with env
// added; it returns the running command and its standard error.
func startServeProcess(t *testing.T, name string, env ...string) (*exec.Cmd, io.ReadCloser) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "serve", "--origin", "http://127.0.0.1:1",
		"--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--gossip", "127.0.0.1:0", "--node-name", name)
	cmd.Env = append(append(os.Environ(), "MESHCDN_TEST_RUN_MAIN=1", "MESHCDN_PURGE_TOKEN=", "MESHCDN_GOSSIP_KEY="), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, stderr
}
