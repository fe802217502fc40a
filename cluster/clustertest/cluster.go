package clustertest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/meshcdn/meshcdn/cluster"
	"github.com/meshcdn/meshcdn/store"
)

// Options describe an in-process cluster. Zero values are fine.
type Options struct {
	Nodes      int      // number of nodes (default 3)
	Faults     *Faults  // nil: plain NetTransports, no fault injection
	Keys       [][]byte // gossip keys for every node
	Timing     cluster.Timing
	RetainLog  int
	Region     func(i int) string // default: "region-<i mod 3>"
	Store      store.Config       // per-node store configuration
	Logger     *zap.Logger
	Registerer func(i int) prometheus.Registerer // optional, per node
	// Observe, if set, is called after every purge a node applies to its
	// store (from any goroutine).
	Observe func(node int, p store.Purge)
	// Configure, if set, may adjust each node's configuration last.
	Configure func(i int, cfg *cluster.Config)
}

// Instance is one node of a Cluster.
type Instance struct {
	Index int
	Name  string
	Port  int
	Node  *cluster.Node // nil while killed
	Store *store.Store  // a fresh store on every (re)start
	Trans *Transport    // nil without Faults
	Keys  [][]byte      // keys of the current run
}

// Cluster is a set of in-process nodes on 127.0.0.1.
type Cluster struct {
	opts   Options
	Faults *Faults

	mu    sync.Mutex
	insts []*Instance
}

type observed struct {
	st *store.Store
	i  int
	f  func(int, store.Purge)
}

func (o observed) Purge(p store.Purge) int {
	n := o.st.Purge(p)
	o.f(o.i, p)
	return n
}

// NodeName is the name of node i.
func NodeName(i int) string { return fmt.Sprintf("node-%02d", i) }

// Start starts opts.Nodes nodes (node i joins nodes 0…min(i,3)-1) and waits
// until every node sees every other alive, or ctx is done.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Nodes <= 0 {
		opts.Nodes = 3
	}
	c := &Cluster{opts: opts, Faults: opts.Faults}
	for i := 0; i < opts.Nodes; i++ {
		inst := &Instance{Index: i, Name: NodeName(i), Keys: opts.Keys}
		c.insts = append(c.insts, inst)
		if err := c.start(inst, 0); err != nil {
			c.Close()
			return nil, err
		}
	}
	if err := c.WaitConverged(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// joinAddrs: the first three other running nodes.
func (c *Cluster) joinAddrs(self int) []string {
	var out []string
	for _, o := range c.insts {
		if o.Index != self && o.Node != nil && len(out) < 3 {
			out = append(out, o.Node.Addr())
		}
	}
	return out
}

func (c *Cluster) start(inst *Instance, port int) error {
	i := inst.Index
	region := fmt.Sprintf("region-%d", i%3)
	if c.opts.Region != nil {
		region = c.opts.Region(i)
	}
	inst.Store = store.New(c.opts.Store)
	var app cluster.Applier = inst.Store
	if c.opts.Observe != nil {
		app = observed{st: inst.Store, i: i, f: c.opts.Observe}
	}
	cfg := cluster.Config{
		NodeName: inst.Name, BindAddr: "127.0.0.1", BindPort: port,
		Join: c.joinAddrs(i), Region: region, Keys: inst.Keys,
		HTTPAddr: "127.0.0.1:" + strconv.Itoa(8000+i), AdminAddr: "127.0.0.1:" + strconv.Itoa(9000+i),
		Logger: c.opts.Logger, RetainLog: c.opts.RetainLog, Timing: c.opts.Timing,
	}
	if c.opts.Registerer != nil {
		cfg.Registerer = c.opts.Registerer(i)
	}
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		if c.Faults != nil {
			var tr *Transport
			tr, err = c.Faults.Transport(inst.Name, "127.0.0.1", port)
			if err != nil {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			inst.Trans = tr
			cfg.Transport = tr
			cfg.BindPort = tr.Port()
		}
		if c.opts.Configure != nil {
			c.opts.Configure(i, &cfg)
		}
		var n *cluster.Node
		n, err = cluster.Start(cfg, app)
		if err != nil {
			if cfg.Transport != nil {
				_ = cfg.Transport.Shutdown()
			}
			time.Sleep(50 * time.Millisecond) // the port may still be held by the previous run
			continue
		}
		inst.Node = n
		_, ps, _ := net.SplitHostPort(n.Addr())
		inst.Port, _ = strconv.Atoi(ps)
		return nil
	}
	return fmt.Errorf("clustertest: start %s: %w", inst.Name, err)
}

// Len is the number of nodes (running or killed).
func (c *Cluster) Len() int { return len(c.insts) }

// Instance returns node i.
func (c *Cluster) Instance(i int) *Instance {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.insts[i]
}

// Node returns node i (nil while killed).
func (c *Cluster) Node(i int) *cluster.Node { return c.Instance(i).Node }

// Store returns node i's store.
func (c *Cluster) Store(i int) *store.Store { return c.Instance(i).Store }

// Names returns every node's name.
func (c *Cluster) Names() []string {
	out := make([]string, len(c.insts))
	for i, in := range c.insts {
		out[i] = in.Name
	}
	return out
}

// Running returns the indexes of the running nodes.
func (c *Cluster) Running() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []int
	for _, in := range c.insts {
		if in.Node != nil {
			out = append(out, in.Index)
		}
	}
	return out
}

