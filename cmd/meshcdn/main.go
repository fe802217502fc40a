// Command meshcdn is a self-hosted multi-node CDN: identical edge nodes,
// each a caching reverse proxy, joined into one cluster by gossip, purged by
// surrogate key within milliseconds on every node.
//
//	meshcdn serve --origin URL [flags]   run an edge node
//	meshcdn demo                         a local 3-node cluster with the demo origin
//	meshcdn origin                       the demo origin alone
//	meshcdn purge [flags] KEY...         purge through a node's admin API
//	meshcdn members [flags]              list the cluster's members
//	meshcdn force-leave [flags] NAME     mark a failed member as gone for good
//	meshcdn health [flags]               exit 0 when a node is ready for traffic
//	meshcdn status [flags]               the cluster on one screen
//	meshcdn version
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

const usage = `meshcdn: a self-hosted multi-node CDN

usage: meshcdn <command> [flags]

commands:
  serve     run an edge node (caching reverse proxy + admin API + cluster member)
  demo      run a local 3-node cluster in three regions with the demo origin
  origin    run the demo origin alone
  purge     purge by surrogate key, URL or everything through a node's admin API
  members   list the cluster's members as a node sees them
  force-leave  mark a failed member as gone for good (purges stop waiting for it)
  health    exit 0 when a node is ready for traffic (container health checks)
  status    the cluster on one screen: members, hit ratio, objects, purges, propagation
  version   print the version

"meshcdn <command> --help" lists a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:]))
}

// run executes a command and returns the exit status (exit.go): 0 ok,
// 1 failure, 2 bad flags or configuration, 3 not authorised, 4 a node
// unreachable, 5 a purge not confirmed by every member.
func run(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return exitUsage
	}
	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		err = runServe(rest)
	case "demo":
		err = runDemo(rest)
	case "origin":
		err = runOrigin(rest)
	case "purge":
		err = runPurge(rest, os.Stdout)
	case "members":
		err = runMembers(rest, os.Stdout)
	case "force-leave":
		err = runForceLeave(rest, os.Stdout)
	case "health":
		err = runHealth(rest, os.Stdout)
	case "status":
		err = runStatus(rest, os.Stdout)
	case "version", "--version", "-version":
		fmt.Println(versionString())
	case "help", "-h", "--help", "-help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "meshcdn: unknown command %q\n\n%s", cmd, usage)
		return exitUsage
	}
	return exitCode(err)
}

func exitCode(err error) int {
	var ue *usageError
	var fe *failure
	var ee *exitErr
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(os.Stderr, "meshcdn: %v\n", err)
		return exitUsage
	case errors.As(err, &fe):
		return fe.code // already reported
	case errors.As(err, &ee):
		fmt.Fprintf(os.Stderr, "meshcdn: %v\n", err)
		return ee.code
	default:
		fmt.Fprintf(os.Stderr, "meshcdn: %v\n", err)
		return exitError
	}
}

// failure ends a command with a given exit status after it printed why.
type failure struct{ code int }

func (f *failure) Error() string { return fmt.Sprintf("exit status %d", f.code) }

func versionString() string {
	s := "meshcdn " + version
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, kv := range bi.Settings {
			if kv.Key == "vcs.revision" && len(kv.Value) >= 12 {
				s += " (" + kv.Value[:12] + ")"
			}
		}
	}
	return s + " " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
}
