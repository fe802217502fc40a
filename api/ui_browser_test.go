package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// chromium finds a headless Chromium: $MESHCDN_CHROMIUM, then the usual
// names; when there is none it runs test/ui/install-chromium.sh (which
// installs Debian's package when it can) and looks again.
func chromium(t *testing.T) string {
	t.Helper()
	find := func() string {
		for _, name := range []string{os.Getenv("MESHCDN_CHROMIUM"), "chromium", "chromium-browser", "google-chrome", "headless_shell"} {
			if name == "" {
				continue
			}
			if p, err := exec.LookPath(name); err == nil {
				return p
			}
		}
		return ""
	}
	if p := find(); p != "" {
		return p
	}
	script, err := filepath.Abs("../test/ui/install-chromium.sh")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("bash", script).CombinedOutput()
	if p := find(); p != "" {
		return p
	}
	why := string(bytes.TrimSpace(out))
	if err != nil {
		why += fmt.Sprintf(" (%v)", err)
	}
	t.Skipf("no Chromium, and it could not be installed: %s", why)
	return ""
}

// uiOutDir is where the browser test leaves its screenshot and DOM:
// $MESHCDN_TEST_OUT when set (kept), else the test's temporary folder.
func uiOutDir(t *testing.T) string {
	if d := os.Getenv("MESHCDN_TEST_OUT"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

func runChromium(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
		"--disable-extensions", "--disable-background-networking", "--hide-scrollbars",
		"--user-data-dir=" + t.TempDir(), "--virtual-time-budget=4000", "--window-size=1280,900"}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) || stdout.Len() == 0 {
			t.Fatalf("%s %v: %v\n%s", bin, args, err, stderr.String())
		}
	}
	return stdout.Bytes()
}

// TestUIInBrowser: a real browser loads /ui from one node of a three-node
// cluster after a purge accepted by another node; the page shows the three
// members and one waterfall: the purge accepted at node 0 with two applied
// bars (nodes 1 and 2). The screenshot is saved beside the DOM.
func TestUIInBrowser(t *testing.T) {
	bin := chromium(t)
	ac := startAdminCluster(t, 3, Config{AllowNoToken: true})
	code, pr, body := ac.envs[0].purge(`{"keys":["product/42"],"soft":true}`, map[string]string{"Meshcdn-Wait": "all"})
	if code != 200 || !pr.Complete {
		t.Fatalf("purge: %d %s", code, body)
	}
	url := ac.srvs[1].URL + "/ui"
	dom := string(runChromium(t, bin, "--dump-dom", url))
	out := uiOutDir(t)
	if err := os.WriteFile(filepath.Join(out, "ui-dom.html"), []byte(dom), 0o644); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(dom, `data-loaded="ok"`) {
		t.Fatalf("the page did not load its data (DOM in %s):\n%s", out, dom)
	}
	members := regexp.MustCompile(`<tr class="member" data-node="(node-0[0-2])" data-state="alive"`).FindAllStringSubmatch(dom, -1)
	if len(members) != 3 {
		t.Fatalf("%d alive members in the page, want 3 (DOM in %s)", len(members), out)
	}
	wfs := regexp.MustCompile(`<div class="waterfall" data-id="([^"]+)" data-origin="([^"]+)">`).FindAllStringSubmatch(dom, -1)
	if len(wfs) != 1 || wfs[0][1] != pr.ID || wfs[0][2] != "node-00" {
		t.Fatalf("waterfalls %q, want one for %s from node-00", wfs, pr.ID)
	}
	if n := strings.Count(dom, `class="bar applied"`); n != 2 {
		t.Fatalf("%d applied bars, want 2", n)
	}
	if n := strings.Count(dom, `class="bar accepted"`); n != 1 {
		t.Fatalf("%d accepted bars, want 1", n)
	}
	shot := filepath.Join(out, "ui.png")
	runChromium(t, bin, "--screenshot="+shot, url)
	if st, err := os.Stat(shot); err != nil || st.Size() == 0 {
		t.Fatalf("screenshot %s: %v", shot, err)
	}
	t.Logf("screenshot: %s", shot)

	// Node 2's admin listener goes away: the page marks it unreachable,
	// in the members and in the waterfall.
	ac.srvs[2].Close()
	dom = string(runChromium(t, bin, "--dump-dom", url))
	if err := os.WriteFile(filepath.Join(out, "ui-unreachable-dom.html"), []byte(dom), 0o644); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(dom, `<tr class="member unreachable" data-node="node-02" data-state="unreachable"`) ||
		!strings.Contains(dom, `<div class="row unreachable" data-node="node-02" data-status="unreachable">`) ||
		strings.Count(dom, `class="bar applied"`) != 1 {
		t.Fatalf("node 2 not marked unreachable (DOM in %s)", out)
	}
	runChromium(t, bin, "--screenshot="+filepath.Join(out, "ui-unreachable.png"), url)
}

// TestUIPageSelfContained: /ui is one page that loads nothing from
// elsewhere (and its Content-Security-Policy forbids it), reading only
// its own node's JSON endpoints.
func TestUIPageSelfContained(t *testing.T) {
	e := newEnv(t, Config{AllowNoToken: true})
	resp, body := e.do("GET", "/ui", nil, "")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("/ui: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "connect-src 'self'") {
		t.Fatalf("CSP %q", csp)
	}
	for _, bad := range []string{"http://", "https://", "src=", "href=", "@import", "url("} {
		if strings.Contains(body, bad) {
			t.Errorf("the page contains %q", bad)
		}
	}
	for _, want := range []string{`"cluster/stats"`, `"cluster/purges"`, "setInterval(refresh"} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
}
