package config

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// schema indexes keys by path and knows the sections (mappings) above them.
type schema struct {
	keys     map[string]Key
	sections map[string]bool
}

func newSchema(keys []Key) schema {
	s := schema{keys: map[string]Key{}, sections: map[string]bool{}}
	for _, k := range keys {
		s.keys[k.Path] = k
		p := k.Path
		for i := strings.LastIndexByte(p, '.'); i >= 0; i = strings.LastIndexByte(p, '.') {
			p = p[:i]
			s.sections[p] = true
		}
	}
	return s
}

var (
	topSchema  = newSchema(Keys)
	siteSchema = newSchema(SiteKeys)
)

// parser collects a File and its errors.
type parser struct {
	f    *File
	errs Errors
}

func (p *parser) errf(line int, field, format string, args ...any) {
	p.errs.Add(p.f.Path, line, field, format, args...)
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

// Parse reads a configuration file's contents; path names it in errors.
// Every problem found is returned, each with its line. With problems in
// some keys, the File still holds the others (so that their values can be
// checked too); it is nil when the file could not be read as YAML.
func Parse(path string, data []byte) (*File, Errors) {
	p := &parser{f: &File{Path: path, Values: map[string]Value{}}}
	if len(data) > MaxFileSize {
		p.errf(0, "", "file is larger than %d bytes", MaxFileSize)
		return nil, p.errs
	}
	p.f.Lines = bytes.Count(data, []byte("\n"))
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if err.Error() == "EOF" {
			return p.f, nil // an empty file: every setting from flags, environment, defaults
		}
		line := 0
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			line, _ = strconv.Atoi(m[1])
		}
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		if m := yamlLine.FindStringIndex(msg); m != nil && m[0] == 0 {
			msg = strings.TrimPrefix(msg[m[1]:], ": ")
		}
		p.errf(line, "", "%s", msg)
		return nil, p.errs
	}
	var more yaml.Node
	if err := dec.Decode(&more); err == nil {
		p.errf(more.Line, "", "a second YAML document (one file, one document)")
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return p.f, p.errs
	}
	if !p.mapping(root, "") {
		return nil, p.errs
	}
	p.walk(root, "", "", topSchema, p.f.Values)
	return p.f, p.errs
}

// mapping reports whether n is a mapping (and may be walked), else errs.
func (p *parser) mapping(n *yaml.Node, field string) bool {
	if !p.plain(n, field) {
		return false
	}
	if n.Kind != yaml.MappingNode {
		p.errf(n.Line, field, "want a mapping (key: value lines)")
		return false
	}
	return true
}

// plain refuses anchors and aliases: the file's size bounds its work.
func (p *parser) plain(n *yaml.Node, field string) bool {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		p.errf(n.Line, field, "anchors and aliases are not supported")
		return false
	}
	return true
}

// walk reads the mapping n at section prefix (as in the schema) whose
// fields are named display+key in errors, into out. At the top (no prefix,
// no display) sites and tls have their own shapes.
func (p *parser) walk(n *yaml.Node, prefix, display string, sc schema, out map[string]Value) {
	top := prefix == "" && display == ""
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		if kn.Kind != yaml.ScalarNode {
			p.errf(kn.Line, display, "a key must be a plain name")
			continue
		}
		path := prefix + kn.Value
		field := display + kn.Value
		if seen[kn.Value] {
			p.errf(kn.Line, field, "duplicate key")
			continue
		}
		seen[kn.Value] = true
		switch {
		case top && path == "sites":
			p.sites(vn)
		case top && path == "tls":
			p.tls(vn)
		case sc.sections[path]:
			if p.mapping(vn, field) {
				p.walk(vn, path+".", field+".", sc, out)
			}
		default:
			k, ok := sc.keys[path]
			if !ok {
				p.errf(kn.Line, field, "unknown key")
				continue
			}
			if v, ok := p.value(vn, field, k.Kind); ok {
				out[k.Flag] = Value{Key: field, Flag: k.Flag, Text: v, Line: kn.Line}
			}
		}
	}
}

// value reads a scalar, or a list of scalars joined with ",".
func (p *parser) value(n *yaml.Node, field string, kind Kind) (string, bool) {
	if !p.plain(n, field) {
		return "", false
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return "", true
	}
	if kind == Scalar {
		if n.Kind != yaml.ScalarNode {
			p.errf(n.Line, field, "want a single value, not a list or mapping")
			return "", false
		}
		return n.Value, true
	}
	if n.Kind != yaml.SequenceNode {
		p.errf(n.Line, field, "want a list, such as [a, b]")
		return "", false
	}
	if len(n.Content) > MaxListItems {
		p.errf(n.Line, field, "more than %d items", MaxListItems)
		return "", false
	}
	items := make([]string, 0, len(n.Content))
	ok := true
	for _, it := range n.Content {
		if !p.plain(it, field) {
			ok = false
			continue
		}
		if it.Kind != yaml.ScalarNode || strings.Contains(it.Value, ",") || strings.TrimSpace(it.Value) == "" {
			p.errf(it.Line, field, "each item must be one non-empty value without a comma")
			ok = false
			continue
		}
		items = append(items, strings.TrimSpace(it.Value))
	}
	return strings.Join(items, ","), ok
}

func (p *parser) sites(n *yaml.Node) {
	if !p.plain(n, "sites") {
		return
	}
	if n.Kind != yaml.SequenceNode {
		p.errf(n.Line, "sites", "want a list of sites")
		return
	}
	if len(n.Content) > MaxSites {
		p.errf(n.Line, "sites", "more than %d sites", MaxSites)
		return
	}
	for i, sn := range n.Content {
		field := fmt.Sprintf("sites[%d]", i)
		if !p.mapping(sn, field) {
			continue
		}
		s := Site{Line: sn.Line, Values: map[string]Value{}}
		p.walk(sn, "", field+".", siteSchema, s.Values)
		p.f.Sites = append(p.f.Sites, s)
	}
}

func (p *parser) tls(n *yaml.Node) {
	if !p.mapping(n, "tls") {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		if kn.Value != "certificates" {
			p.errf(kn.Line, "tls."+kn.Value, "unknown key")
			continue
		}
		if !p.plain(vn, "tls.certificates") {
			continue
		}
		if vn.Kind != yaml.SequenceNode {
			p.errf(vn.Line, "tls.certificates", "want a list of {cert: FILE, key: FILE}")
			continue
		}
		if len(vn.Content) > MaxListItems {
			p.errf(vn.Line, "tls.certificates", "more than %d items", MaxListItems)
			continue
		}
		for j, cn := range vn.Content {
			field := fmt.Sprintf("tls.certificates[%d]", j)
			if !p.mapping(cn, field) {
				continue
			}
			c := Cert{Line: cn.Line}
			for k := 0; k+1 < len(cn.Content); k += 2 {
				ckn, cvn := cn.Content[k], cn.Content[k+1]
				v, ok := p.value(cvn, field+"."+ckn.Value, Scalar)
				switch {
				case !ok:
				case ckn.Value == "cert":
					c.Cert = v
				case ckn.Value == "key":
					c.Key = v
				default:
					p.errf(ckn.Line, field+"."+ckn.Value, "unknown key")
				}
			}
			if c.Cert == "" || c.Key == "" {
				p.errf(cn.Line, field, "both cert and key are required")
			}
			p.f.Certs = append(p.f.Certs, c)
		}
	}
}
