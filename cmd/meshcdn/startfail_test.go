package main

import (
	"bytes"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Every startup failure of serve (a port in use on any listener, a GeoIP
// database that cannot be read, a bad gossip key) ends the process with
// status 1 or 2 and one line naming the flag and the cause: no panic, no
// stack, no log noise.
func TestServeStartupFailures(t *testing.T) {
	tcpBusy := func(t *testing.T) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		return ln.Addr().String()
	}
	udpBusy := func(t *testing.T) string {
		// A UDP port whose TCP twin is free: gossip binds TCP first.
		for range 100 {
			pc, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			l, err := net.Listen("tcp", pc.LocalAddr().String())
			if err != nil {
				pc.Close()
				continue
			}
			l.Close()
			t.Cleanup(func() { pc.Close() })
			return pc.LocalAddr().String()
		}
		t.Fatal("no UDP port with a free TCP twin")
		return ""
	}
	notMMDB := filepath.Join(t.TempDir(), "country.mmdb")
	if err := os.WriteFile(notMMDB, []byte("not a MaxMind database\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		args  func(t *testing.T) []string
		flag  string
		cause string
	}{
		{"edge port in use", func(t *testing.T) []string { return []string{"--listen", tcpBusy(t)} }, "--listen", "address already in use"},
		{"admin port in use", func(t *testing.T) []string { return []string{"--admin", tcpBusy(t)} }, "--admin", "address already in use"},
		{"gossip TCP port in use", func(t *testing.T) []string { return []string{"--gossip", tcpBusy(t)} }, "--gossip", "address already in use"},
		{"gossip UDP port in use", func(t *testing.T) []string { return []string{"--gossip", udpBusy(t)} }, "--gossip", "address already in use"},
		{"GeoIP file missing", func(t *testing.T) []string {
			return []string{"--geoip-db", filepath.Join(t.TempDir(), "absent.mmdb")}
		}, "--geoip-db", "no such file"},
		{"GeoIP file unreadable", func(t *testing.T) []string { return []string{"--geoip-db", notMMDB} }, "--geoip-db", "invalid"},
		{"GeoIP path a directory", func(t *testing.T) []string { return []string{"--geoip-db", t.TempDir()} }, "--geoip-db", "not a regular file"},
		{"gossip key not base64", func(t *testing.T) []string { return []string{"--gossip-key", "not*base64"} }, "--gossip-key", "not base64"},
		{"gossip key wrong size", func(t *testing.T) []string { return []string{"--gossip-key", "c2hvcnQ="} }, "--gossip-key", "want 16, 24 or 32"},
		{"shield without a secret", func(t *testing.T) []string { return []string{"--shield", "cluster"} }, "--shield", "needs a secret"},
		{"shield mode unknown", func(t *testing.T) []string { return []string{"--shield", "everywhere"} }, "--shield", "want off, cluster"},
		{"shield secret short", func(t *testing.T) []string { return []string{"--shield-secret", "c2hvcnQ="} }, "--shield-secret", "want 16"},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"serve", "--origin", "http://127.0.0.1:1", "--node-name", "second",
				"--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--gossip", "127.0.0.1:0"}, c.args(t)...)
			code, out := runServeToExit(t, args)
			if code != 1 && code != 2 {
				t.Fatalf("exit status %d, want 1 or 2:\n%s", code, out)
			}
			lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
			if len(lines) != 1 {
				t.Fatalf("%d lines on stderr, want one:\n%s", len(lines), out)
			}
			t.Logf("exit %d: %s", code, lines[0])
			if !strings.HasPrefix(lines[0], "meshcdn: "+c.flag+" ") && !strings.HasPrefix(lines[0], "meshcdn: "+c.flag+":") {
				t.Errorf("the line does not start by naming %s: %s", c.flag, lines[0])
			}
			if !strings.Contains(strings.ToLower(lines[0]), c.cause) {
				t.Errorf("the line does not give the cause (%q): %s", c.cause, lines[0])
			}
		})
	}
}

// runServeToExit runs this test binary as meshcdn with args (no token or
// gossip key from the environment) and returns its exit status and its
// standard error; it fails the test if the process is still running after
// a minute (then killed by PID).
func runServeToExit(t *testing.T, args []string) (int, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "MESHCDN_TEST_RUN_MAIN=1", "MESHCDN_PURGE_TOKEN=", "MESHCDN_GOSSIP_KEY=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("still running after a minute:\n%s", stderr.String())
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, stderr.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), stderr.String()
	default:
		t.Fatalf("wait: %v", err)
		return 0, ""
	}
}
