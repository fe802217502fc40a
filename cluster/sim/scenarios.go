package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/meshcdn/meshcdn/cluster/clustertest"
	"github.com/meshcdn/meshcdn/store"
)

// partitionRegion is the region cut off by the partition scenario
// (sa-east-1: the farthest from everyone).
const partitionRegion = 5

// partition cuts partitionRegion off for d, sending a purge every d/10
// from the other regions meanwhile, heals it, and reports how long after
// healing every node of the region had applied every one of them, and
// whether a purge waiting for every acknowledgement completes afterwards.
func partition(ctx context.Context, c *clustertest.Cluster, sim *clustertest.SimNodes, tr *tracker, n int, d time.Duration) (string, error) {
	sim.Net.Cut(partitionRegion, true)
	cut := time.Now()
	var chs []<-chan struct{}
	var keys []string
	origins := 0
	for k := 0; time.Since(cut) < d; k++ {
		origin := (k * 7) % n
		if sim.RegionOf(origin) == partitionRegion {
			origin = (origin + 1) % n
		}
		key := fmt.Sprintf("cut-%d-%d", n, k)
		chs, keys = append(chs, tr.expect(key)), append(keys, key)
		res, err := c.Node(origin).Purge(ctx, store.Purge{Keys: []string{key}}, false)
		if err != nil {
			return "", err
		}
		origins++
		_ = res
		time.Sleep(d / 10)
	}
	dead := deadViews(c, sim, partitionRegion)
	sim.Net.Cut(partitionRegion, false)
	heal := time.Now()
	for i, ch := range chs {
		select {
		case <-ch:
		case <-time.After(120 * time.Second):
			return "", fmt.Errorf("purge %s sent during the partition not applied everywhere 120 s after healing (%d of %d nodes)", keys[i], len(tr.times(keys[i])), n)
		}
	}
	catchUp := time.Duration(0)
	for _, k := range keys {
		for _, t := range tr.times(k) {
			catchUp = max(catchUp, t.Sub(heal))
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	start := time.Now()
	res, err := c.Node(0).Purge(wctx, store.Purge{Keys: []string{fmt.Sprintf("after-cut-%d", n)}}, true)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d purges during a %v cut of %s (%d views of its nodes dead at healing); all applied %s s after healing; next wait=all purge complete %v after %s s (%d pending, %d unreachable)",
		len(keys), d, regionNames[partitionRegion], dead, secs(catchUp), res.Complete, secs(time.Since(start)), len(res.Pending), len(res.Unreachable)), nil
}

// deadViews counts (viewer, member of region r) pairs in state dead.
func deadViews(c *clustertest.Cluster, sim *clustertest.SimNodes, r int) int {
	names := map[string]bool{}
	for i := range c.Len() {
		if sim.RegionOf(i) == r {
			names[clustertest.NodeName(i)] = true
		}
	}
	dead := 0
	for _, i := range c.Running() {
		for _, m := range c.Node(i).Members() {
			if names[m.Name] && m.State == "dead" {
				dead++
			}
		}
	}
	return dead
}

// churn restarts a twentieth of the nodes (kill, start again with an
// empty store: a new boot) and makes another twentieth leave and join
// again (10 % in all, never the first six, which the others join
// through), all at once, then reports how long until every running node
// saw every other alive, and that a wait=all purge completes after it.
func churn(ctx context.Context, c *clustertest.Cluster, n int, frac float64) (string, error) {
	k := max(2, int(float64(n)*frac+0.5))
	picked := rand.Perm(n - 6)[:k]
	start := time.Now()
	errs := make(chan error, k)
	for j, p := range picked {
		i := p + 6
		go func() {
			if j%2 == 0 {
				if err := c.Kill(i); err != nil {
					errs <- err
					return
				}
			} else if err := c.Leave(i, 5*time.Second); err != nil {
				errs <- fmt.Errorf("leave %d: %w", i, err)
				return
			}
			errs <- c.Restart(i, nil)
		}()
	}
	for range k {
		if err := <-errs; err != nil {
			return "", err
		}
	}
	restarted := time.Since(start)
	for {
		if converged(c) {
			break
		}
		if time.Since(start) > 120*time.Second || ctx.Err() != nil {
			return "", fmt.Errorf("churn: membership not converged after %v", time.Since(start))
		}
		time.Sleep(time.Duration(n) * time.Millisecond) // a check reads n² member entries
	}
	conv := time.Since(start)
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	res, err := c.Node(0).Purge(wctx, store.Purge{Keys: []string{fmt.Sprintf("after-churn-%d", n)}}, true)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d nodes restarted (%d killed, %d left) within %s s; every node sees every other alive %s s after the churn began; next wait=all purge complete %v (%d pending, %d unreachable)",
		k, (k+1)/2, k/2, secs(restarted), secs(conv), res.Complete, len(res.Pending), len(res.Unreachable)), nil
}

// converged: every running node sees exactly the running nodes alive.
func converged(c *clustertest.Cluster) bool {
	running := c.Running()
	for _, i := range running {
		nd := c.Node(i)
		if nd == nil {
			return false
		}
		alive := 0
		for _, m := range nd.Members() {
			if m.State == "alive" || m.State == "suspect" {
				alive++
			}
		}
		if alive != len(running) {
			return false
		}
	}
	return true
}

// falseDead samples, every interval until stop, how many (viewer, member)
// pairs of running nodes are in state dead; it reports the most seen at
// once and the number of samples with any.
func falseDead(c *clustertest.Cluster, every time.Duration, stop <-chan struct{}) <-chan [2]int {
	out := make(chan [2]int, 1)
	go func() {
		most, samples := 0, 0
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-stop:
				out <- [2]int{most, samples}
				return
			case <-t.C:
			}
			running := map[string]bool{}
			for _, i := range c.Running() {
				running[clustertest.NodeName(i)] = true
			}
			dead := 0
			for _, i := range c.Running() {
				nd := c.Node(i)
				if nd == nil {
					continue
				}
				for _, m := range nd.Members() {
					if running[m.Name] && m.State == "dead" {
						dead++
					}
				}
			}
			most = max(most, dead)
			if dead > 0 {
				samples++
			}
		}
	}()
	return out
}

func secs(d time.Duration) string { return fmt.Sprintf("%.1f", d.Seconds()) }
