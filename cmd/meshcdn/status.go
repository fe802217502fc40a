package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/meshcdn/meshcdn/api"
)

const statusUsage = `usage: meshcdn status [flags]

The cluster on one screen, as one node gathers it from every member's admin
API (GET /cluster/stats and /cluster/purges): members by region with their
requests/s, hit ratio (stale counts as a hit), origin offload, objects and
bytes over the last minute; the cluster's totals and purges/s; and the
slowest propagation among the recent purges (wall clocks of two nodes).

exit status: 0 every member answered, 1 error, 2 bad flags, 4 the node asked
or a member did not answer (the members that did are still shown).

flags:
`

// statusPurges: how many recent purges status looks at.
const statusPurges = 50

func runStatus(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	admin := adminFlag(fs)
	timeout := fs.Duration("timeout", 10*time.Second, "longest wait for each answer")
	asJSON := fs.Bool("json", false, `print the node's JSON answers as {"stats":…,"purges":…}`)
	fs.Usage = func() { fmt.Fprint(fs.Output(), statusUsage); printFlags(fs) }
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("status: unexpected argument %q", rest[0])
	}
	if *timeout <= 0 {
		return usagef("--timeout must be positive")
	}
	base, err := checkAdminURL(*admin)
	if err != nil {
		return err
	}
	get := func(path string) ([]byte, error) {
		req, err := http.NewRequest(http.MethodGet, base+path, nil)
		if err != nil {
			return nil, usagef("--admin: %v", err)
		}
		status, b, err := do(req, *timeout)
		if err != nil {
			return nil, err
		}
		if status != http.StatusOK {
			return nil, refused(base+path, status, b)
		}
		return b, nil
	}
	sb, err := get("/cluster/stats")
	if err != nil {
		return err
	}
	pb, err := get(fmt.Sprintf("/cluster/purges?limit=%d", statusPurges))
	if err != nil {
		return err
	}
	var cs api.ClusterStats
	var cp api.ClusterPurges
	if json.Unmarshal(sb, &cs) != nil || json.Unmarshal(pb, &cp) != nil {
		return fmt.Errorf("unexpected answer from %s: %q", base, clip(sb))
	}
	if *asJSON {
		fmt.Fprintf(stdout, "{\"stats\":%s,\"purges\":%s}\n", strings.TrimSpace(string(sb)), strings.TrimSpace(string(pb)))
	} else {
		printStatus(stdout, cs, cp)
	}
	var missing []string
	for _, m := range cs.Members {
		if !m.Answered() {
			missing = append(missing, m.Name)
		}
	}
	if len(missing) > 0 {
		return unreachable("%s did not answer %s", strings.Join(missing, ", "), cs.Self)
	}
	return nil
}

// printStatus writes the one screen.
func printStatus(w io.Writer, cs api.ClusterStats, cp api.ClusterPurges) {
	members := append([]api.MemberStats(nil), cs.Members...)
	sort.SliceStable(members, func(i, j int) bool {
		if members[i].Region != members[j].Region {
			return members[i].Region < members[j].Region
		}
		return members[i].Name < members[j].Name
	})
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "NODE\tREGION\tSTATE\tREQ/S\tHIT RATIO\tOFFLOAD\tFILL\tP99 HIT\tOBJECTS\tBYTES\tPURGES APPLIED/S\t")
	var t struct {
		answered          int
		rps, hits, reqsHR float64
		objects, bytes    int64
		purges            float64
	}
	for _, m := range members {
		name := m.Name
		if m.Self {
			name += " *"
		}
		s := m.Stats
		if s == nil {
			fmt.Fprintf(tw, "%s\t%s\t%s\t-\t-\t-\t-\t-\t-\t-\t-\t\n", name, dash(m.Region), "unreachable")
			continue
		}
		r := s.Rates
		t.answered++
		t.rps += r.RequestsPerSec
		if r.HitRatio != nil {
			t.hits += *r.HitRatio * r.RequestsPerSec
			t.reqsHR += r.RequestsPerSec
		}
		t.objects += s.Objects
		t.bytes += s.Bytes
		t.purges += r.PurgesAcceptedPerSec
		p99 := "-"
		if r.P99HitMS != nil {
			p99 = fmtMS(*r.P99HitMS)
		}
		rps, pps := "-", "-" // no rates yet: the node has one reading of its counters
		if r.WindowSeconds > 0 {
			rps, pps = fmt.Sprintf("%.1f", r.RequestsPerSec), fmt.Sprintf("%.2f", r.PurgesAppliedPerSec)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%.1f %%\t%s\t%d\t%s\t%s\t\n", name, dash(m.Region), m.State,
			rps, pctOf(r.HitRatio), pctOf(r.OriginOffload), s.Fill*100, p99, s.Objects, fmtBytes(s.Bytes), pps)
	}
	_ = tw.Flush()
	var hr *float64
	if t.reqsHR > 0 {
		v := t.hits / t.reqsHR
		hr = &v
	}
	fmt.Fprintf(w, "\ncluster: %d member(s), %d answered (* = %s, the node asked) · %.1f req/s · hit ratio %s · %d objects · %s · %.2f purges/s accepted\n",
		len(members), t.answered, cs.Self, t.rps, pctOf(hr), t.objects, fmtBytes(t.bytes), t.purges)
	for _, m := range members {
		if !m.Answered() {
			fmt.Fprintf(w, "unreachable: %s: %s\n", m.Name, m.Error)
		}
	}
	slow, ok := slowest(cp.Purges)
	switch {
	case len(cp.Purges) == 0:
		fmt.Fprintln(w, "purges: none in the members' recent history")
	case !ok:
		fmt.Fprintf(w, "purges: %d recent, none applied by another node yet\n", len(cp.Purges))
	default:
		fmt.Fprintf(w, "slowest recent purge propagation: %s (%s from %s) reached %s at +%s · of the last %d purges\n",
			slow.wf.ID, slow.wf.Kind, slow.wf.Origin, slow.step.Node, fmtMS(slow.step.AfterMS), len(cp.Purges))
	}
	for _, wf := range cp.Purges {
		if wf.NotSeen > 0 || wf.Unreachable > 0 {
			fmt.Fprintf(w, "latest purge not seen everywhere: %s (%d not seen, %d unreachable)\n", wf.ID, wf.NotSeen, wf.Unreachable)
			break
		}
	}
	fmt.Fprintf(w, "(%s)\n", cp.Note)
}

type slowStep struct {
	wf   api.Waterfall
	step api.Step
}

// slowest is the latest apply on another node among the purges.
func slowest(wfs []api.Waterfall) (slowStep, bool) {
	var out slowStep
	found := false
	for _, wf := range wfs {
		for _, s := range wf.Steps {
			if s.Status == "applied" && (!found || s.AfterMS > out.step.AfterMS) {
				out, found = slowStep{wf, s}, true
			}
		}
	}
	return out, found
}

func pctOf(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f %%", *v*100)
}

func fmtMS(ms float64) string {
	switch {
	case ms < 1:
		return fmt.Sprintf("%.0fµs", ms*1000)
	case ms < 1000:
		return fmt.Sprintf("%.2fms", ms)
	}
	return fmt.Sprintf("%.2fs", ms/1000)
}

func fmtBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n), 0
	for v >= unit && i < 4 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %s", v, [...]string{"", "KiB", "MiB", "GiB", "TiB"}[i])
}
