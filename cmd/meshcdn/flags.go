package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/meshcdn/meshcdn/edge"
	"github.com/meshcdn/meshcdn/edge/purgegate"
)

// usageError is a bad flag or configuration: the command exits with status 2.
type usageError struct {
	msg  string
	list []error // every problem, when there are several (msg joins them)
}

// joinUsage is nil, the one error, or a *usageError listing them all.
func joinUsage(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	lines := make([]string, len(errs))
	for i, e := range errs {
		lines[i] = e.Error()
	}
	return &usageError{msg: strings.Join(lines, "\n"), list: errs}
}

// errorList is every problem err holds.
func errorList(err error) []error {
	var ue *usageError
	if errors.As(err, &ue) && len(ue.list) > 0 {
		return ue.list
	}
	return []error{err}
}

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// parseFlags parses args with fs, allowing flags after positional arguments
// (meshcdn purge user/42 --wait). "--" ends flag parsing.
// Errors are short (the flag and what is wrong); --help prints the usage
// to stdout.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	fs.SetOutput(io.Discard)
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(os.Stdout)
				fs.Usage()
				return nil, err
			}
			msg := strings.NewReplacer("flag -", "flag --", "defined: -", "defined: --").Replace(err.Error())
			return nil, &usageError{msg: fmt.Sprintf("%s: %s (see meshcdn %s --help)", fs.Name(), msg, fs.Name())}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// fs.Parse stops at the first non-flag argument, or after "--".
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// printFlags lists fs's flags GNU-style (--name VALUE).
func printFlags(fs *flag.FlagSet) {
	w := fs.Output()
	fs.VisitAll(func(f *flag.Flag) {
		name, help := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if name != "" {
			line += " " + name
		}
		fmt.Fprintf(w, "%s\n      %s", line, help)
		if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "0s" && f.DefValue != "false" && f.DefValue != "0B" {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
}

var sizeUnits = map[string]float64{
	"": 1, "b": 1,
	"k": 1 << 10, "kb": 1e3, "kib": 1 << 10,
	"m": 1 << 20, "mb": 1e6, "mib": 1 << 20,
	"g": 1 << 30, "gb": 1e9, "gib": 1 << 30,
	"t": 1 << 40, "tb": 1e12, "tib": 1 << 40,
}

// parseSize parses a byte size: a number (digits, optionally one decimal
// fraction) and a unit: B, KB/MB/GB/TB (powers of 1000), KiB/MiB/GiB/TiB or
// K/M/G/T (powers of 1024), case-insensitive. "256MiB", "1GiB", "512MB",
// "1.5GiB", "1048576".
func parseSize(s string) (int64, error) {
	orig := s
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	num, unit := s[:i], strings.ToLower(s[i:])
	mult, ok := sizeUnits[unit]
	if num == "" || strings.Count(num, ".") > 1 || strings.HasPrefix(num, ".") || strings.HasSuffix(num, ".") || !ok {
		return 0, fmt.Errorf("invalid size %q: want a number and a unit such as 256MiB, 1GiB or 512MB", orig)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid size %q: %v", orig, err)
	}
	v := f * mult
	if v > math.MaxInt64/2 {
		return 0, fmt.Errorf("invalid size %q: too large", orig)
	}
	if v != math.Trunc(v) {
		return 0, fmt.Errorf("invalid size %q: not a whole number of bytes", orig)
	}
	return int64(v), nil
}

// formatSize prints n in the largest binary unit that divides it.
func formatSize(n int64) string {
	for _, u := range []struct {
		s string
		v int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.v && n%u.v == 0 {
			return strconv.FormatInt(n/u.v, 10) + u.s
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}

// sizeFlag is a flag.Value for byte sizes.
type sizeFlag struct{ n *int64 }

func (f sizeFlag) String() string {
	if f.n == nil {
		return ""
	}
	return formatSize(*f.n)
}

func (f sizeFlag) Set(s string) error {
	n, err := parseSize(s)
	if err != nil {
		return err
	}
	*f.n = n
	return nil
}

// rateFlag is a flag.Value for a byte rate (a size per second) that can
// be switched off: "off" stores edge.NoClientBodyMinRate.
type rateFlag struct{ n *int64 }

func (f rateFlag) String() string {
	if f.n != nil && *f.n == edge.NoClientBodyMinRate {
		return "off"
	}
	return sizeFlag(f).String()
}

func (f rateFlag) Set(s string) error {
	if strings.EqualFold(strings.TrimSpace(s), "off") {
		*f.n = edge.NoClientBodyMinRate
		return nil
	}
	return sizeFlag(f).Set(s)
}

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// splitList splits a comma-separated list, trimming blanks and dropping empty entries.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// parseCIDRs parses a comma-separated list of CIDR prefixes or single addresses.
func parseCIDRs(name, s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, p := range splitList(s) {
		if strings.Contains(p, "/") {
			pfx, err := netip.ParsePrefix(p)
			if err != nil {
				return nil, usagef("--%s: %q is not a CIDR prefix (such as 10.0.0.0/8 or ::1/128)", name, p)
			}
			out = append(out, pfx.Masked())
			continue
		}
		a, err := netip.ParseAddr(p)
		if err != nil {
			return nil, usagef("--%s: %q is not an IP address or CIDR prefix", name, p)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// parseListenAddr checks a HOST:PORT listen address (host may be empty).
func parseListenAddr(name, s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return usagef("--%s: %q is not HOST:PORT (such as :8080 or 127.0.0.1:9080): %v", name, s, err)
	}
	if _, err := parsePort(port); err != nil {
		return usagef("--%s: %q: %v", name, s, err)
	}
	if strings.ContainsAny(host, " /") {
		return usagef("--%s: %q: bad host", name, s)
	}
	return nil
}

func parsePort(s string) (int, error) {
	p, err := strconv.Atoi(s)
	if err != nil || p < 0 || p > 65535 {
		return 0, fmt.Errorf("port %q is not a number from 0 to 65535", s)
	}
	return p, nil
}

// parseIPPort parses HOST:PORT where HOST is an IP address (or empty, which
// gives defHost), or a host name when names is set.
func parseIPPort(name, s, defHost string, names bool) (string, int, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, usagef("--%s: %q is not IP:PORT (such as 0.0.0.0:7946): %v", name, s, err)
	}
	if host == "" {
		host = defHost
	}
	if _, err := netip.ParseAddr(host); err != nil && !(names && validHostName(host)) {
		return "", 0, usagef("--%s: %q: %q is not an IP address", name, s, host)
	}
	p, err := parsePort(port)
	if err != nil {
		return "", 0, usagef("--%s: %q: %v", name, s, err)
	}
	return host, p, nil
}

// validHostName: letters, digits, '-' and '.', at most 253 bytes.
func validHostName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// parseOrigin checks an origin URL: absolute http(s), no query or fragment.
func parseOrigin(s string) (*url.URL, error) {
	if s == "" {
		return nil, usagef("--origin is required (the URL of the origin server, such as http://127.0.0.1:8070)")
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, usagef("--origin: %v", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usagef("--origin: %q is not an absolute http:// or https:// URL", s)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, usagef("--origin: %q must not carry a query, fragment or user info", s)
	}
	return u, nil
}

// checkToken refuses tokens the purge gate refuses: tokens that cannot
// travel in a header.
func checkToken(name, tok string) error {
	if err := purgegate.CheckToken(tok); err != nil {
		return usagef("%s: %v", name, err)
	}
	return nil
}

func positiveDuration(name string, d time.Duration) error {
	if d <= 0 {
		return usagef("--%s must be a positive duration (such as 30s)", name)
	}
	return nil
}

// newLogger builds a zap logger: format console|json, level debug|info|warn|error.
func newLogger(format, level string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil || lvl < zapcore.DebugLevel || lvl > zapcore.ErrorLevel {
		return nil, usagef("--log-level: %q is not one of debug, info, warn, error", level)
	}
	var cfg zap.Config
	switch format {
	case "json":
		cfg = zap.NewProductionConfig()
		cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
		cfg.Sampling = nil
	case "console":
		cfg = zap.NewDevelopmentConfig()
		cfg.Development = false
		cfg.DisableStacktrace = true
		cfg.EncoderConfig.EncodeTime = zapcore.TimeEncoderOfLayout("15:04:05.000")
		if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			cfg.EncoderConfig.EncodeLevel = zapcore.CapitalColorLevelEncoder
		}
	default:
		return nil, usagef("--log-format: %q is not one of console, json", format)
	}
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	cfg.OutputPaths, cfg.ErrorOutputPaths = []string{"stderr"}, []string{"stderr"}
	return cfg.Build()
}