// Kill stops node i abruptly (no leave): the others must detect it.
func (c *Cluster) Kill(i int) error {
	c.mu.Lock()
	inst := c.insts[i]
	n := inst.Node
	inst.Node = nil
	c.mu.Unlock()
	if n == nil {
		return nil
	}
	return n.Shutdown()
}

// Leave makes node i leave gracefully and stops it.
func (c *Cluster) Leave(i int, timeout time.Duration) error {
	c.mu.Lock()
	inst := c.insts[i]
	n := inst.Node
	inst.Node = nil
	c.mu.Unlock()
	if n == nil {
		return nil
	}
	err := n.Leave(timeout)
	return errors.Join(err, n.Shutdown())
}

// Restart starts a killed (or left) node i again on the same port with a
// new, empty store; with keys non-nil it uses those gossip keys from now on.
func (c *Cluster) Restart(i int, keys [][]byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	inst := c.insts[i]
	if inst.Node != nil {
		return fmt.Errorf("clustertest: %s is running", inst.Name)
	}
	if keys != nil {
		inst.Keys = keys
	}
	return c.start(inst, inst.Port)
}

// WaitConverged waits until every running node sees exactly the running
// nodes as alive (or suspect). A check reads every node's member list (N²
// entries); it runs every 20 ms up to 30 nodes, less often beyond (every
// 2 s at 300), so that it does not take the CPU the nodes converge with.
func (c *Cluster) WaitConverged(ctx context.Context) error {
	for {
		running := c.Running()
		every := min(20*time.Millisecond*time.Duration(max(1, len(running)*len(running)/900)), 2*time.Second)
		ok := true
		for _, i := range running {
			alive := 0
			for _, m := range c.Node(i).Members() {
				if m.State == "alive" || m.State == "suspect" {
					alive++
				}
			}
			if alive != len(running) {
				ok = false
				break
			}
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("clustertest: membership did not converge: %w", ctx.Err())
		case <-time.After(every):
		}
	}
}

// WaitState waits until node `viewer` reports node `subject` in state.
func (c *Cluster) WaitState(ctx context.Context, viewer, subject int, state string) error {
	name := c.insts[subject].Name
	for {
		for _, m := range c.Node(viewer).Members() {
			if m.Name == name && m.State == state {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("clustertest: %s never saw %s %s: %w", NodeName(viewer), name, state, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Close stops every node (no leave).
func (c *Cluster) Close() {
	var wg sync.WaitGroup
	for i := range c.insts {
		wg.Add(1)
		go func() { defer wg.Done(); _ = c.Kill(i) }()
	}
	wg.Wait()
}
