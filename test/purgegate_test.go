package test

// Issue 9 item 12: one purge gate for both listeners. The same request
// headers get the same answer (status, WWW-Authenticate, body) and the same
// reason label from PURGE on the edge listener and from a purge call on the
// admin listener, and the local fallback stamps ids of one shape on both.

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/meshcdn/meshcdn/api"
	"github.com/meshcdn/meshcdn/edge"
	"github.com/meshcdn/meshcdn/store"
)

type answer struct {
	status int
	auth   string // WWW-Authenticate
	body   string
	reason string // the denied counter's label that moved, "" none
}

func TestPurgeGateSameOnBothListeners(t *testing.T) {
	const token = "s3cret"
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(origin.Close)
	ou, _ := url.Parse(origin.URL)
	st := store.New(store.Config{MaxBytes: 16 << 20})
	t.Cleanup(st.Close)
	reg := prometheus.NewRegistry()
	proxy, err := edge.New(edge.Config{
		Sites: []*edge.Site{{Name: "s", Origin: ou}}, Store: st, Registerer: reg, NodeName: "n1",
		PurgeToken: token,
		PurgeAllow: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, // not the test's address
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	adm, err := api.New(api.Config{Store: st, Token: token, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	edgeSrv, admSrv := httptest.NewServer(proxy), httptest.NewServer(adm)
	t.Cleanup(edgeSrv.Close)
	t.Cleanup(admSrv.Close)

	denied := func(metric string) map[string]float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]float64{}
		for _, mf := range mfs {
			if mf.GetName() != metric {
				continue
			}
			for _, m := range mf.GetMetric() {
				out[label(m, "reason")] = m.GetCounter().GetValue()
			}
		}
		return out
	}
	send := func(method, target, metric string, hdr [][2]string) answer {
		t.Helper()
		before := denied(metric)
		req, err := http.NewRequest(method, target, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hdr {
			req.Header.Add(h[0], h[1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		a := answer{status: resp.StatusCode, auth: resp.Header.Get("WWW-Authenticate")}
		if a.status != 200 {
			a.body = string(b)
		}
		for r, v := range denied(metric) {
			if v != before[r] {
				a.reason += r
			}
		}
		return a
	}

	cases := []struct {
		name string
		hdr  [][2]string
		want int
	}{
		{"none", nil, 401},
		{"Fastly-Key", [][2]string{{"Fastly-Key", token}}, 200},
		{"Fastly-Key wrong", [][2]string{{"Fastly-Key", "nope"}}, 403},
		{"Fastly-Key longer", [][2]string{{"Fastly-Key", token + "x"}}, 403},
		{"Fastly-Key padded", [][2]string{{"Fastly-Key", " \t" + token + "\t "}}, 200},
		{"Fastly-Key blank, bearer", [][2]string{{"Fastly-Key", " "}, {"Authorization", "Bearer " + token}}, 200},
		{"Fastly-Key wrong beats bearer", [][2]string{{"Fastly-Key", "nope"}, {"Authorization", "Bearer " + token}}, 403},
		{"Fastly-Key twice", [][2]string{{"Fastly-Key", token}, {"Fastly-Key", token}}, 403},
		{"bearer", [][2]string{{"Authorization", "Bearer " + token}}, 200},
		{"bearer lower case", [][2]string{{"Authorization", "bearer " + token}}, 200},
		{"bearer tab", [][2]string{{"Authorization", "BEARER\t" + token}}, 200},
		{"bearer spaces", [][2]string{{"Authorization", "Bearer   " + token + "  "}}, 200},
		{"bearer wrong", [][2]string{{"Authorization", "Bearer nope"}}, 403},
		{"bearer empty", [][2]string{{"Authorization", "Bearer"}}, 401},
		{"bearer glued", [][2]string{{"Authorization", "Bearer" + token}}, 401},
		{"basic", [][2]string{{"Authorization", "Basic czNjcmV0"}}, 401},
	}
	for _, c := range cases {
		e := send("PURGE", edgeSrv.URL+"/x", "meshcdn_edge_purge_denied_total", c.hdr)
		a := send("POST", admSrv.URL+"/service/svc/purge/k", "meshcdn_api_purge_denied_total", c.hdr)
		if e != a {
			t.Errorf("%s: the listeners differ:\n edge  %+v\n admin %+v", c.name, e, a)
		}
		if e.status != c.want || a.status != c.want {
			t.Errorf("%s: status edge %d, admin %d, want %d", c.name, e.status, a.status, c.want)
		}
	}

	// The local fallback (no cluster): one id scheme on both listeners.
	id := regexp.MustCompile(`"id":"(local/[0-9]+/[0-9]+)"`)
	for _, target := range []struct{ method, url string }{{"PURGE", edgeSrv.URL + "/x"}, {"POST", admSrv.URL + "/service/svc/purge/k"}} {
		req, _ := http.NewRequest(target.method, target.url, nil)
		req.Header.Set("Fastly-Key", token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !id.Match(b) {
			t.Errorf("%s %s: purge id not local/<boot>/<seq>: %s", target.method, target.url, b)
		}
	}
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
