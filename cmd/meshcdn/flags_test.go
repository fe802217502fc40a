package main

import (
	"errors"
	"flag"
	"strings"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	good := map[string]int64{
		"256MiB": 256 << 20, "1GiB": 1 << 30, "512MB": 512e6, "1048576": 1 << 20, "64k": 64 << 10,
		"2kb": 2000, "1.5GiB": 3 << 29, "10B": 10, "1tib": 1 << 40, " 8MiB ": 8 << 20, "0": 0,
	}
	for in, want := range good {
		got, err := parseSize(in)
		if err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "-1MiB", "1e9", "1..5GiB", ".5GiB", "5.GiB", "12XB", "1 GiB x", "1.3B", "99999999999TiB", "0x10", "1,5MiB", "NaN", "Inf"} {
		if got, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", in, got)
		}
	}
	for _, n := range []int64{256 << 20, 1 << 30, 1500, 3 << 29} {
		if back, err := parseSize(formatSize(n)); err != nil || back != n {
			t.Errorf("formatSize(%d) = %q does not parse back (%d, %v)", n, formatSize(n), back, err)
		}
	}
}

func parseServe(t *testing.T, env map[string]string, args ...string) (nodeConfig, error) {
	t.Helper()
	st, err := loadServe(args, func(k string) string { return env[k] })
	if err != nil {
		return nodeConfig{}, asUsage(err)
	}
	return st.node, nil
}

func TestServeFlags(t *testing.T) {
	c, err := parseServe(t, nil, "--origin", "http://127.0.0.1:8070")
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != ":8080" || c.Admin != "127.0.0.1:9080" || c.CacheSize != 256<<20 || c.MaxObjectSize != 32<<20 ||
		c.DefaultTTL != 0 || c.DefaultSWR != 0 || c.DefaultSIE != 0 || c.HonorClientCacheControl || c.MaxVariants != 200 ||
		c.GeoCountryHeader != "X-Geo-Country-Code" || c.GeoContinentHeader != "X-Geo-Continent-Code" || c.GossipHost != "0.0.0.0" || c.GossipPort != 7946 || c.VaryGeo != nil || len(c.PurgeAllow) != 2 ||
		c.IsolationUnready != 5*time.Second {
		t.Fatalf("defaults: %+v", c)
	}

	c, err = parseServe(t, map[string]string{"MESHCDN_PURGE_TOKEN": "from-env", "MESHCDN_GOSSIP_KEY": "AAAAAAAAAAAAAAAAAAAAAA=="},
		"--origin=https://origin.example.com/base", "--listen", "127.0.0.1:0", "--admin", "0.0.0.0:9080",
		"--cache-size", "1GiB", "--max-object-size", "8MiB", "--default-ttl", "1m", "--origin-timeout", "5s",
		"--pass-cookie", "^_session", "--purge-allow", "10.0.0.0/8, 192.168.1.7", "--node-name", "n1",
		"--gossip", "10.0.0.1:7000", "--gossip-advertise", "203.0.113.9", "--join", "a:7946,,b.example.com",
		"--region", "eu-west", "--trusted-proxies", "10.0.0.0/8", "--vary-geo", "continent",
		"--default-stale-while-revalidate", "30s", "--default-stale-if-error", "1h", "--honor-client-cache-control",
		"--max-variants", "50", "--geo-country-header", "fastly-geo-country", "--geo-continent-header", "X-Continent")
	if err != nil {
		t.Fatal(err)
	}
	if c.PurgeToken != "from-env" || c.CacheSize != 1<<30 || c.MaxObjectSize != 8<<20 || c.DefaultTTL != time.Minute ||
		c.OriginTimeout != 5*time.Second || !c.PassCookie.MatchString("_session_id") || c.Name != "n1" ||
		c.GossipHost != "10.0.0.1" || c.GossipPort != 7000 || c.AdvertiseHost != "203.0.113.9" || c.AdvertisePort != 7000 ||
		strings.Join(c.Join, "|") != "a:7946|b.example.com" || c.Region != "eu-west" || len(c.TrustedProxies) != 1 ||
		c.PurgeAllow[1].String() != "192.168.1.7/32" || len(c.VaryGeo) != 1 || c.VaryGeo[0] != "X-Continent" ||
		c.DefaultSWR != 30*time.Second || c.DefaultSIE != time.Hour || !c.HonorClientCacheControl ||
		c.MaxVariants != 50 || c.GeoCountryHeader != "Fastly-Geo-Country" || c.GeoContinentHeader != "X-Continent" {
		t.Fatalf("parsed: %+v", c)
	}
	// The flag wins over the environment.
	c, err = parseServe(t, map[string]string{"MESHCDN_PURGE_TOKEN": "env"}, "--origin", "http://o", "--purge-token", "flag")
	if err != nil || c.PurgeToken != "flag" {
		t.Fatalf("token precedence: %q %v", c.PurgeToken, err)
	}

	bad := []struct {
		args []string
		want string
	}{
		{nil, "--origin is required"},
		{[]string{"--origin", "ftp://x"}, "not an absolute"},
		{[]string{"--origin", "http://x/?a=1"}, "must not carry"},
		{[]string{"--origin", "http://x", "--cache-size", "lots"}, "invalid size"},
		{[]string{"--origin", "http://x", "--default-stale-if-error", "-1s"}, "must not be negative"},
		{[]string{"--origin", "http://x", "--max-variants", "0"}, "--max-variants"},
		{[]string{"--origin", "http://x", "--geo-country-header", "X Geo"}, "not a header field name"},
		{[]string{"--origin", "http://x", "--geo-country-header", "X-A", "--geo-continent-header", "x-a"}, "must differ"},
		{[]string{"--origin", "http://x", "--cache-size", "100"}, "at least 1MiB"},
		{[]string{"--origin", "http://x", "--cache-size", "64MiB", "--max-object-size", "1GiB"}, "larger than --cache-size"},
		{[]string{"--origin", "http://x", "--default-ttl", "-1s"}, "must not be negative"},
		{[]string{"--origin", "http://x", "--default-ttl", "forever"}, "invalid value"},
		{[]string{"--origin", "http://x", "--origin-timeout", "0s"}, "positive"},
		{[]string{"--origin", "http://x", "--listen", "8080"}, "HOST:PORT"},
		{[]string{"--origin", "http://x", "--admin", "127.0.0.1:99999"}, "0 to 65535"},
		{[]string{"--origin", "http://x", "--pass-cookie", "("}, "--pass-cookie"},
		{[]string{"--origin", "http://x", "--purge-allow", "10.0.0.0/33"}, "--purge-allow"},
		{[]string{"--origin", "http://x", "--trusted-proxies", "proxy.local"}, "--trusted-proxies"},
		{[]string{"--origin", "http://x", "--gossip", "my_host:7946"}, "not an IP address"},
		{[]string{"--origin", "http://x", "--gossip-advertise", "myhost:7946"}, "not an IP address"},
		{[]string{"--origin", "http://x", "--gossip-advertise", "[::1]:x"}, "--gossip-advertise"},
		{[]string{"--origin", "http://x", "--gossip-key", "not base64!"}, "--gossip-key"},
		{[]string{"--origin", "http://x", "--vary-geo", "city"}, "--vary-geo"},
		{[]string{"--origin", "http://x", "--purge-token", "a b"}, "spaces"},
		{[]string{"--origin", "http://x", "--node-name", ""}, "--node-name"},
		{[]string{"--origin", "http://x", "--nope"}, "not defined: --nope"},
		{[]string{"--origin", "http://x", "--isolation-unready", "100ms"}, "--isolation-unready"},
	}
	for _, b := range bad {
		_, err := parseServe(t, nil, b.args...)
		var ue *usageError
		if err == nil || !errors.As(err, &ue) || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%v: error %v, want a usage error mentioning %q", b.args, err, b.want)
		}
	}
}

