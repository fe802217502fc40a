package cluster

import (
	"strings"

	"go.uber.org/zap"
)

// mlLog turns memberlist's log lines ("[LEVEL] memberlist: ...") into zap
// entries and counts the ones that mean a peer's gossip key differs.
type mlLog struct {
	log *zap.Logger
	m   *metrics
}

func isKeyError(s string) bool {
	s = strings.ToLower(s)
	for _, p := range []string{
		"no installed keys could decrypt",
		"decrypt packet failed",
		"encryption is configured but remote state is not encrypted",
		"remote state is encrypted and encryption is not configured",
	} {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
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
	if isKeyError(s) {
		w.m.error("decrypt")
		w.log.Error("gossip from a peer could not be decrypted: gossip key mismatch (check --gossip-key on both nodes; during a key rotation every node must hold both keys)", zap.String("detail", s))
		return len(b), nil
	}
	switch level {
	case "ERR", "ERROR", "WARN":
		w.log.Warn(s, zap.String("component", "memberlist"))
	case "INFO":
		w.log.Info(s, zap.String("component", "memberlist"))
	default:
		w.log.Debug(s, zap.String("component", "memberlist"))
	}
	return len(b), nil
}
