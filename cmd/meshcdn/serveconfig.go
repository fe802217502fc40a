package main

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/meshcdn/meshcdn/cmd/meshcdn/config"
	"github.com/meshcdn/meshcdn/edge"
)

// from is where a setting's value came from, in rising precedence.
type from int

const (
	fromDefault from = iota
	fromFile
	fromEnv
	fromFlag
)

// source is where one flag's value came from.
type source struct {
	from from
	file string
	line int
	key  string // the file's key, such as "sites[1].origin.url"
}

// serveSettings is serve's configuration, read from flags, environment
// (MESHCDN_<FLAG>) and the --config file, in that precedence.
type serveSettings struct {
	node                nodeConfig
	check               bool
	file                string // --config; "" = none
	logFormat, logLevel string
	warnings            []string          // to log once the logger runs (secret files' permissions)
	global              map[string]string // the global (not per-site) settings' values, by flag
}

// loadServe reads serve's settings. The returned settings are not nil
// whenever the flags parsed (check tells whether --check was given), even
// with an error; the error lists every problem (config.Errors, or a
// *usageError for a flag the parser refused).
func loadServe(args []string, getenv func(string) string) (*serveSettings, error) {
	fs, f := serveFlagSet()
	rest, err := parseFlags(fs, args)
	if err != nil {
		return nil, err
	}
	st := &serveSettings{check: f.check}
	if len(rest) > 0 {
		return st, usagef("serve: unexpected argument %q (flags start with --)", rest[0])
	}
	l := &loader{src: map[string]source{}, getenv: getenv}
	fs.Visit(func(fl *flag.Flag) { l.src[fl.Name] = source{from: fromFlag} })
	if _, ok := l.src["config"]; !ok {
		f.config = getenv(config.EnvName("config"))
	}
	st.file = f.config
	var file *config.File
	if f.config != "" {
		data, err := readBounded(f.config, config.MaxFileSize)
		if err != nil {
			return st, config.Errors{{File: f.config, Problem: err.Error()}}
		}
		var perrs config.Errors
		file, perrs = config.Parse(f.config, data)
		if file == nil {
			return st, perrs
		}
		for _, e := range perrs {
			l.add(e)
		}
	}
	l.overlay(fs, file)
	l.secret(fs, "purge-token", "purge-token-file", st)
	l.secret(fs, "gossip-key", "gossip-key-file", st)
	l.secret(fs, "shield-secret", "shield-secret-file", st)
	st.check = f.check
	st.logFormat, st.logLevel = f.logFormat, f.logLevel
	if _, err := newLogger(f.logFormat, f.logLevel); err != nil {
		l.place(err, l.src, nil)
	}
	st.global = map[string]string{}
	fs.VisitAll(func(fl *flag.Flag) {
		if !config.PerSite(fl.Name) && fl.Name != "config" && fl.Name != "check" {
			st.global[fl.Name] = fl.Value.String()
		}
	})

	var sites []nodeConfig
	var lines []int // each site's line in the file (0: flags)
	if file != nil && len(file.Sites) > 0 {
		sites, lines = l.fileSites(f, file)
	} else {
		c, err := nodeConfigFromFlags(f)
		l.place(err, l.src, nil)
		sites, lines = []nodeConfig{c}, []int{0}
	}
	if len(sites) > 0 {
		st.node = sites[0]
		st.node.ACMESites = acmeSites(sites)
		st.node.Sites = l.edgeSites(sites, lines, f.defaultSite, file)
		l.place(shieldSecretMissing(st.node), l.src, nil)
	}
	if len(l.errs) > 0 {
		sort.SliceStable(l.errs, func(i, j int) bool {
			a, b := l.errs[i], l.errs[j]
			return a.File < b.File || a.File == b.File && a.Line < b.Line
		})
		return st, l.errs
	}
	return st, nil
}

// loader accumulates the sources of the settings and every problem.
type loader struct {
	src    map[string]source
	getenv func(string) string
	errs   config.Errors
	seen   map[string]bool // errors already reported (global ones repeat per site)
}

