package api

import (
	_ "embed"
	"net/http"
)

// uiPage is the status page: one self-contained file (no scripts, styles
// or fonts from elsewhere) that reads /cluster/stats and /cluster/purges
// of the node serving it and refreshes itself.
//
//go:embed ui/index.html
var uiPage []byte

// uiCSP allows the page nothing beyond itself and its own node's JSON.
const uiCSP = "default-src 'none'; connect-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func (h *handler) ui(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Content-Security-Policy", uiCSP)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	_, _ = w.Write(uiPage)
}
