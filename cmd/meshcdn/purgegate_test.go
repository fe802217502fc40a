package main

import (
	"io"
	"net/http"
	"testing"
)

// Issue 9 item 11 through serve's wiring: with the default --purge-allow
// (loopback) and the loopback listed in --trusted-proxies, a PURGE whose
// trusted peer reports the client 8.8.8.8 needs the token; the admin
// listener, which can purge everything, asks for the token whatever the
// caller's address.
func TestServePurgeGateThroughTrustedProxy(t *testing.T) {
	cfg, err := parseServe(t, nil, "--origin", "http://127.0.0.1:1", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0",
		"--gossip", "127.0.0.1:0", "--purge-token", "tok", "--trusted-proxies", "127.0.0.0/8", "--node-name", "pg1")
	if err != nil {
		t.Fatal(err)
	}
	n, err := startNode(cfg, nopLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.stop)
	send := func(method, url string, hdr ...string) int {
		t.Helper()
		req, err := http.NewRequest(method, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	edgeURL, admURL := "http://"+n.edgeAddr+"/x", "http://"+n.admAddr+"/service/s/purge/k"
	for _, c := range []struct {
		name, method, url string
		hdr               []string
		want              int
	}{
		{"edge: proxied client 8.8.8.8", "PURGE", edgeURL, []string{"X-Forwarded-For", "8.8.8.8"}, 401},
		{"edge: proxied client 8.8.8.8, wrong token", "PURGE", edgeURL, []string{"X-Forwarded-For", "8.8.8.8", "Fastly-Key", "nope"}, 403},
		{"edge: proxied client 8.8.8.8 with the token", "PURGE", edgeURL, []string{"X-Forwarded-For", "8.8.8.8", "Fastly-Key", "tok"}, 200},
		{"edge: loopback client", "PURGE", edgeURL, nil, 200},
		{"admin: loopback client", "POST", admURL, nil, 401},
		{"admin: with the token", "POST", admURL, []string{"Authorization", "Bearer tok"}, 200},
	} {
		if got := send(c.method, c.url, c.hdr...); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}