// overlay sets the flags not given on the command line from the
// environment, else from the file.
func (l *loader) overlay(fs *flag.FlagSet, file *config.File) {
	fs.VisitAll(func(fl *flag.Flag) {
		if _, ok := l.src[fl.Name]; ok || fl.Name == "config" || fl.Name == "check" {
			return
		}
		env := config.EnvName(fl.Name)
		if v := l.getenv(env); v != "" {
			if err := fs.Set(fl.Name, v); err != nil {
				l.add(&config.Error{Field: env, Problem: setProblem(fl, v, err)})
				return
			}
			l.src[fl.Name] = source{from: fromEnv}
			return
		}
		if file != nil {
			if v, ok := file.Values[fl.Name]; ok {
				l.setFromFile(fs, file.Path, v, l.src)
			}
		}
	})
	if file == nil {
		return
	}
	for name, v := range file.Values {
		if fs.Lookup(name) == nil {
			l.add(&config.Error{File: file.Path, Line: v.Line, Field: v.Key, Problem: "not available in this build of meshcdn"})
		}
	}
	if len(file.Certs) > 0 {
		if fs.Lookup("tls-cert") == nil || fs.Lookup("tls-key") == nil {
			l.add(&config.Error{File: file.Path, Line: file.Certs[0].Line, Field: "tls.certificates", Problem: "not available in this build of meshcdn"})
			return
		}
		if l.src["tls-cert"].from >= fromEnv || l.src["tls-key"].from >= fromEnv {
			return // --tls-cert/--tls-key (or their variables) replace the file's list
		}
		for i, c := range file.Certs {
			for _, kv := range [...][2]string{{"tls-cert", c.Cert}, {"tls-key", c.Key}} {
				if err := fs.Set(kv[0], kv[1]); err != nil {
					l.add(&config.Error{File: file.Path, Line: c.Line, Field: fmt.Sprintf("tls.certificates[%d]", i), Problem: err.Error()})
				}
				l.src[kv[0]] = source{from: fromFile, file: file.Path, line: c.Line, key: fmt.Sprintf("tls.certificates[%d]", i)}
			}
		}
	}
}

func (l *loader) setFromFile(fs *flag.FlagSet, path string, v config.Value, src map[string]source) {
	if fs.Lookup(v.Flag) == nil {
		return // reported by overlay
	}
	if err := fs.Set(v.Flag, v.Text); err != nil {
		l.add(&config.Error{File: path, Line: v.Line, Field: v.Key, Problem: setProblem(fs.Lookup(v.Flag), v.Text, err)})
		return
	}
	src[v.Flag] = source{from: fromFile, file: path, line: v.Line, key: v.Key}
}

// secret reads the value of flag valFlag from the file fileFlag names,
// unless valFlag came from a source of higher precedence. The file is
// trimmed of surrounding white space; a file group or others may read is
// warned about.
func (l *loader) secret(fs *flag.FlagSet, valFlag, fileFlag string, st *serveSettings) {
	path := fs.Lookup(fileFlag).Value.String()
	if path == "" {
		return
	}
	vs, fsrc := l.src[valFlag], l.src[fileFlag]
	if vs.from > fsrc.from {
		return
	}
	if vs.from == fsrc.from && fs.Lookup(valFlag).Value.String() != "" {
		l.place(usagef("--%s: set either --%s or --%s", fileFlag, valFlag, fileFlag), l.src, nil)
		return
	}
	fi, err := os.Stat(path)
	if err == nil && fi.Mode().Perm()&0o077 != 0 {
		st.warnings = append(st.warnings, fmt.Sprintf("--%s %s may be read by group or others (mode %04o): chmod 600 it", fileFlag, path, fi.Mode().Perm()))
	}
	b, err := readBounded(path, 64<<10)
	if err != nil {
		l.place(usagef("--%s: %v", fileFlag, err), l.src, nil)
		return
	}
	if err := fs.Set(valFlag, strings.TrimSpace(string(b))); err != nil {
		l.place(usagef("--%s: %s: %v", fileFlag, path, err), l.src, nil)
		return
	}
	l.src[valFlag] = fsrc
}

// fileSites validates each entry of the file's sites: as the flags of one
// site: the global settings as read, then the site's keys. With one site,
// per-site flags and variables override its keys; with several they are
// refused (they would be ambiguous).
func (l *loader) fileSites(f *serveFlags, file *config.File) ([]nodeConfig, []int) {
	var given []string
	for name, s := range l.src {
		if config.PerSite(name) && s.from >= fromEnv {
			given = append(given, name)
		}
	}
	slices.Sort(given)
	if len(file.Sites) > 1 && len(given) > 0 {
		for _, name := range given {
			what := "--" + name
			if l.src[name].from == fromEnv {
				what = config.EnvName(name)
			}
			l.add(&config.Error{Field: what, Problem: fmt.Sprintf("a per-site setting, and %s has %d sites: set it under sites: in the file (per-site flags and variables apply only to a configuration with one site)", file.Path, len(file.Sites))})
		}
		return nil, nil
	}
	var out []nodeConfig
	var lines []int
	anyACME := false
	for _, fsite := range file.Sites {
		anyACME = anyACME || fsite.Values["tls"].Text == "acme"
	}
	for i, fsite := range file.Sites {
		field := fmt.Sprintf("sites[%d]", i)
		fs2, f2 := serveFlagSet()
		*f2 = *f // the global settings as read; the per-site ones are defaults or given
		f2.acmeElsewhere = anyACME
		src := maps(l.src)
		for _, v := range fsite.Values {
			if l.src[v.Flag].from >= fromEnv {
				continue // flag > environment > file
			}
			l.setFromFile(fs2, file.Path, v, src)
		}
		if _, named := fsite.Values["site-name"]; !named && len(file.Sites) > 1 {
			l.add(&config.Error{File: file.Path, Line: fsite.Line, Field: field + ".name", Problem: "required when there are several sites"})
		}
		c, err := nodeConfigFromFlags(f2)
		l.place(err, src, &config.Error{File: file.Path, Line: fsite.Line, Field: field})
		out = append(out, c)
		lines = append(lines, fsite.Line)
	}
	return out, lines
}