func TestParseFlagsInterspersed(t *testing.T) {
	fs := flag.NewFlagSet("purge", flag.ContinueOnError)
	wait := fs.Bool("wait", false, "")
	admin := fs.String("admin", "", "")
	pos, err := parseFlags(fs, []string{"user/1", "--wait", "company/2", "--admin", "http://x", "--", "--all"})
	if err != nil || !*wait || *admin != "http://x" || strings.Join(pos, " ") != "user/1 company/2 --all" {
		t.Fatalf("pos %q wait %v admin %q err %v", pos, *wait, *admin, err)
	}
}

func TestExitCodes(t *testing.T) {
	for _, c := range []struct {
		args []string
		want int
	}{
		{nil, 2},
		{[]string{"frobnicate"}, 2},
		{[]string{"version"}, 0},
		{[]string{"serve", "--help"}, 0},
		{[]string{"serve"}, 2},
		{[]string{"serve", "--origin", "http://x", "--log-format", "xml"}, 2},
		{[]string{"serve", "--origin", "http://x", "extra"}, 2},
		{[]string{"purge"}, 2},
		{[]string{"purge", "--all", "k"}, 2},
		{[]string{"purge", "--admin", "localhost:9080", "k"}, 2},
		{[]string{"members", "--admin", "::"}, 2},
		{[]string{"demo", "--host", "localhost"}, 2},
		{[]string{"origin", "--purge-url", "nope"}, 2},
		// Nothing listens on port 1: the node is unreachable (exit_test.go).
		{[]string{"purge", "--admin", "http://127.0.0.1:1", "k"}, exitUnreachable},
	} {
		if got := run(c.args); got != c.want {
			t.Errorf("meshcdn %v: exit %d, want %d", c.args, got, c.want)
		}
	}
}

// A node with no purge token refuses to start unless its admin listener is
// loopback.
func TestServeRefusesOpenAdminWithoutToken(t *testing.T) {
	cfg, err := parseServe(t, nil, "--origin", "http://127.0.0.1:1", "--listen", "127.0.0.1:0", "--admin", "0.0.0.0:0", "--gossip", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, err = startNode(cfg, nopLogger())
	var ue *usageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "--purge-token") {
		t.Fatalf("startNode with 0.0.0.0 admin and no token: %v", err)
	}
}

// --via-version opts in to the version in Via; without it Via names the
// node only.
func TestViaVersionFlag(t *testing.T) {
	c, err := parseServe(t, nil, "--origin", "http://o")
	if err != nil || c.ViaVersion || viaVersion(c.ViaVersion) != "" {
		t.Fatalf("default: %v %v", c.ViaVersion, err)
	}
	c, err = parseServe(t, nil, "--origin", "http://o", "--via-version")
	if err != nil || !c.ViaVersion || viaVersion(c.ViaVersion) != version {
		t.Fatalf("--via-version: %v %v", c.ViaVersion, err)
	}
}
