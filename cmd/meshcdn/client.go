package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/meshcdn/meshcdn/api"
)

const purgeUsage = `usage: meshcdn purge [flags] [KEY...]

Purges through a node's admin API (POST /purge): by surrogate key (arguments),
by URL (--url, repeatable), or everything (--all). The node applies the purge
and sends it to every live member; --wait waits until all have acknowledged.

exit status: 0 done (with --wait: every member that has not left the cluster
confirmed it), 1 failed or refused, 2 bad flags, 3 not authorised (token),
4 the node did not answer, 5 (--wait) applied but not confirmed by every
member: the output names the pending and unreachable ones.

examples:
  meshcdn purge --admin http://127.0.0.1:9081 user/42
  meshcdn purge --wait company/7 user/9
  meshcdn purge --url 'http://127.0.0.1:8081/v1/users/42?company=7'
  meshcdn purge --all --soft

flags:
`

func adminFlag(fs *flag.FlagSet) *string {
	def := os.Getenv("MESHCDN_ADMIN")
	if def == "" {
		def = "http://127.0.0.1:9080"
	}
	return fs.String("admin", def, "admin API base `URL` of any node (env MESHCDN_ADMIN)")
}

func checkAdminURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", usagef("--admin: %q is not an http:// or https:// URL", s)
	}
	return strings.TrimRight(s, "/"), nil
}

func runPurge(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("purge", flag.ContinueOnError)
	admin := adminFlag(fs)
	token := fs.String("token", "", "purge token (default $MESHCDN_PURGE_TOKEN)")
	var urls listFlag
	fs.Var(&urls, "url", "purge this `URL` (repeatable)")
	all := fs.Bool("all", false, "purge everything")
	soft := fs.Bool("soft", false, "soft purge: mark stale instead of removing")
	wait := fs.Bool("wait", false, "wait until every member that has not left the cluster has acknowledged (exit 5 if one did not)")
	timeout := fs.Duration("timeout", 0, "with --wait: longest wait (capped by the node's --purge-wait-timeout)")
	asJSON := fs.Bool("json", false, "print the node's JSON answer")
	fs.Usage = func() { fmt.Fprint(fs.Output(), purgeUsage); printFlags(fs) }
	keys, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	base, err := checkAdminURL(*admin)
	if err != nil {
		return err
	}
	if *token == "" {
		*token = os.Getenv("MESHCDN_PURGE_TOKEN")
	}
	if len(keys) == 0 && len(urls) == 0 && !*all {
		return usagef("purge: give surrogate keys, --url or --all (see meshcdn purge --help)")
	}
	if *all && (len(keys) > 0 || len(urls) > 0) {
		return usagef("purge: --all cannot be combined with keys or --url")
	}
	if *timeout < 0 {
		return usagef("--timeout must not be negative")
	}
	body, _ := json.Marshal(api.PurgeRequest{Keys: keys, URLs: urls, All: *all, Soft: *soft})
	q := url.Values{}
	if *wait {
		q.Set("wait", "all")
	}
	if *timeout > 0 {
		q.Set("timeout", timeout.String())
	}
	target := base + "/purge"
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	req, err := http.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return usagef("--admin: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if *token != "" {
		req.Header.Set("Authorization", "Bearer "+*token)
	}
	status, b, err := do(req, 2*time.Minute)
	if err != nil {
		return err
	}
	if status != http.StatusOK && status != http.StatusAccepted {
		return refused("purge refused by "+base, status, b)
	}
	var res api.PurgeResponse
	if err := json.Unmarshal(b, &res); err != nil {
		return fmt.Errorf("unexpected answer from %s: %q", base, clip(b))
	}
	if *asJSON {
		_, _ = stdout.Write(b)
	} else {
		fmt.Fprintf(stdout, "purge %s: %d object(s) on the accepting node", res.ID, res.Purged)
		if len(res.Acked) > 0 {
			fmt.Fprintf(stdout, "; acked by %s", strings.Join(res.Acked, ", "))
		}
		switch {
		case res.Complete:
			fmt.Fprint(stdout, "; complete (every member has it)")
		case *wait && len(res.Pending) > 0:
			fmt.Fprintf(stdout, "; NOT confirmed by %s", strings.Join(res.Pending, ", "))
		case *wait:
		default:
			fmt.Fprint(stdout, "; sent to every live member (use --wait to confirm)")
		}
		if len(res.Unreachable) > 0 {
			fmt.Fprintf(stdout, "; unreachable: %s (failed or partitioned: may still serve what this purges)", strings.Join(res.Unreachable, ", "))
		}
		fmt.Fprintln(stdout)
	}
	if *wait && !res.Complete {
		return &failure{code: exitIncomplete}
	}
	return nil
}

const membersUsage = `usage: meshcdn members [flags]

Lists the cluster's members as one node sees them (GET /cluster/members).

flags:
`

func runMembers(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("members", flag.ContinueOnError)
	admin := adminFlag(fs)
	asJSON := fs.Bool("json", false, "print the node's JSON answer")
	fs.Usage = func() { fmt.Fprint(fs.Output(), membersUsage); printFlags(fs) }
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("members: unexpected argument %q", rest[0])
	}
	base, err := checkAdminURL(*admin)
	if err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodGet, base+"/cluster/members", nil)
	if err != nil {
		return usagef("--admin: %v", err)
	}
	status, b, err := do(req, 10*time.Second)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return refused(base+"/cluster/members", status, b)
	}
	if *asJSON {
		_, _ = stdout.Write(b)
		return nil
	}
	var ms api.Members
	if err := json.Unmarshal(b, &ms); err != nil {
		return fmt.Errorf("unexpected answer from %s: %q", base, clip(b))
	}
	printMembers(stdout, ms, time.Now())
	return nil
}

func printMembers(w io.Writer, ms api.Members, now time.Time) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tREGION\tSTATE\tGOSSIP\tHTTP\tADMIN\tPURGE SEQ\tLAST SEEN")
	for _, m := range ms.Members {
		name := m.Name
		if m.Self {
			name += " *"
		}
		seen := "-"
		if !m.LastSeen.IsZero() {
			seen = now.Sub(m.LastSeen).Round(time.Millisecond).String() + " ago"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n",
			name, dash(m.Region), dash(m.State), dash(m.Addr), dash(m.HTTPAddr), dash(m.AdminAddr), m.Seq, seen)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "%d member(s); * = %s, the node asked\n", len(ms.Members), ms.Self)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// do sends req and reads at most 1 MiB of the answer.
func do(req *http.Request, timeout time.Duration) (int, []byte, error) {
	resp, err := (&http.Client{Timeout: timeout}).Do(req)
	if err != nil {
		return 0, nil, unreachable("cannot reach the admin API: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, nil, fmt.Errorf("reading the answer: %v", err)
	}
	return resp.StatusCode, b, nil
}

// apiError extracts "error" from a JSON error answer.
func apiError(b []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		return e.Error
	}
	return clip(b)
}

func clip(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