func maps(m map[string]source) map[string]source {
	out := make(map[string]source, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// edgeSites builds the edge's sites and checks them together: unique
// names and hosts, one default site, default_site naming a site.
func (l *loader) edgeSites(sites []nodeConfig, lines []int, defaultSite string, file *config.File) []*edge.Site {
	path := ""
	if file != nil {
		path = file.Path
	}
	out := make([]*edge.Site, len(sites))
	names := map[string]int{}
	hosts := map[string]string{}
	var def *edge.Site
	// keyLine is the line of a site's key in the file (else the site's).
	keyLine := func(i int, flag string) int {
		if file != nil && i < len(file.Sites) {
			if v, ok := file.Sites[i].Values[flag]; ok {
				return v.Line
			}
		}
		return lines[i]
	}
	for i, c := range sites {
		s := edgeSite(c)
		out[i] = s
		if j, dup := names[s.Name]; dup {
			l.add(&config.Error{File: path, Line: keyLine(i, "site-name"), Field: fmt.Sprintf("sites[%d].name", i), Problem: fmt.Sprintf("%q is also the name of sites[%d]", s.Name, j)})
		}
		names[s.Name] = i
		for _, h := range s.Hosts {
			k := strings.ToLower(strings.TrimSuffix(h, "."))
			if other, dup := hosts[k]; dup {
				l.add(&config.Error{File: path, Line: keyLine(i, "hosts"), Field: fmt.Sprintf("sites[%d].hosts", i), Problem: fmt.Sprintf("%q is also a host of site %q", h, other)})
			}
			hosts[k] = s.Name
		}
		if len(s.Hosts) == 0 && len(sites) > 1 {
			l.add(&config.Error{File: path, Line: lines[i], Field: fmt.Sprintf("sites[%d].hosts", i), Problem: "required when there are several sites (default_site names the one for other hosts)"})
		}
		if defaultSite != "" && s.Name == defaultSite {
			s.Default, def = true, s
		}
	}
	if defaultSite != "" && def == nil {
		l.place(usagef("--default-site: no site is named %q", defaultSite), l.src, nil)
	}
	if len(l.errs) == 0 {
		if err := edge.CheckSites(out); err != nil {
			l.add(&config.Error{File: path, Problem: err.Error()})
		}
	}
	return out
}

var leadingFlag = regexp.MustCompile(`^--([a-z0-9-]+)(: | )?`)

// place reports each problem of err at the source of the flag its
// message starts with: FILE:LINE: key for a file's value, the variable for
// the environment's. A per-site setting left at its default is placed at
// its site (site's File, Line and Field), when there is one.
func (l *loader) place(err error, src map[string]source, site *config.Error) {
	if err == nil {
		return
	}
	for _, e := range errorList(err) {
		msg := e.Error()
		m := leadingFlag.FindStringSubmatch(msg)
		if m == nil {
			l.add(&config.Error{Problem: msg})
			continue
		}
		name := m[1]
		problem := msg
		if m[2] != "" && !strings.HasPrefix(msg[len(m[0]):], "and ") {
			problem = msg[len(m[0]):] // the field says which setting
		}
		switch s := src[name]; {
		case s.from == fromFile:
			l.add(&config.Error{File: s.file, Line: s.line, Field: s.key, Problem: problem})
		case s.from == fromEnv:
			l.add(&config.Error{Field: config.EnvName(name), Problem: problem})
		case site != nil && config.PerSite(name) && s.from == fromDefault:
			l.add(&config.Error{File: site.File, Line: site.Line, Field: site.Field, Problem: msg})
		default:
			l.add(&config.Error{Problem: msg})
		}
	}
}

func (l *loader) add(e *config.Error) {
	if l.seen == nil {
		l.seen = map[string]bool{}
	}
	if k := e.Error(); !l.seen[k] && len(l.errs) < config.MaxErrors {
		l.seen[k] = true
		l.errs = append(l.errs, e)
	}
}

// summary is --check's line for valid settings.
func (st *serveSettings) summary() string {
	names := make([]string, len(st.node.Sites))
	for i, s := range st.node.Sites {
		names[i] = s.Name
	}
	where := "flags"
	if st.file != "" {
		where = st.file
	}
	return fmt.Sprintf("%s: ok: node %s, %d site(s) (%s), listen %s, admin %s", where, st.node.Name, len(names), strings.Join(names, ", "), st.node.Listen, st.node.Admin)
}

// setProblem says why a value does not fit a flag, by the flag's type
// (the flag package says only "parse error" for numbers and durations).
func setProblem(fl *flag.Flag, v string, err error) string {
	if g, ok := fl.Value.(flag.Getter); ok {
		switch g.Get().(type) {
		case time.Duration:
			return fmt.Sprintf("%q is not a duration (such as 30s, 5m, 1h)", v)
		case bool:
			return fmt.Sprintf("%q is not true or false", v)
		case int:
			return fmt.Sprintf("%q is not a whole number", v)
		}
	}
	return err.Error()
}
