package httpcache

import (
	"net/http"
	"testing"
	"time"
)

func TestDecideDemoOrigin(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	h := http.Header{}
	h.Set("Surrogate-Control", "max-age=3600")
	h.Set("Cache-Control", "no-store")
	h.Set("Surrogate-Key", "company/1 user/2")
	dec := Decide(Policy{DefaultTTL: time.Hour}, "GET", http.Header{}, 200, h, now, now)
	if !dec.Storable || dec.Lifetime != time.Hour || dec.Source != "surrogate-control" {
		t.Fatalf("%+v", dec)
	}
}
