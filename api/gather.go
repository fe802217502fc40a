package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/meshcdn/meshcdn/cluster"
)

// Gathering: GET /cluster/purges and /cluster/stats ask every member's
// admin listener (the address in its cluster metadata) for its own view,
// gatherParallel at a time, all within GatherTimeout (however many members
// there are). Members that have not answered by then are named, never
// waited for.
const (
	DefaultGatherTimeout = 2 * time.Second
	gatherParallel       = 16
	maxGatherBody        = 1 << 20
)

// Gathered is one member as the gathering node saw it.
type Gathered struct {
	Name   string `json:"name"`
	Region string `json:"region"`
	State  string `json:"state"` // its membership state: alive, suspect, dead
	Self   bool   `json:"self,omitempty"`
	// Error: why its answer is missing (it is then unreachable).
	Error string `json:"error,omitempty"`
}

// Answered reports whether the member answered.
func (g Gathered) Answered() bool { return g.Error == "" }

// gather calls local for this node and GETs path from every other member
// that has not left, decoding the answers into T. The result is in member
// order (by name); values[i] is nil where members[i].Error is set.
func gather[T any](ctx context.Context, h *handler, path string, local func() *T) (members []Gathered, values []*T) {
	c := h.cfg.Cluster
	var all []cluster.Member
	for _, m := range c.Members() {
		if m.State != "left" {
			all = append(all, m)
		}
	}
	members = make([]Gathered, len(all))
	values = make([]*T, len(all))
	ctx, cancel := context.WithTimeout(ctx, h.cfg.GatherTimeout)
	defer cancel()
	sem := make(chan struct{}, gatherParallel)
	var wg sync.WaitGroup
	for i, m := range all {
		members[i] = Gathered{Name: m.Name, Region: m.Region, State: m.State, Self: m.Name == c.Name()}
		switch {
		case members[i].Self:
			values[i] = local()
			continue
		case m.State == "dead":
			members[i].Error = "failed: not reachable over gossip"
			continue
		case m.AdminAddr == "":
			members[i].Error = "no admin address in its metadata"
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
				members[i].Error = fmt.Sprintf("not asked: gathering took longer than %s", h.cfg.GatherTimeout)
				return
			}
			v := new(T)
			if err := h.fetchMember(ctx, m.AdminAddr, path, v); err != nil {
				members[i].Error = err.Error()
				return
			}
			values[i] = v
		}()
	}
	wg.Wait()
	return members, values
}

// fetchMember GETs path from a member's admin address into v (ctx bounds
// it).
func (h *handler) fetchMember(ctx context.Context, addr, path string, v any) error {
	u := "http://" + addr + path
	if strings.Contains(addr, "://") {
		u = strings.TrimSuffix(addr, "/") + path
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("admin address %q: %w", addr, err)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("no answer from %s within %s", addr, h.cfg.GatherTimeout)
		}
		return fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxGatherBody+1))
	if err != nil {
		return fmt.Errorf("GET %s: reading the answer: %w", u, err)
	}
	if len(b) > maxGatherBody {
		return fmt.Errorf("GET %s: answer larger than %d bytes", u, maxGatherBody)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	return nil
}
