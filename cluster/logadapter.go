package cluster

import (
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// mlLog turns memberlist's log lines ("[LEVEL] memberlist: ...") into zap
// entries. Lines about refused gossip input are counted by reason, every
// one (meshcdn_cluster_message_errors_total), and written through a
// limiter: anyone who can reach the gossip port can send thousands of junk
// datagrams a second, and each makes memberlist log a line.
type mlLog struct {
	log *zap.Logger
	m   *metrics
	lim *limiter
}

// logEvery: lines of one reason (or of one kind of memberlist warning) are
// written at most once per logEvery, the next one carrying the number left
// out meanwhile.
const logEvery = 5 * time.Second

// refusal is a kind of gossip input memberlist refused.
type refusal struct {
	reason string        // counter reason and log field
	level  zapcore.Level // of its log line
	msg    string
}

var (
	// A packet or stream in memberlist's encrypted format (a version byte
	// it knows, then nonce, ciphertext and tag, or the stream's encrypted
	// message type) that none of our keys opens: a peer with another key.
	refusedKey = refusal{"decrypt", zapcore.ErrorLevel, "gossip from a peer could not be decrypted: gossip key mismatch (check --gossip-key on both nodes; during a key rotation every node must hold both keys)"}
	// Encrypted gossip while this node has no key.
	refusedNoKey = refusal{"decrypt", zapcore.ErrorLevel, "encrypted gossip received but this node has no --gossip-key: gossip key mismatch (give every node the same --gossip-key)"}
	// A stream that is not encrypted while this node requires it.
	refusedPlain = refusal{"not_encrypted", zapcore.WarnLevel, "unencrypted gossip refused: a node without --gossip-key, or a client that is not a meshcdn node"}
	// Input that is neither in the encrypted format nor a memberlist
	// message: junk, a port scan, another protocol.
	refusedGarbage = refusal{"garbage", zapcore.WarnLevel, "gossip input refused: not a memberlist message (junk, a port scan or another protocol on the gossip port)"}
)

// refusals maps what memberlist says (lower case) to the refusal. The
// decryption texts are those of memberlist's security.go: "unsupported
// encryption version" and "too small" mean the bytes are not in the
// encrypted format at all; "no installed keys could decrypt" means they
// are, under a key we do not hold.
var refusals = []struct {
	text string
	r    refusal
}{
	{"no installed keys could decrypt", refusedKey},
	{"remote state is encrypted and encryption is not configured", refusedNoKey},
	{"encryption is configured but remote state is not encrypted", refusedPlain},
	{"unsupported encryption version", refusedGarbage},
	{"payload is too small to decrypt", refusedGarbage},
	{"cannot decrypt empty payload", refusedGarbage},
	{"missing message type byte", refusedGarbage},
	{") not supported", refusedGarbage}, // "msg type (N) not supported"
	{"received invalid msgtype", refusedGarbage},
	{"got invalid checksum", refusedGarbage},
	{"failed to decode", refusedGarbage},
	{"compound request had", refusedGarbage},
	{"failed to decompress", refusedGarbage},
	{"cannot decode label", refusedGarbage},
	{"label header", refusedGarbage},
	{"unacceptable label", refusedGarbage},
}

func classify(s string) (refusal, bool) {
	s = strings.ToLower(s)
	for _, r := range refusals {
		if strings.Contains(s, r.text) {
			return r.r, true
		}
	}
	return refusal{}, false
}

// isKeyError: a join error that means the gossip keys differ (our stream
// not opened by the peer's keys, or ours without a key to a peer that
// requires one).
func isKeyError(s string) bool {
	r, ok := classify(s)
	return ok && (r == refusedKey || r == refusedNoKey || r == refusedPlain)
}

func (w mlLog) Write(b []byte) (int, error) {
	s := strings.TrimSpace(string(b))
	level := "DEBUG"
	if strings.HasPrefix(s, "[") {
		if i := strings.IndexByte(s, ']'); i > 0 {
			level = s[1:i]
			s = strings.TrimSpace(s[i+1:])
		}
	}
	s = strings.TrimPrefix(s, "memberlist: ")
	detail, from := splitFrom(s)
	if r, ok := classify(detail); ok {
		w.m.error(r.reason)
		w.lim.write(r.reason, func(suppressed uint64) {
			w.log.Log(r.level, r.msg, zap.String("reason", r.reason), zap.String("from", from),
				zap.String("detail", detail), zap.Uint64("suppressed", suppressed))
		})
		return len(b), nil
	}
	lvl := zapcore.DebugLevel
	switch level {
	case "ERR", "ERROR", "WARN":
		lvl = zapcore.WarnLevel
	case "INFO":
		lvl = zapcore.InfoLevel
	}
	if lvl < zapcore.WarnLevel {
		w.log.Log(lvl, s, zap.String("component", "memberlist"))
		return len(b), nil
	}
	w.lim.write(kindOf(detail), func(suppressed uint64) {
		w.log.Warn(s, zap.String("component", "memberlist"), zap.Uint64("suppressed", suppressed))
	})
	return len(b), nil
}

// splitFrom cuts memberlist's trailing " from=ADDR".
func splitFrom(s string) (detail, from string) {
	if i := strings.LastIndex(s, " from="); i >= 0 {
		return s[:i], s[i+len(" from="):]
	}
	return s, ""
}

// kindOf names the kind of a memberlist warning for the limiter: its text
// up to the first variable part (a colon, quote, parenthesis or digit),
// at most 48 bytes.
func kindOf(s string) string {
	if i := strings.IndexAny(s, ":'\"(0123456789"); i >= 0 {
		s = s[:i]
	}
	if len(s) > 48 {
		s = s[:48]
	}
	return "memberlist: " + strings.TrimSpace(s)
}
