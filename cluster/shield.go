package cluster

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"time"
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

// ShieldView is a node as the edge's shielding sees it (edge.Shield): the
// owner of a key with the address of its peer-fetch endpoint (its admin
// address), this node's purge progress, and the peer-fetch secrets.
type ShieldView struct {
	n       *Node
	secrets [][]byte
}

// ShieldView returns the node's ShieldView. secret, if set, is the
// peer-fetch secret (it signs and verifies, before those derived from the
// gossip keys); without it and without gossip keys there is no secret and
// peer fetches are refused.
func (n *Node) ShieldView(secret []byte) *ShieldView {
	v := &ShieldView{n: n}
	if len(secret) > 0 {
		v.secrets = append(v.secrets, secret)
	}
	v.secrets = append(v.secrets, n.PeerSecrets()...)
	return v
}

// Owner: see edge.Shield.
func (v *ShieldView) Owner(key, region string) (name, addr string, self, ok bool) {
	m, ok := v.n.Owner(key, region)
	if !ok {
		return "", "", false, false
	}
	return m.Name, m.AdminAddr, m.Name == v.n.name, true
}

// Region is the node's region.
func (v *ShieldView) Region() string { return v.n.cfg.Region }

// Applied is the node's Applied vector, encoded.
func (v *ShieldView) Applied() string { return v.n.Applied().String() }

// WaitApplied decodes s and waits until the node covers it.
func (v *ShieldView) WaitApplied(ctx context.Context, s string, timeout time.Duration) (bool, error) {
	a, err := ParseApplied(s)
	if err != nil {
		return false, err
	}
	return v.n.WaitApplied(ctx, a, timeout), nil
}

// Secrets: the first signs, any verifies.
func (v *ShieldView) Secrets() [][]byte { return v.secrets }
