package main

import (
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// Gossip without a key on an address other machines can reach lets anyone
// join and purge; the node says so at startup.
func TestGossipOpenWarning(t *testing.T) {
	key := [][]byte{make([]byte, 32)}
	for _, c := range []struct {
		host string
		keys [][]byte
		want bool
	}{
		{"0.0.0.0", nil, true},
		{"::", nil, true},
		{"10.0.0.1", nil, true},
		{"203.0.113.9", nil, true},
		{"node1.example.com", nil, true},
		{"127.0.0.1", nil, false},
		{"127.0.0.2", nil, false},
		{"::1", nil, false},
		{"::ffff:127.0.0.1", nil, false},
		{"localhost", nil, false},
		{"0.0.0.0", key, false},
		{"203.0.113.9", key, false},
	} {
		if got := gossipOpen(c.host, c.keys); got != c.want {
			t.Errorf("gossipOpen(%q, %d keys) = %v, want %v", c.host, len(c.keys), got, c.want)
		}
		core, logs := observer.New(zapcore.InfoLevel)
		warnOpenGossip(zap.New(core), nodeConfig{GossipHost: c.host, GossipPort: 7946, GossipKeys: c.keys})
		warned := logs.FilterLevelExact(zapcore.WarnLevel).All()
		if c.want != (len(warned) == 1) {
			t.Errorf("%s, %d keys: %d warnings, want %v", c.host, len(c.keys), len(warned), c.want)
			continue
		}
		if c.want {
			msg := warned[0].Message
			for _, want := range []string{"anyone who can reach the gossip port can join", "purge", "purge token does not protect gossip", "--gossip-key"} {
				if !strings.Contains(msg, want) {
					t.Errorf("warning %q lacks %q", msg, want)
				}
			}
			if got := warned[0].ContextMap()["gossip"]; got == nil || !strings.Contains(got.(string), "7946") {
				t.Errorf("warning's gossip field: %v", got)
			}
		}
	}
}

// startNode checks; gossip on loopback is no cause for the warning.
func TestStartNodeNoGossipWarningOnLoopback(t *testing.T) {
	cfg, err := parseServe(t, map[string]string{}, "--origin", "http://127.0.0.1:1", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0",
		"--gossip", "127.0.0.1:0", "--node-name", "warn")
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.InfoLevel)
	n, err := startNode(cfg, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	n.stop()
	if w := logs.FilterMessageSnippet("gossip-key").Len(); w != 0 {
		t.Errorf("loopback gossip: %d warnings", w)
	}
}
