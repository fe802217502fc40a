package cluster_test

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/meshcdn/meshcdn/cluster"
	"github.com/meshcdn/meshcdn/store"
)

// sealedWith is a UDP packet in memberlist's encrypted format (version 1,
// nonce, AES-GCM ciphertext and tag, no label) under key: what a node with
// another gossip key sends.
func sealedWith(t *testing.T, key, plain []byte) []byte {
	t.Helper()
	blk, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := cipher.NewGCM(blk)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, 1+12, 1+12+len(plain)+16)
	out[0] = 1
	_, _ = rand.Read(out[1:13])
	return gcm.Seal(out, out[1:13], plain, nil)
}

// junk is a datagram of n random bytes whose first byte is first.
func junk(first byte, n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	b[0] = first
	return b
}

// TestGossipJunkFlood: thousands of junk datagrams to a real node's gossip
// port are each counted by reason, but written to the log at most once per
// reason per few seconds (with the number suppressed), without stack
// traces; only packets in memberlist's encrypted format that no key of ours
// opens are called a key mismatch.
func TestGossipJunkFlood(t *testing.T) {
	for _, c := range []struct {
		name   string
		keys   [][]byte
		kinds  map[string]func() []byte // counter reason → packet
		noKeyW bool                     // no line of this node may say "key mismatch"
	}{
		{name: "with a gossip key", keys: [][]byte{key(1)}, kinds: map[string]func() []byte{
			"garbage": func() []byte { return junk(0xF0, 200) }, // no encryption version
			"decrypt": func() []byte { return sealedWith(t, key(2), junk(0x08, 100)) },
		}},
		{name: "short packets with a version byte", keys: [][]byte{key(1)}, noKeyW: true, kinds: map[string]func() []byte{
			"garbage": func() []byte { return junk(0x01, 20) }, // shorter than version, nonce and tag
		}},
		{name: "without a gossip key", noKeyW: true, kinds: map[string]func() []byte{
			"garbage": func() []byte { return junk(0xF0, 200) }, // no such message type
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			core, logs := observer.New(zapcore.DebugLevel)
			// As in production: stack traces from error level up.
			lg := zap.New(core, zap.AddStacktrace(zapcore.ErrorLevel))
			n, err := cluster.Start(cluster.Config{NodeName: "target", BindAddr: "127.0.0.1", Keys: c.keys, Logger: lg},
				store.New(store.Config{}))
			if err != nil {
				t.Fatal(err)
			}
			defer n.Shutdown()
			conn, err := net.Dial("udp", n.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()

			const perKind, batch = 10000, 100
			start := time.Now()
			want := map[string]uint64{}
			for sent := 0; sent < perKind; sent += batch {
				for reason, mk := range c.kinds {
					for range batch {
						if _, err := conn.Write(mk()); err != nil {
							t.Fatal(err)
						}
					}
					want[reason] += batch
				}
				// Each batch in before the next: the kernel's socket buffer
				// is small, and the counters are to be compared exactly.
				waitFor(t, "the batch to be counted", func() bool {
					errs := n.Stats().Errors
					for r, v := range want {
						if errs[r] < v {
							return false
						}
					}
					return true
				})
			}
			elapsed := time.Since(start)
			errs := n.Stats().Errors
			for r, v := range want {
				if errs[r] != v {
					t.Errorf("errors[%q] = %d, want exactly %d (all %v)", r, errs[r], v, errs)
				}
			}

			// At most one line per reason per 5 s: the first, then one that
			// carries the number suppressed meanwhile.
			bound := len(c.kinds) * (2 + int(elapsed/(5*time.Second)))
			var flood []observer.LoggedEntry
			for _, e := range logs.All() {
				if e.Level >= zapcore.WarnLevel {
					flood = append(flood, e)
				}
			}
			if len(flood) > bound {
				t.Fatalf("%d warning/error lines for %d packets in %v (bound %d); first: %v",
					len(flood), perKind*len(c.kinds), elapsed.Round(time.Millisecond), bound, flood[0])
			}
			reported := map[string]bool{}
			for _, e := range flood {
				if e.Stack != "" {
					t.Errorf("stack trace in %q", e.Message)
				}
				mismatch := strings.Contains(e.Message, "key mismatch")
				reason, _ := e.ContextMap()["reason"].(string)
				reported[reason] = true
				if mismatch != (reason == "decrypt") || (mismatch && c.noKeyW) {
					t.Errorf("reason %q, line %q", reason, e.Message)
				}
			}
			for r := range c.kinds {
				if !reported[r] {
					t.Errorf("no line for reason %q: %v", r, flood)
				}
			}
			t.Logf("%d packets in %v: %d lines, counters %v", perKind*len(c.kinds), elapsed.Round(time.Millisecond), len(flood), errs)
		})
	}
}

// TestGossipJunkStreams: junk TCP connections to the gossip port of a node
// with a key are counted exactly as not encrypted (never as a key
// mismatch), and logged once.
func TestGossipJunkStreams(t *testing.T) {
	core, logs := observer.New(zapcore.WarnLevel)
	n, err := cluster.Start(cluster.Config{NodeName: "target", BindAddr: "127.0.0.1", Keys: [][]byte{key(1)},
		Logger: zap.New(core, zap.AddStacktrace(zapcore.ErrorLevel))}, store.New(store.Config{}))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown()
	const conns = 200
	start := time.Now()
	for i := range conns {
		c, err := net.Dial("tcp", n.Addr())
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.Write(junk(0xF0, 64))
		// Wait for its refusal before the next: memberlist answers each.
		waitFor(t, "the stream to be refused", func() bool { return n.Stats().Errors["not_encrypted"] >= uint64(i+1) })
		c.Close()
	}
	elapsed := time.Since(start)
	if got := n.Stats().Errors; got["not_encrypted"] != conns || got["decrypt"] != 0 {
		t.Fatalf("errors %v, want exactly %d not_encrypted", got, conns)
	}
	lines := logs.All()
	if bound := 2 + int(elapsed/(5*time.Second)); len(lines) == 0 || len(lines) > bound {
		t.Fatalf("%d lines for %d junk streams in %v (bound %d): %v", len(lines), conns, elapsed, bound, lines)
	}
	for _, e := range lines {
		if strings.Contains(e.Message, "key mismatch") || e.Stack != "" {
			t.Fatalf("line %q (stack %d bytes)", e.Message, len(e.Stack))
		}
	}
}
