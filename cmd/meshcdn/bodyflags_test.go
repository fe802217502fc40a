package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/meshcdn/meshcdn/edge"
)

// Issue 9 items 6 and 8: the serve flags for close-delimited responses,
// request bodies and origin connections, their defaults and their bounds.
func TestServeFlagsOriginConnectionsAndBodies(t *testing.T) {
	c, err := parseServe(t, nil, "--origin", "http://127.0.0.1:8070")
	if err != nil {
		t.Fatal(err)
	}
	if c.StoreCloseDelimited || c.OriginMaxConns != 512 || c.OriginQueue != 1024 || c.ClientBodyDeadline != 10*time.Minute ||
		c.ClientBodyMinRate != 512 || c.ClientBodyBuffer != 64<<10 {
		t.Fatalf("defaults: %+v", c)
	}
	c, err = parseServe(t, nil, "--origin", "http://127.0.0.1:8070", "--store-close-delimited", "--origin-max-conns", "64",
		"--origin-queue", "10", "--client-body-deadline", "2m", "--client-body-min-rate", "2KiB", "--client-body-buffer", "1MiB")
	if err != nil {
		t.Fatal(err)
	}
	if !c.StoreCloseDelimited || c.OriginMaxConns != 64 || c.OriginQueue != 10 || c.ClientBodyDeadline != 2*time.Minute ||
		c.ClientBodyMinRate != 2048 || c.ClientBodyBuffer != 1<<20 {
		t.Fatalf("parsed: %+v", c)
	}
	c, err = parseServe(t, nil, "--origin", "http://127.0.0.1:8070", "--client-body-min-rate", "off", "--client-body-timeout", "5m")
	if err != nil {
		t.Fatal(err)
	}
	if c.ClientBodyMinRate != edge.NoClientBodyMinRate || c.ClientBodyTimeout != 5*time.Minute {
		t.Fatalf("min rate off, timeout 5m: %+v", c)
	}
	if s := edgeSite(c); s.ClientBodyMinRate != edge.NoClientBodyMinRate || s.ClientBodyTimeout != 5*time.Minute {
		t.Fatalf("edge site: min rate %d, timeout %v", s.ClientBodyMinRate, s.ClientBodyTimeout)
	}
	for _, b := range []struct {
		args []string
		want string
	}{
		{[]string{"--origin-max-conns", "0"}, "--origin-max-conns"},
		{[]string{"--origin-queue", "0"}, "--origin-queue"},
		{[]string{"--client-body-deadline", "0s"}, "--client-body-deadline"},
		{[]string{"--client-body-min-rate", "0"}, "--client-body-min-rate"},
		{[]string{"--client-body-min-rate", "-5"}, "--client-body-min-rate"},
		{[]string{"--client-body-timeout", "0s"}, "--client-body-timeout"},
		{[]string{"--client-body-buffer", "1GiB"}, "--client-body-buffer"},
	} {
		_, err := parseServe(t, nil, append([]string{"--origin", "http://x"}, b.args...)...)
		var ue *usageError
		if err == nil || !errors.As(err, &ue) || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%v: error %v, want a usage error mentioning %q", b.args, err, b.want)
		}
	}
}
