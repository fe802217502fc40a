package api

import (
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
