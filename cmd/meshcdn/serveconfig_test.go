package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeFile writes a file in t's temporary directory and returns its path.
func writeFile(t *testing.T, name, body string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func load(t *testing.T, env map[string]string, args ...string) (*serveSettings, error) {
	t.Helper()
	return loadServe(args, func(k string) string { return env[k] })
}

// The documented example is valid.
func TestConfigExampleIsValid(t *testing.T) {
	st, err := load(t, nil, "--config", "../../deploy/config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(st.node.Sites) != 2 || st.node.Sites[0].Name != "api" || st.node.Sites[1].Name != "www" ||
		st.node.Sites[0].OriginHost != "api-origin.example.com" || !st.node.Sites[0].RedirectHTTP ||
		len(st.node.Sites[0].Hosts) != 2 || st.node.Name != "cdn-fra-1" || st.node.CacheSize != 256<<20 {
		t.Errorf("example: %+v; sites %+v %+v", st.node, *st.node.Sites[0], *st.node.Sites[1])
	}
}

// flag > environment > file > default, for global and (one site) per-site
// settings.
func TestConfigPrecedence(t *testing.T) {
	file := writeFile(t, "c.yaml", `
node: { name: file-node, region: file-region }
cache: { size: 64MiB, max_variants: 7 }
listen: { admin: "127.0.0.1:9999" }
sites:
  - name: one
    origin: { url: "http://file-origin:1", timeout: 11s }
    cache: { default_ttl: 1m, stale_if_error: 3m }
`, 0o644)
	env := map[string]string{
		"MESHCDN_CACHE_SIZE":  "32MiB",
		"MESHCDN_REGION":      "env-region",
		"MESHCDN_DEFAULT_TTL": "2m",
		"MESHCDN_ORIGIN":      "http://env-origin:1",
	}
	st, err := load(t, env, "--config", file, "--cache-size", "16MiB", "--origin", "http://flag-origin:1")
	if err != nil {
		t.Fatal(err)
	}
	c := st.node
	if c.CacheSize != 16<<20 || c.Region != "env-region" || c.Name != "file-node" || c.MaxVariants != 7 ||
		c.Admin != "127.0.0.1:9999" || c.Listen != ":8080" {
		t.Errorf("globals: cache %d region %q name %q variants %d admin %q listen %q", c.CacheSize, c.Region, c.Name, c.MaxVariants, c.Admin, c.Listen)
	}
	s := c.Sites[0]
	if len(c.Sites) != 1 || s.Name != "one" || s.Origin.String() != "http://flag-origin:1" || s.DefaultTTL != 2*time.Minute ||
		s.DefaultSIE != 3*time.Minute || s.FirstByteTimeout != 11*time.Second || s.DefaultSWR != 0 {
		t.Errorf("site: %+v", *s)
	}
	// The file alone, and the defaults.
	st, err = load(t, nil, "--config", file)
	if err != nil {
		t.Fatal(err)
	}
	if st.node.CacheSize != 64<<20 || st.node.Region != "file-region" || st.node.Sites[0].Origin.Host != "file-origin:1" || st.node.PurgeWait != 5*time.Second {
		t.Errorf("file only: %+v", st.node)
	}
	// The config file itself from the environment.
	st, err = load(t, map[string]string{"MESHCDN_CONFIG": file})
	if err != nil || st.node.Name != "file-node" {
		t.Errorf("MESHCDN_CONFIG: %v", err)
	}
}

// Every flag has its variable, MESHCDN_<FLAG_NAME>, also without a file;
// a bad value names the variable.
func TestConfigEnvironment(t *testing.T) {
	st, err := load(t, map[string]string{
		"MESHCDN_ORIGIN": "http://o:1", "MESHCDN_LISTEN": "127.0.0.1:1234", "MESHCDN_HONOR_CLIENT_CACHE_CONTROL": "true",
		"MESHCDN_HOSTS": "a.example,*.b.example", "MESHCDN_RESPONSE_REMOVE": "Server", "MESHCDN_PURGE_TOKEN": "tok",
		"MESHCDN_GOSSIP_KEY": "AAAAAAAAAAAAAAAAAAAAAA==",
	})
	if err != nil {
		t.Fatal(err)
	}
	s := st.node.Sites[0]
	if st.node.Listen != "127.0.0.1:1234" || !s.HonorClientCacheControl || len(s.Hosts) != 2 || s.ResponseRemove[0] != "Server" ||
		st.node.PurgeToken != "tok" || len(st.node.GossipKeys) != 1 {
		t.Errorf("%+v %+v", st.node, *s)
	}
	// MESHCDN_ADMIN as the client commands take it (a URL) is serve's
	// admin listener too: one shell variable for both.
	st, err = load(t, map[string]string{"MESHCDN_ORIGIN": "http://o:1", "MESHCDN_ADMIN": "http://127.0.0.1:9081/"})
	if err != nil || st.node.Admin != "127.0.0.1:9081" {
		t.Errorf("MESHCDN_ADMIN as a URL: %v, admin %q", err, st.node.Admin)
	}
	_, err = load(t, map[string]string{"MESHCDN_ORIGIN": "http://o:1", "MESHCDN_DEFAULT_TTL": "soon"})
	if err == nil || err.Error() != `MESHCDN_DEFAULT_TTL: "soon" is not a duration (such as 30s, 5m, 1h)` {
		t.Errorf("bad variable: %v", err)
	}
}

// A per-site flag or variable is refused when the file has several sites.
func TestConfigPerSiteFlagWithSites(t *testing.T) {
	file := writeFile(t, "c.yaml", `sites:
  - { name: a, hosts: [a.example], origin: { url: "http://a:1" } }
  - { name: b, hosts: [b.example], origin: { url: "http://b:1" } }
`, 0o644)
	_, err := load(t, map[string]string{"MESHCDN_DEFAULT_TTL": "1m"}, "--config", file, "--origin", "http://x:1")
	if err == nil || !strings.Contains(err.Error(), "--origin: a per-site setting, and "+file+" has 2 sites") ||
		!strings.Contains(err.Error(), "MESHCDN_DEFAULT_TTL: a per-site setting") {
		t.Errorf("per-site flag with two sites: %v", err)
	}
	st, err := load(t, nil, "--config", file, "--cache-size", "8MiB")
	if err != nil || len(st.node.Sites) != 2 {
		t.Errorf("global flag with two sites: %v", err)
	}
}

// Every error, each at its line: unknown keys, bad values, per-site values
// (a site's missing origin at the site), duplicate names and hosts.
func TestConfigErrorsHaveLines(t *testing.T) {
	file := writeFile(t, "bad.yaml", `node:
  name: n1
  colour: blue
cache:
  size: 12 parsecs
sites:
  - name: a
    hosts: [a.example]
    origin: { url: "ftp://x" }
    cache: { default_ttl: 5x }
  - name: b
    hosts: [A.example]
default_site: nosuch
`, 0o644)
	_, err := load(t, nil, "--config", file)
	want := []string{
		file + ":3: node.colour: unknown key",
		file + `:5: cache.size: invalid size "12 parsecs": want a number and a unit such as 256MiB, 1GiB or 512MB`,
		file + `:9: sites[0].origin.url: "ftp://x" is not an absolute http:// or https:// URL`,
		file + `:10: sites[0].cache.default_ttl: "5x" is not a duration (such as 30s, 5m, 1h)`,
		file + ":11: sites[1]: --origin is required (the URL of the origin server, such as http://127.0.0.1:8070)",
		file + `:12: sites[1].hosts: "A.example" is also a host of site "a"`,
		file + `:13: default_site: no site is named "nosuch"`,
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Errorf("errors:\n%v\nwant:\n%s", err, strings.Join(want, "\n"))
	}
}

// Secrets from files: read and trimmed, a loose mode warned about; a
// higher-precedence value wins; the same source twice is refused.
func TestConfigSecretFiles(t *testing.T) {
	tok := writeFile(t, "purge.token", "s3cret\n", 0o644)
	key := writeFile(t, "gossip.key", "AAAAAAAAAAAAAAAAAAAAAA==\n", 0o600)
	file := writeFile(t, "c.yaml", "purge: { token_file: "+tok+" }\ncluster: { key_file: "+key+" }\n", 0o644)
	st, err := load(t, nil, "--config", file, "--origin", "http://o:1")
	if err != nil {
		t.Fatal(err)
	}
	if st.node.PurgeToken != "s3cret" || len(st.node.GossipKeys) != 1 {
		t.Errorf("token %q keys %d", st.node.PurgeToken, len(st.node.GossipKeys))
	}
	if len(st.warnings) != 1 || !strings.Contains(st.warnings[0], tok) || !strings.Contains(st.warnings[0], "0644") {
		t.Errorf("warnings %q", st.warnings)
	}
	st, err = load(t, map[string]string{"MESHCDN_PURGE_TOKEN": "from-env"}, "--config", file, "--origin", "http://o:1")
	if err != nil || st.node.PurgeToken != "from-env" {
		t.Errorf("environment over the file's token_file: %q %v", st.node.PurgeToken, err)
	}
	if _, err = load(t, nil, "--origin", "http://o:1", "--purge-token", "a", "--purge-token-file", tok); err == nil ||
		!strings.Contains(err.Error(), "set either --purge-token or --purge-token-file") {
		t.Errorf("both flags: %v", err)
	}
}

// serve --check as a process: 0 and one line when valid, 2 and every
// error as FILE:LINE: field: problem otherwise.
func TestServeCheckExitCodes(t *testing.T) {
	run := func(args ...string) (int, string, string) {
		cmd := exec.Command(os.Args[0], append([]string{"serve"}, args...)...)
		cmd.Env = append(os.Environ(), "MESHCDN_TEST_RUN_MAIN=1", "MESHCDN_PURGE_TOKEN=", "MESHCDN_GOSSIP_KEY=")
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, out.String(), errb.String()
	}
	example := "../../deploy/config.example.yaml"
	code, out, errs := run("--config", example, "--check")
	if code != 0 || out != example+": ok: node cdn-fra-1, 2 site(s) (api, www), listen :8080, admin 127.0.0.1:9080\n" || errs != "" {
		t.Errorf("valid: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	bad := writeFile(t, "bad.yaml", "node:\n  nme: x\ncache: { size: lots }\n", 0o644)
	code, out, errs = run("--config", bad, "--check", "--origin", "http://o:1")
	want := bad + ":2: node.nme: unknown key\n" + bad + `:3: cache.size: invalid size "lots": want a number and a unit such as 256MiB, 1GiB or 512MB` + "\n"
	if code != 2 || out != "" || errs != want {
		t.Errorf("invalid: exit %d, stdout %q, stderr %q, want %q", code, out, errs, want)
	}
	if code, _, errs = run("--config", filepath.Join(t.TempDir(), "missing.yaml"), "--check"); code != 2 || !strings.Contains(errs, "missing.yaml: open ") {
		t.Errorf("missing file: exit %d, %q", code, errs)
	}
}
