package api

import (
	"strings"
	"testing"

	"github.com/meshcdn/meshcdn/cluster"
	"github.com/meshcdn/meshcdn/edge/purgegate"
)

// The purge gate's limits are what the cluster carries: a purge both
// listeners accept is never refused by the cluster as invalid.
func TestGateLimitsAreTheCluster(t *testing.T) {
	if purgegate.MaxKeyBytes != cluster.MaxKeyLen || purgegate.MaxURLBytes != cluster.MaxURLLen {
		t.Fatalf("purgegate limits key %d, URL %d; cluster carries key %d, URL %d",
			purgegate.MaxKeyBytes, purgegate.MaxURLBytes, cluster.MaxKeyLen, cluster.MaxURLLen)
	}
}

// The URL limit is the edge's: the cache key (host + path + query) of at
// most purgegate.MaxURLBytes, whatever the scheme's length.
func TestURLKeyLimitIsTheGate(t *testing.T) {
	for _, scheme := range []string{"http://", "https://"} {
		host := "example.com/"
		at := scheme + host + strings.Repeat("p", purgegate.MaxURLBytes-len(host))
		if k, err := URLKey(at); err != nil || len(k) != purgegate.MaxURLBytes {
			t.Errorf("%s key of %d bytes: %v", scheme, len(k), err)
		}
		if _, err := URLKey(at + "p"); err == nil {
			t.Errorf("%s key of %d bytes accepted", scheme, purgegate.MaxURLBytes+1)
		}
	}
}
