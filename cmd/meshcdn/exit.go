package main

import (
	"fmt"
	"net/http"
)

// Exit statuses of every command, for scripts (README "Exit status"):
//
//	0 done
//	1 error (anything not below)
//	2 usage: bad flags, arguments or configuration
//	3 not authorised: the admin API refused the token (HTTP 401 or 403)
//	4 unreachable: the node asked (or, for status, a member) did not answer
//	5 purge --wait: applied, but not confirmed by every member
const (
	exitError        = 1
	exitUsage        = 2
	exitUnauthorised = 3
	exitUnreachable  = 4
	exitIncomplete   = 5
)

// exitErr is an error that ends a command with a given status; its
// message is printed.
type exitErr struct {
	code int
	err  error
}

func (e *exitErr) Error() string { return e.err.Error() }
func (e *exitErr) Unwrap() error { return e.err }

// unreachable: the admin API at base could not be reached.
func unreachable(format string, args ...any) error {
	return &exitErr{code: exitUnreachable, err: fmt.Errorf(format, args...)}
}

// refused turns an admin API answer other than 2xx into the error of its
// kind: 401 and 403 exit 3, others 1.
func refused(what string, status int, body []byte) error {
	err := fmt.Errorf("%s: HTTP %d: %s", what, status, apiError(body))
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		return &exitErr{code: exitUnauthorised, err: fmt.Errorf("%w (not authorised: check --token or $MESHCDN_PURGE_TOKEN)", err)}
	}
	return err
}
