package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/meshcdn/meshcdn/cmd/meshcdn/demoorigin"
)

const demoUsage = `usage: meshcdn demo [flags]

Runs a local cluster of three nodes in three regions and the demo origin, in
this process, and prints commands to try:

  origin  :8070
  node-1  eu-west       edge :8081  https :8441  admin :9081  gossip :7947
  node-2  us-east       edge :8082  https :8442  admin :9082  gossip :7948
  node-3  ap-southeast  edge :8083  https :8443  admin :9083  gossip :7949

HTTPS uses a self-signed certificate made at start (printed with its
fingerprint; its file is removed when the demo stops).

flags:
`

// demoNode is one node of the demo cluster.
type demoNode struct {
	name, region            string
	edge, https, admin, gsp int // ports
}

var demoNodes = []demoNode{
	{"node-1", "eu-west", 8081, 8441, 9081, 7947},
	{"node-2", "us-east", 8082, 8442, 9082, 7948},
	{"node-3", "ap-southeast", 8083, 8443, 9083, 7949},
}

const demoOriginPort = 8070

func runDemo(args []string) error {
	// First of all: a SIGHUP (GeoIP reload) before the watchers subscribe
	// must not end the process.
	defer holdSIGHUP()()
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	host := fs.String("host", "127.0.0.1", "IP `address` every listener binds to")
	token := fs.String("purge-token", "", "purge token for the nodes and the origin (default none: admin APIs are on loopback)")
	cacheSize := int64(64 << 20)
	fs.Var(sizeFlag{&cacheSize}, "cache-size", "cache size of each node")
	logLevel := fs.String("log-level", "info", "log level: `debug|info|warn|error`")
	fs.Usage = func() { fmt.Fprint(fs.Output(), demoUsage); printFlags(fs) }
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("demo: unexpected argument %q", rest[0])
	}
	ip, err := netip.ParseAddr(*host)
	if err != nil {
		return usagef("--host: %q is not an IP address", *host)
	}
	if err := checkToken("--purge-token", *token); err != nil {
		return err
	}
	if cacheSize < 1<<20 {
		return usagef("--cache-size must be at least 1MiB")
	}
	log, err := newLogger("console", *logLevel)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	cert, err := makeDemoCert(ip)
	if err != nil {
		return err
	}
	defer cert.remove()
	nodes, origin, err := startDemo(log, ip, *token, cacheSize, cert.pair)
	if err != nil {
		return err
	}
	// One node after the other: each leave is then acknowledged by the
	// nodes still running.
	stopAll := func() {
		for _, n := range nodes {
			n.stop()
		}
		shutdown(origin)
	}
	if !waitConverged(nodes, 10*time.Second) {
		log.Warn("the demo cluster has not converged yet; members will appear as gossip proceeds")
	}
	printDemo(os.Stdout, ip, *token, cert)

	errs := make(chan error, len(nodes))
	for _, n := range nodes {
		go func() { errs <- <-n.served }()
	}
	select {
	case <-ctx.Done():
		stop()
		log.Info("stopping the demo")
		stopAll()
		return nil
	case err := <-errs:
		stopAll()
		return err
	}
}

func hostPort(ip netip.Addr, port int) string {
	return net.JoinHostPort(ip.String(), strconv.Itoa(port))
}

// startDemo starts the demo origin and the three nodes.
func startDemo(log *zap.Logger, ip netip.Addr, token string, cacheSize int64, cert certPair) ([]*node, *http.Server, error) {
	var admins []string
	for _, d := range demoNodes {
		admins = append(admins, "http://"+hostPort(ip, d.admin))
	}
	originSrv, originAddr, err := startOrigin(hostPort(ip, demoOriginPort), demoorigin.Config{
		PurgeURLs: admins, Token: token, Logger: log.Named("origin"),
	})
	if err != nil {
		return nil, nil, err
	}
	originURL := &url.URL{Scheme: "http", Host: originAddr}
	everywhere := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	if !ip.IsLoopback() {
		everywhere = append(everywhere, netip.PrefixFrom(ip, ip.BitLen()))
	}
	var nodes []*node
	for i, d := range demoNodes {
		var join []string
		for j, o := range demoNodes {
			if j != i {
				join = append(join, hostPort(ip, o.gsp))
			}
		}
		n, err := startNode(nodeConfig{
			Name: d.name, Region: d.region,
			Listen: hostPort(ip, d.edge), Admin: hostPort(ip, d.admin),
			HTTPSListen: hostPort(ip, d.https), TLSCerts: []certPair{cert},
			Origin: originURL, CacheSize: cacheSize, MaxObjectSize: cacheSize / 8,
			OriginTimeout: 10 * time.Second, PurgeWait: 5 * time.Second,
			PurgeToken: token, PurgeAllow: everywhere,
			// Local clients may claim any address with X-Forwarded-For, so
			// the geo variants can be tried from one machine.
			TrustedProxies: everywhere,
			GossipHost:     ip.String(), GossipPort: d.gsp, Join: join,
			ShutdownTimeout: 5 * time.Second,
		}, log.Named(d.name))
		if err != nil {
			for _, n := range nodes {
				n.stop()
			}
			shutdown(originSrv)
			return nil, nil, fmt.Errorf("%s: %w", d.name, err)
		}
		nodes = append(nodes, n)
	}
	return nodes, originSrv, nil
}

