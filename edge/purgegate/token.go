package purgegate

import (
	"errors"
	"net/http"
	"strings"
)

// MaxTokenBytes bounds the purge token's length.
const MaxTokenBytes = 4096

// CheckToken reports a purge token that requests could not present as
// configured: one with spaces or control characters (Token trims, and header
// values cannot carry them), or longer than MaxTokenBytes.
func CheckToken(tok string) error {
	for i := 0; i < len(tok); i++ {
		if c := tok[i]; c <= ' ' || c == 0x7f {
			return errors.New("the token must not contain spaces or control characters")
		}
	}
	if len(tok) > MaxTokenBytes {
		return errors.New("the token is longer than 4096 bytes")
	}
	return nil
}

// Token reads the purge token a request presents: Fastly-Key, else
// Authorization with the Bearer scheme (case-insensitive, RFC 9110 §11.1),
// each trimmed of surrounding spaces and tabs. present is false when neither
// carries a token (absent, blank, or another scheme such as Basic). A field
// sent on more than one line is ambiguous: malformed is then true and the
// token is refused as wrong.
func Token(h http.Header) (token string, present, malformed bool) {
	if v := h["Fastly-Key"]; len(v) > 0 {
		if len(v) > 1 {
			return "", true, true
		}
		if t := trimOWS(v[0]); t != "" {
			return t, true, false
		}
	}
	v := h["Authorization"]
	switch {
	case len(v) == 0:
		return "", false, false
	case len(v) > 1:
		return "", true, true
	}
	const scheme = "bearer"
	a := trimOWS(v[0])
	if len(a) <= len(scheme) || !strings.EqualFold(a[:len(scheme)], scheme) || (a[len(scheme)] != ' ' && a[len(scheme)] != '\t') {
		return "", false, false
	}
	if t := trimOWS(a[len(scheme):]); t != "" {
		return t, true, false
	}
	return "", false, false
}

func trimOWS(s string) string { return strings.Trim(s, " \t") }
