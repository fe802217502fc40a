package config

import (
	"strings"
	"testing"
)

func TestParseGood(t *testing.T) {
	f, errs := Parse("c.yaml", []byte(`
node: { name: n1, region: eu }
cache:
  size: 8GiB
cluster:
  join: [a:7946, "b:7946"]
geo:
  trusted_proxies: []
tls:
  certificates:
    - { cert: a.crt, key: a.key }
default_site:
sites:
  - name: api
    hosts: [api.example.com, "*.api.example.com"]
    origin: { url: "https://o:8443", timeout: 30s }
    headers: { response_remove: [Server] }
`))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	want := map[string]Value{
		"node-name":       {Key: "node.name", Flag: "node-name", Text: "n1", Line: 2},
		"cache-size":      {Key: "cache.size", Flag: "cache-size", Text: "8GiB", Line: 4},
		"join":            {Key: "cluster.join", Flag: "join", Text: "a:7946,b:7946", Line: 6},
		"trusted-proxies": {Key: "geo.trusted_proxies", Flag: "trusted-proxies", Text: "", Line: 8},
		"default-site":    {Key: "default_site", Flag: "default-site", Text: "", Line: 12},
	}
	for flag, w := range want {
		if got := f.Values[flag]; got != w {
			t.Errorf("%s: %+v, want %+v", flag, got, w)
		}
	}
	if len(f.Certs) != 1 || f.Certs[0] != (Cert{Cert: "a.crt", Key: "a.key", Line: 11}) {
		t.Errorf("certs %+v", f.Certs)
	}
	if len(f.Sites) != 1 || f.Sites[0].Line != 14 {
		t.Fatalf("sites %+v", f.Sites)
	}
	s := f.Sites[0].Values
	if s["hosts"].Text != "api.example.com,*.api.example.com" || s["origin"].Text != "https://o:8443" || s["origin"].Key != "sites[0].origin.url" ||
		s["origin"].Line != 16 || s["origin-timeout"].Text != "30s" || s["response-remove"].Text != "Server" {
		t.Errorf("site %+v", s)
	}
}

// Every problem is reported, each with its line.
func TestParseErrors(t *testing.T) {
	_, errs := Parse("c.yaml", []byte(`node:
  name: n1
  colour: blue
cache: { size: [1, 2] }
cluster:
  join: a:7946
  join: b
purge:
  allow: ["1.2.3.4,5.6.7.8"]
sites:
  - name: a
    origin: { url: "http://x", tls: yes }
    hosts: [a]
  - plain
size: 1
log: { level: &l info }
tls:
  certificates:
    - { cert: a.crt }
`))
	want := []string{
		"c.yaml:3: node.colour: unknown key",
		"c.yaml:4: cache.size: want a single value, not a list or mapping",
		"c.yaml:6: cluster.join: want a list, such as [a, b]",
		"c.yaml:7: cluster.join: duplicate key",
		"c.yaml:9: purge.allow: each item must be one non-empty value without a comma",
		"c.yaml:12: sites[0].origin.tls: unknown key",
		"c.yaml:14: sites[1]: want a mapping (key: value lines)",
		"c.yaml:15: size: unknown key",
		"c.yaml:16: log.level: anchors and aliases are not supported",
		"c.yaml:19: tls.certificates[0]: both cert and key are required",
	}
	got := strings.Split(errs.Error(), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", errs.Error(), strings.Join(want, "\n"))
	}
}

func TestParseBounds(t *testing.T) {
	big := make([]byte, MaxFileSize+1)
	if f, errs := Parse("c.yaml", big); f != nil || len(errs) != 1 || !strings.Contains(errs[0].Problem, "larger than") {
		t.Errorf("oversized file: %v", errs)
	}
	var b strings.Builder
	b.WriteString("cluster:\n  join:\n")
	for range MaxListItems + 1 {
		b.WriteString("    - a:1\n")
	}
	if _, errs := Parse("c.yaml", []byte(b.String())); len(errs) != 1 || errs[0].Error() != "c.yaml:3: cluster.join: more than 256 items" {
		t.Errorf("long list: %v", errs)
	}
	if _, errs := Parse("c.yaml", []byte("a: [\n")); len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), "c.yaml:1: ") {
		t.Errorf("syntax error: %v", errs)
	}
	if _, errs := Parse("c.yaml", []byte("node: {name: a}\n---\nnode: {name: b}\n")); len(errs) != 1 || !strings.Contains(errs[0].Error(), "second YAML document") {
		t.Errorf("two documents: %v", errs)
	}
	if f, errs := Parse("c.yaml", nil); f == nil || len(errs) != 0 {
		t.Errorf("empty file: %v", errs)
	}
}

func TestEnvName(t *testing.T) {
	for flag, want := range map[string]string{"cache-size": "MESHCDN_CACHE_SIZE", "origin": "MESHCDN_ORIGIN", "purge-token": "MESHCDN_PURGE_TOKEN"} {
		if got := EnvName(flag); got != want {
			t.Errorf("%s: %s", flag, got)
		}
	}
}
