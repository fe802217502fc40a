package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// raceSkippedTests finds the tests of the module that skip themselves under
// the race detector (an `if raceEnabled { t.Skip... }`), as package
// directory → test names.
func raceSkippedTests(t *testing.T, root string) map[string][]string {
	t.Helper()
	found := map[string][]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "bin") && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil || !strings.HasPrefix(fn.Name.Name, "Test") {
				continue
			}
			skips := false
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				ifs, ok := n.(*ast.IfStmt)
				if !ok {
					return true
				}
				if id, ok := ifs.Cond.(*ast.Ident); !ok || id.Name != "raceEnabled" {
					return true
				}
				ast.Inspect(ifs.Body, func(n ast.Node) bool {
					if sel, ok := n.(*ast.SelectorExpr); ok && strings.HasPrefix(sel.Sel.Name, "Skip") {
						skips = true
					}
					return true
				})
				return true
			})
			if skips {
				rel, _ := filepath.Rel(root, filepath.Dir(path))
				found[filepath.ToSlash(rel)] = append(found[filepath.ToSlash(rel)], fn.Name.Name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// `make test` (and .ci/run without make) runs everything with -race; the
// tests that skip under -race must then run once more without it, or CI
// never runs them.
func TestRaceSkippedTestsRunWithoutRace(t *testing.T) {
	root := filepath.Join("..", "..")
	found := raceSkippedTests(t, root)
	if len(found) == 0 {
		t.Fatal("found no test that skips under -race; is the search broken?")
	}
	makefile, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	ci, err := os.ReadFile(filepath.Join(root, ".ci", "run"))
	if err != nil {
		t.Fatal(err)
	}
	mTests := regexp.MustCompile(`(?m)^NORACE_TESTS\s*:?=\s*(\S+)\s*$`).FindSubmatch(makefile)
	mPkgs := regexp.MustCompile(`(?m)^NORACE_PKGS\s*:?=\s*(.+)$`).FindSubmatch(makefile)
	if mTests == nil || mPkgs == nil {
		t.Fatal("the Makefile defines no NORACE_TESTS / NORACE_PKGS")
	}
	if !regexp.MustCompile(`(?m)^\t\$\(GO\) test -count=1 -run '\$\(NORACE_TESTS\)' \$\(NORACE_PKGS\)$`).Match(makefile) {
		t.Error("the Makefile's test target does not run $(NORACE_TESTS) without -race")
	}
	pattern := strings.ReplaceAll(string(mTests[1]), "$$", "$")
	re, err := regexp.Compile(pattern)
	if err != nil {
		t.Fatalf("NORACE_TESTS %q: %v", pattern, err)
	}
	pkgs := strings.Fields(string(mPkgs[1]))
	ciLine := "go test -count=1 -run '" + pattern + "' " + strings.Join(pkgs, " ")
	if !strings.Contains(string(ci), ciLine) {
		t.Errorf(".ci/run lacks the line %q", ciLine)
	}
	var dirs []string
	for dir := range found {
		dirs = append(dirs, dir)
	}
	sort.Strings(dirs)
	for _, dir := range dirs {
		inPkgs := false
		for _, p := range pkgs {
			if strings.Trim(strings.TrimPrefix(p, "./"), "/") == dir {
				inPkgs = true
			}
		}
		for _, name := range found[dir] {
			if !inPkgs || !re.MatchString(name) {
				t.Errorf("%s.%s skips under -race but the no-race run (NORACE_TESTS %s in NORACE_PKGS %v) does not run it", dir, name, pattern, pkgs)
			} else {
				t.Logf("%s.%s: runs without -race", dir, name)
			}
		}
	}
}
