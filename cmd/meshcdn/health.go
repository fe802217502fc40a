package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"
)

const healthUsage = `usage: meshcdn health [flags]

Asks a node whether it is ready for traffic (GET /readyz on its admin API)
and exits 0 when it is, 1 when it is not (draining, not a member of its
cluster, cut off from its peers) or cannot be reached. Made for container
health checks in images that have no shell or curl:

  HEALTHCHECK CMD ["/usr/local/bin/meshcdn", "health", "--admin", "http://127.0.0.1:9080"]

flags:
`

func runHealth(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("health", flag.ContinueOnError)
	admin := adminFlag(fs)
	timeout := fs.Duration("timeout", 3*time.Second, "longest wait for the answer")
	quiet := fs.Bool("quiet", false, "print nothing; the exit status says it all")
	fs.Usage = func() { fmt.Fprint(fs.Output(), healthUsage); printFlags(fs) }
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("health: unexpected argument %q", rest[0])
	}
	if *timeout <= 0 {
		return usagef("--timeout must be positive")
	}
	base, err := checkAdminURL(*admin)
	if err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodGet, base+"/readyz", nil)
	if err != nil {
		return usagef("--admin: %v", err)
	}
	status, b, err := do(req, *timeout)
	if err != nil {
		// Health checks know 0 and 1 only (Docker reserves 2).
		return &exitErr{code: exitError, err: err}
	}
	var ready struct {
		Ready  bool   `json:"ready"`
		Node   string `json:"node"`
		Reason string `json:"reason"`
	}
	if json.Unmarshal(b, &ready) != nil {
		return fmt.Errorf("%s/readyz: HTTP %d: unexpected answer %q", base, status, clip(b))
	}
	if status == http.StatusOK && ready.Ready {
		if !*quiet {
			fmt.Fprintf(stdout, "ready: %s\n", dash(ready.Node))
		}
		return nil
	}
	if !*quiet {
		fmt.Fprintf(stdout, "not ready: %s: %s\n", dash(ready.Node), dash(ready.Reason))
	}
	return &failure{code: 1}
}
