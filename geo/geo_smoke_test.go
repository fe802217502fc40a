package geo

import (
	"net/netip"
	"testing"
)

func TestEmbeddedSmoke(t *testing.T) {
	d, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	for ip, want := range map[string]Location{
		"8.8.8.8":     {"US", "NA"},
		"192.168.1.1": {Unknown, Unknown},
		"81.2.69.142": {"GB", "EU"},
	} {
		if got := d.Lookup(netip.MustParseAddr(ip)); got != want {
			t.Errorf("%s: got %v want %v", ip, got, want)
		}
	}
	t.Logf("%+v", d.Info())
}
