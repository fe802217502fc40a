package cluster

import (
	"crypto/hkdf"
	"crypto/sha256"
)

// Owner returns the member that owns key among the alive members
// (rendezvous hashing, rendezvous.go), optionally only those of region
// ("" = every region); ok is false when no alive member qualifies. This
// node counts as alive.
func (n *Node) Owner(key, region string) (m Member, ok bool) {
	ms := n.Members()
	names := AliveNames(ms, region)
	i := Owner(key, names)
	if i < 0 {
		return Member{}, false
	}
	for _, x := range ms {
		if x.Name == names[i] {
			return x, true
		}
	}
	return Member{}, false
}

// peerSecretLabel separates the peer-fetch secret from every other use of
// the gossip keys.
const peerSecretLabel = "meshcdn peer-fetch v1"

// PeerSecrets returns the secrets that authenticate cluster-internal HTTP
// requests between members (shield peer fetches), derived from the gossip
// keys with HKDF-SHA256 under a fixed label: the first signs, any of them
// verifies (so that a key rotation does not break peer fetches). None
// without gossip keys.
func (n *Node) PeerSecrets() [][]byte {
	return DerivePeerSecrets(n.cfg.Keys)
}

// DerivePeerSecrets is PeerSecrets for a list of gossip keys.
func DerivePeerSecrets(keys [][]byte) [][]byte {
	out := make([][]byte, 0, len(keys))
	for _, k := range keys {
		s, err := hkdf.Key(sha256.New, k, nil, peerSecretLabel, 32)
		if err != nil {
			continue // only for a length beyond 255*32 bytes
		}
		out = append(out, s)
	}
	return out
}