// waitConverged waits until every node sees every node alive.
func waitConverged(nodes []*node, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		ok := true
		for _, n := range nodes {
			alive := 0
			for _, m := range n.cluster.Members() {
				if strings.EqualFold(m.State, "alive") {
					alive++
				}
			}
			ok = ok && alive == len(nodes)
		}
		if ok {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

func printDemo(w io.Writer, ip netip.Addr, token string, cert *demoCert) {
	h := ip.String()
	if ip.Is6() {
		h = "[" + h + "]"
	}
	auth := ""
	if token != "" {
		auth = " -H 'Authorization: Bearer " + token + "'"
	}
	e1, e2, e3 := "http://"+h+":8081", "http://"+h+":8082", "http://"+h+":8083"
	a2 := "http://" + h + ":9082"
	origin := "http://" + h + ":" + strconv.Itoa(demoOriginPort)
	user := "/v1/users/42?company=7"
	fmt.Fprintf(w, `
meshcdn demo: three nodes in three regions in front of the demo origin.

  node-1  eu-west       edge %[1]s  https://%[6]s:8441  admin http://%[6]s:9081
  node-2  us-east       edge %[2]s  https://%[6]s:8442  admin http://%[6]s:9082
  node-3  ap-southeast  edge %[3]s  https://%[6]s:8443  admin http://%[6]s:9083
  origin                %[4]s

Try, in another terminal (X-Cache tells MISS or HIT; "version" the data):

  # 1. MISS: the first request goes to the origin
  curl -si '%[1]s%[5]s' | grep -E '^(X-Cache|Age):|"version"'
  # 2. HIT: the same request again, from node-1's cache
  curl -si '%[1]s%[5]s' | grep -E '^(X-Cache|Age):|"version"'
  # 3. an event changes user 42; the origin purges user/42 through node-1's
  #    admin API and waits until all three nodes have acknowledged
  curl -s -X POST %[4]s/v1/users/42/events
  # 4. MISS with the new version
  curl -si '%[1]s%[5]s' | grep -E '^(X-Cache|Age):|"version"'

  # A purge sent to ONE node (node-2) takes effect on all three:
  for p in 8081 8082 8083; do curl -s -o /dev/null 'http://%[6]s:'$p'%[5]s'; done   # cache it everywhere
  curl -s -X POST%[8]s '%[7]s/purge?wait=all' -d '{"keys":["company/7"]}'
  for p in 8081 8082 8083; do curl -si 'http://%[6]s:'$p'%[5]s' | grep '^X-Cache'; done    # MISS x3

  # Geo variants: the origin varies /v1/offers on the visitor's continent
  curl -s -H 'X-Forwarded-For: 81.2.69.142' %[1]s/v1/offers    # a European visitor
  curl -s -H 'X-Forwarded-For: 8.8.8.8' %[1]s/v1/offers        # a North American one

  # HTTPS on every node (8441-8443; HTTP/2 by ALPN), with the self-signed
  # certificate made at start, SHA-256 fingerprint
  #   %[10]s
  # trusted as a CA file, or pinned by its public key:
  curl -si --cacert %[11]s 'https://%[6]s:8441%[5]s' | grep -iE '^(HTTP|X-Cache)'
  curl -si -k --pinnedpubkey '%[12]s' 'https://%[6]s:8441%[5]s' | grep -iE '^(HTTP|X-Cache)'

  # The cluster as node-1 sees it, and node-1's metrics
  %[9]s members --admin http://%[6]s:9081
  %[9]s status --admin http://%[6]s:9081
  curl -s http://%[6]s:9081/metrics | grep ^meshcdn_

  # The status page (members, rates, purge waterfalls), in a browser:
  #   http://%[6]s:9081/ui

Ctrl-C stops the demo.
`, e1, e2, e3, origin, user, h, a2, auth, selfCommand(), cert.fingerprint, cert.pair.Cert, cert.pin)
}

// selfCommand is how the user can run this binary again.
func selfCommand() string {
	if a := os.Args[0]; a != "" && !strings.Contains(a, "go-build") {
		return a
	}
	return "go run ./cmd/meshcdn"
}
