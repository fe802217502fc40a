package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"
)

const forceLeaveUsage = `usage: meshcdn force-leave [flags] NAME

Marks the failed member NAME as gone for good, on the node given by --admin
and, through the cluster, on every live member (POST
/cluster/members/NAME/force-leave). Until then a member that crashed and
will not come back stays "dead" for a day: nodes keep trying to reach it and
every purge --wait names it unreachable (exit 5). A live member cannot be
forced out: stop it (SIGTERM) and it leaves by itself. If NAME comes back
later, it joins again like a new node.

exit status: 0 done, 1 refused (no such member, or it is alive), 2 bad flags,
3 not authorised (token), 4 the node did not answer.

example:
  meshcdn members                      # NAME shows as dead
  meshcdn force-leave edge-fra-2

flags:
`

func runForceLeave(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("force-leave", flag.ContinueOnError)
	admin := adminFlag(fs)
	token := fs.String("token", "", "purge token (default $MESHCDN_PURGE_TOKEN)")
	fs.Usage = func() { fmt.Fprint(fs.Output(), forceLeaveUsage); printFlags(fs) }
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 || rest[0] == "" {
		return usagef("force-leave: give exactly one member name (see meshcdn members)")
	}
	base, err := checkAdminURL(*admin)
	if err != nil {
		return err
	}
	if *token == "" {
		*token = os.Getenv("MESHCDN_PURGE_TOKEN")
	}
	req, err := http.NewRequest(http.MethodPost, base+"/cluster/members/"+url.PathEscape(rest[0])+"/force-leave", nil)
	if err != nil {
		return usagef("--admin: %v", err)
	}
	if *token != "" {
		req.Header.Set("Authorization", "Bearer "+*token)
	}
	status, b, err := do(req, 10*time.Second)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return refused("force-leave refused by "+base, status, b)
	}
	fmt.Fprintf(stdout, "%s: left (every live member is told; purges no longer wait for it)\n", rest[0])
	return nil
}
