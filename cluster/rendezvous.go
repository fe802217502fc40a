package cluster

import (
	"github.com/cespare/xxhash/v2"
)

// Rendezvous (highest-random-weight) hashing: every node computes the same
// owner for a key from the same member list, and a member that comes or goes
// moves only the keys it owns (about 1/N of them), nothing else. It is the one
// place the cluster chooses "which node is responsible for X": the shield
// owner of a cache key, the node that orders a certificate for a name.

// Weight is the rendezvous weight of member name for key. Pure and stable
// across processes and versions: changing it re-shuffles every owner in a
// running cluster during a rolling upgrade.
func Weight(key, name string) uint64 {
	var d xxhash.Digest
	d.Reset()
	_, _ = d.WriteString(key)
	_, _ = d.Write([]byte{0})
	_, _ = d.WriteString(name)
	return mix64(d.Sum64())
}

// mix64 is a finaliser (splitmix64) so that names differing in one byte do not
// produce correlated weights.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// Owner returns the index in names of the member that owns key, or -1 when
// names is empty. Ties (equal weights) go to the smaller name, so the answer
// never depends on the order of names.
func Owner(key string, names []string) int {
	best, bestW := -1, uint64(0)
	for i, n := range names {
		w := Weight(key, n)
		if best < 0 || w > bestW || (w == bestW && n < names[best]) {
			best, bestW = i, w
		}
	}
	return best
}

// Ranked returns up to k indices of names in rendezvous order for key: the
// owner first, then who takes over if it goes, and so on.
func Ranked(key string, names []string, k int) []int {
	if k > len(names) {
		k = len(names)
	}
	out := make([]int, 0, k)
	taken := make([]bool, len(names))
	for len(out) < k {
		best, bestW := -1, uint64(0)
		for i, n := range names {
			if taken[i] {
				continue
			}
			w := Weight(key, n)
			if best < 0 || w > bestW || (w == bestW && n < names[best]) {
				best, bestW = i, w
			}
		}
		taken[best] = true
		out = append(out, best)
	}
	return out
}

// AliveNames returns the names of the members in state "alive", optionally
// only those of one region ("" = every region). The input is what Members
// returns; the result is what Owner and Ranked take.
func AliveNames(ms []Member, region string) []string {
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		if m.State == "alive" && (region == "" || m.Region == region) {
			out = append(out, m.Name)
		}
	}
	return out
}
