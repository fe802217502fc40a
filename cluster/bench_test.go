package cluster_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/meshcdn/meshcdn/cluster/clustertest"
	"github.com/meshcdn/meshcdn/store"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// allApplied signals when every node has applied the purge whose first key
// is the current target.
type allApplied struct {
	nodes  int
	target atomic.Pointer[string]
	count  atomic.Int32
	done   chan time.Time
}

func (a *allApplied) observe(_ int, p store.Purge) {
	t := a.target.Load()
	if t == nil || len(p.Keys) == 0 || p.Keys[0] != *t {
		return
	}
	if int(a.count.Add(1)) == a.nodes {
		a.done <- time.Now()
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func percentile(d []time.Duration, q float64) time.Duration {
	return d[min(len(d)-1, int(float64(len(d))*q))]
}

// BenchmarkPropagation: one purge at a time, accepted by a random node;
// latency from the Purge call to the moment the last node applied it.
func BenchmarkPropagation(b *testing.B) {
	for _, n := range []int{3, 10, 30} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			a := &allApplied{nodes: n, done: make(chan time.Time, 1)}
			c := startCluster(b, clustertest.Options{Nodes: n, Observe: a.observe})
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				k := "prop-" + strconv.Itoa(i)
				a.count.Store(0)
				a.target.Store(&k)
				start := time.Now()
				if _, err := c.Node(rand.IntN(n)).Purge(context.Background(), store.Purge{Keys: []string{k}}, false); err != nil {
					b.Fatal(err)
				}
				select {
				case end := <-a.done:
					lat = append(lat, end.Sub(start))
				case <-time.After(10 * time.Second):
					b.Fatalf("purge %d not applied on all %d nodes", i, n)
				}
			}
			b.StopTimer()
			slices.Sort(lat)
			ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
			b.ReportMetric(ms(percentile(lat, 0.50)), "p50-ms")
			b.ReportMetric(ms(percentile(lat, 0.99)), "p99-ms")
			b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
			var retrans uint64
			for i := range n {
				retrans += c.Node(i).Stats().Retransmitted
			}
			b.ReportMetric(float64(retrans)/float64(b.N), "retransmits/op")
		})
	}
}

// BenchmarkThroughput: b.N keys purged through random nodes of a 10-node
// cluster by 8 concurrent callers; the clock stops when every node has
// applied every purge (no loss allowed).
func BenchmarkThroughput(b *testing.B) {
	for _, per := range []int{1, 10} {
		b.Run(fmt.Sprintf("keys-per-purge=%d", per), func(b *testing.B) {
			const n = 10
			var applied atomic.Int64
			var lg *zap.Logger
			var logs *observer.ObservedLogs
			if testing.Verbose() {
				var core zapcore.Core
				core, logs = observer.New(zap.WarnLevel)
				lg = zap.New(core)
			}
			c := startCluster(b, clustertest.Options{Nodes: n, Logger: lg, Observe: func(_ int, p store.Purge) {
				applied.Add(int64(len(p.Keys)))
			}})
			purges := (b.N + per - 1) / per
			want := int64(purges*per) * n
			b.ResetTimer()
			start, cpu0 := time.Now(), cpuTime()
			var wg sync.WaitGroup
			var next atomic.Int64
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := int(next.Add(1)) - 1
						if i >= purges {
							return
						}
						keys := make([]string, per)
						for j := range keys {
							keys[j] = "tp-" + strconv.Itoa(i) + "-" + strconv.Itoa(j)
						}
						if _, err := c.Node(i%n).Purge(context.Background(), store.Purge{Keys: keys}, false); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			accepted := time.Since(start)
			deadline := time.Now().Add(60 * time.Second)
			for applied.Load() < want {
				if time.Now().After(deadline) {
					// Say why: a node that dropped its cache (Gaps) never
					// applies what it skipped.
					for i := range n {
						b.Logf("%s: %+v", clustertest.NodeName(i), c.Node(i).Stats())
					}
					b.Fatalf("lost purges: %d of %d key applications (accepted at %.0f purges/s)", applied.Load(), want,
						float64(purges)/accepted.Seconds())
				}
				time.Sleep(100 * time.Microsecond)
			}
			elapsed, cpu := time.Since(start), cpuTime()-cpu0
			b.StopTimer()
			b.ReportMetric(float64(purges*per)/elapsed.Seconds(), "keys/s")
			// CPU spent by the whole 10-node cluster per purged key, less
			// sensitive than keys/s to other load on a shared machine.
			b.ReportMetric(float64(cpu.Microseconds())/float64(purges*per), "cpu-µs/key")
			b.ReportMetric(float64(purges)/elapsed.Seconds(), "purges/s")
			b.ReportMetric(float64(elapsed-accepted)/1e6, "drain-ms")
			var retrans, gaps uint64
			for i := range n {
				st := c.Node(i).Stats()
				retrans, gaps = retrans+st.Retransmitted, gaps+st.Gaps
			}
			b.ReportMetric(float64(retrans), "retransmits")
			b.ReportMetric(float64(gaps), "gaps")
			if testing.Verbose() {
				counts := map[string]int{}
				for _, e := range logs.All() {
					m := e.Message
					if len(m) > 40 {
						m = m[:40]
					}
					counts[m]++
				}
				b.Logf("warnings: %v", counts)
				for i := range n {
					b.Logf("%s: %+v", clustertest.NodeName(i), c.Node(i).Stats())
				}
			}
		})
	}
}

// BenchmarkPartitionHeal: a 6-node cluster split 3/3 until each side has
// declared the other dead; 30 purges are accepted on both sides; the time
// from the heal until every node applied every purge is reported.
// (Run with -benchtime=3x: each round waits for failure detection.)
func BenchmarkPartitionHeal(b *testing.B) {
	for _, long := range []bool{false, true} {
		name := "short" // healed before failure detection declares anyone dead
		if long {
			name = "after-failure-detection"
		}
		b.Run(name, func(b *testing.B) {
			f := clustertest.NewFaults()
			tr := newTracker()
			c := startCluster(b, clustertest.Options{Nodes: 6, Faults: f, Observe: tr.observe})
			names := c.Names()
			var heal []time.Duration
			for round := 0; round < b.N; round++ {
				f.Partition(names[:3], names[3:])
				if long {
					if err := c.WaitState(ctxFor(b, within), 0, 3, "dead"); err != nil {
						b.Fatal(err)
					}
					if err := c.WaitState(ctxFor(b, within), 3, 0, "dead"); err != nil {
						b.Fatal(err)
					}
				}
				var keys []string
				for i := range 30 {
					k := fmt.Sprintf("heal-%d-%d", round, i)
					keys = append(keys, k)
					if _, err := c.Node(i%6).Purge(context.Background(), store.Purge{Keys: []string{k}}, false); err != nil {
						b.Fatal(err)
					}
				}
				if !long {
					time.Sleep(300 * time.Millisecond)
				}
				f.Heal()
				heal = append(heal, tr.waitAll(b, seq(6), keys, within))
				if err := c.WaitConverged(ctxFor(b, within)); err != nil {
					b.Fatal(err)
				}
			}
			slices.Sort(heal)
			b.ReportMetric(float64(heal[len(heal)/2])/1e6, "p50-heal-ms")
			b.ReportMetric(float64(heal[len(heal)-1])/1e6, "max-heal-ms")
		})
	}
}
