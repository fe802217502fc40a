package cluster

import (
	"fmt"
	"math/rand"
	"testing"
)

func names(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("edge-%d", i)
	}
	return out
}

// Every member owns about 1/N of the keys.
func TestOwnerSpreadsKeys(t *testing.T) {
	ns := names(10)
	count := make([]int, len(ns))
	const keys = 100000
	for i := 0; i < keys; i++ {
		count[Owner(fmt.Sprintf("https://example.com/obj/%d", i), ns)]++
	}
	for i, c := range count {
		if c < keys/10*8/10 || c > keys/10*12/10 {
			t.Errorf("%s owns %d of %d keys, want about %d", ns[i], c, keys, keys/10)
		}
	}
}

// Removing a member moves only the keys it owned; adding one moves only the
// keys it now owns.
func TestOwnerMovesOnlyTheLeaversKeys(t *testing.T) {
	ns := names(8)
	without := append(append([]string{}, ns[:3]...), ns[4:]...)
	moved := 0
	for i := 0; i < 20000; i++ {
		k := fmt.Sprintf("k%d", i)
		before := ns[Owner(k, ns)]
		after := without[Owner(k, without)]
		if before != ns[3] && before != after {
			t.Fatalf("key %s moved from %s to %s though %s left", k, before, after, ns[3])
		}
		if before == ns[3] {
			moved++
		}
	}
	if moved == 0 {
		t.Fatal("the member that left owned no key")
	}
}

// The owner does not depend on the order members are listed in, and
// Ranked starts with it.
func TestOwnerIndependentOfOrder(t *testing.T) {
	ns := names(12)
	r := rand.New(rand.NewSource(1))
	for i := 0; i < 2000; i++ {
		k := fmt.Sprintf("k%d", i)
		want := ns[Owner(k, ns)]
		sh := append([]string{}, ns...)
		r.Shuffle(len(sh), func(a, b int) { sh[a], sh[b] = sh[b], sh[a] })
		if got := sh[Owner(k, sh)]; got != want {
			t.Fatalf("key %s: owner %s in one order, %s in another", k, want, got)
		}
		rk := Ranked(k, sh, 3)
		if len(rk) != 3 || sh[rk[0]] != want || rk[0] == rk[1] || rk[1] == rk[2] || rk[0] == rk[2] {
			t.Fatalf("Ranked(%s) = %v, want 3 distinct starting with the owner", k, rk)
		}
	}
	if Owner("k", nil) != -1 || len(Ranked("k", nil, 3)) != 0 {
		t.Fatal("empty member list must have no owner")
	}
}

func TestAliveNames(t *testing.T) {
	ms := []Member{{Name: "a", Region: "eu", State: "alive"}, {Name: "b", Region: "us", State: "alive"}, {Name: "c", Region: "eu", State: "dead"}}
	if got := AliveNames(ms, ""); len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Fatalf("AliveNames all = %v", got)
	}
	if got := AliveNames(ms, "eu"); len(got) != 1 || got[0] != "a" {
		t.Fatalf("AliveNames eu = %v", got)
	}
}
