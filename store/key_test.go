package store

import (
	"math/rand/v2"
	"strings"
	"testing"
)

func TestKeyFor(t *testing.T) {
	cases := []struct {
		name, host, path, query, want string
	}{
		{"plain", "example.com", "/a", "", "example.com/a"},
		{"empty path", "example.com", "", "", "example.com/"},
		{"path without slash", "a.co", "m/x", "", "a.co/m/x"},
		{"host case", "ExAmPle.COM", "/A", "", "example.com/A"},
		{"path case kept", "example.com", "/Foo%2Fbar", "", "example.com/Foo%2Fbar"},
		{"port kept (NormalHost drops the default one)", "example.com:80", "/", "", "example.com:80/"},
		{"single param", "h", "/", "b=2", "h/?b=2"},
		{"sorted", "h", "/", "a=1&b=2", "h/?a=1&b=2"},
		{"unsorted", "h", "/", "b=2&a=1", "h/?a=1&b=2"},
		{"repeated names keep order", "h", "/", "a=2&b=1&a=1", "h/?a=2&a=1&b=1"},
		{"repeated names keep order 2", "h", "/", "a=1&a=2", "h/?a=1&a=2"},
		{"repeated names not sorted by value", "h", "/", "a=2&a=1", "h/?a=2&a=1"},
		{"name without value", "h", "/", "z&a", "h/?a&z"},
		{"prefix names", "h", "/", "a-b=1&a=2", "h/?a=2&a-b=1"},
		{"empty params kept", "h", "/", "b=1&&a=2", "h/?&a=2&b=1"},
		{"escaped kept", "h", "/", "q=%20x&a=b%26c", "h/?a=b%26c&q=%20x"},
		{"decoded names sorted", "h", "/", "b=1&%61=2", "h/?%61=2&b=1"},
		{"decoded name equal to a raw one keeps order", "h", "/", "%61=evil&a=good", "h/?%61=evil&a=good"},
		{"decoded name equal to a raw one keeps order 2", "h", "/", "a=good&%61=evil", "h/?a=good&%61=evil"},
		{"names equal but for case keep order", "h", "/", "b=1&a=2&A=3", "h/?a=2&A=3&b=1"},
		{"PHP's '.' and '_' keep order", "h", "/", "z&a.b=1&a_b=2", "h/?a.b=1&a_b=2&z"},
		{"plus and space keep order", "h", "/", "z&a+b=1&a%20b=2&a_b=3", "h/?a+b=1&a%20b=2&a_b=3&z"},
		{"leading space ignored", "h", "/", "b&%20a=1&a=2", "h/?%20a=1&a=2&b"},
		{"array parameters by base name", "h", "/", "b=1&a[y]=2&a[x]=3&a=4", "h/?a[y]=2&a[x]=3&a=4&b=1"},
		{"semicolon: left as sent", "h", "/", "b=1&a=2;b=3", "h/?b=1&a=2;b=3"},
		{"bad escape: left as sent", "h", "/", "b=1&%zz=2", "h/?b=1&%zz=2"},
		{"short escape: left as sent", "h", "/", "b=1&a%6=2", "h/?b=1&a%6=2"},
		{"non-ASCII name: left as sent", "h", "/", "b=1&%C3%A9=2", "h/?b=1&%C3%A9=2"},
		{"control byte: left as sent", "h", "/", "b=1&a%00=2", "h/?b=1&a%00=2"},
		{"unbalanced bracket: left as sent", "h", "/", "b=1&a[=2", "h/?b=1&a[=2"},
		{"bracket first: left as sent", "h", "/", "b=1&[a]=2", "h/?b=1&[a]=2"},
		{"escaped separators are name bytes", "h", "/", "b=1&a%26b=2", "h/?a%26b=2&b=1"},
	}
	for _, c := range cases {
		if got := KeyFor(c.host, c.path, c.query); got != c.want {
			t.Errorf("%s: KeyFor(%q, %q, %q) = %q, want %q", c.name, c.host, c.path, c.query, got, c.want)
		}
	}
}

// Every order of the same parameters that keeps repeated names in order
// gives the same key; swapping two values of one name gives another.
func TestKeyForPermutations(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	names := []string{"a", "a-b", "a_b", "ab", "b", "B", "a.b", "", "%61", "a[x]", "a[]", "a%20b", "a+b"}
	for range 2000 {
		n := 1 + r.IntN(7)
		var params []string
		for i := range n {
			params = append(params, names[r.IntN(len(names))]+"="+string(rune('0'+i)))
		}
		want := KeyFor("h", "/p", strings.Join(params, "&"))
		// A random interleaving that keeps the order within each name.
		shuffled := append([]string(nil), params...)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		byN := map[string][]string{}
		for _, p := range params {
			byN[readable(t, p)] = append(byN[readable(t, p)], p)
		}
		for i, p := range shuffled {
			nm := readable(t, p)
			shuffled[i], byN[nm] = byN[nm][0], byN[nm][1:]
		}
		if got := KeyFor("h", "/p", strings.Join(shuffled, "&")); got != want {
			t.Fatalf("%v → %q, but %v → %q", params, want, shuffled, got)
		}
	}
	if KeyFor("h", "/", "a=1&a=2") == KeyFor("h", "/", "a=2&a=1") {
		t.Fatal("values of a repeated name reordered")
	}
}

// readable is the name of parameter p as sortQuery compares it.
func readable(t *testing.T, p string) string {
	b, ok := readName(nil, paramName(p))
	if !ok {
		t.Fatalf("%q: not readable", p)
	}
	return string(b)
}

// Two hosts share a key only when they are one authority for the scheme
// the request came with: only that scheme's default port is dropped.
func TestNormalHost(t *testing.T) {
	cases := []struct{ scheme, host, want string }{
		{"http", "example.com", "example.com"},
		{"http", "ExAmPle.COM", "example.com"},
		{"http", "example.com:80", "example.com"},
		{"https", "EXAMPLE.com:443", "example.com"},
		{"http", "example.com:443", "example.com:443"},
		{"https", "example.com:80", "example.com:80"},
		{"http", "example.com:", "example.com"},
		{"https", "example.com:", "example.com"},
		{"http", "example.com:8080", "example.com:8080"},
		{"http", "example.com:080", "example.com:080"},
		{"https", "example.com:4430", "example.com:4430"},
		{"http", "[::1]:80", "[::1]"},
		{"https", "[::1]:80", "[::1]:80"},
		{"http", "[::1]:8080", "[::1]:8080"},
		{"http", "[::1]", "[::1]"},
		{"http", "::1", "::1"},
		{"", "example.com:80", "example.com:80"},
	}
	for _, c := range cases {
		if got := NormalHost(c.scheme, c.host); got != c.want {
			t.Errorf("NormalHost(%q, %q) = %q, want %q", c.scheme, c.host, got, c.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = NormalHost("http", "example.com:80") }); n != 0 {
		t.Errorf("NormalHost allocates %v", n)
	}
}

// Sorting a query in order costs nothing; a query that needs sorting costs
// its result only.
func TestSortQueryAllocs(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { _ = sortQuery("a=1&b=2&c%5B%5D=3&d") }); n != 0 {
		t.Errorf("sorted query: %v allocations", n)
	}
	if n := testing.AllocsPerRun(100, func() { _ = sortQuery("d&b=2&c%5B%5D=3&a=1") }); n != 1 {
		t.Errorf("unsorted query: %v allocations, want 1", n)
	}
}

func TestKeyForNoAllocWhenLowerCase(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { _ = lowerASCII("example.com") }); n != 0 {
		t.Fatalf("lowerASCII allocates %v", n)
	}
}

func TestPurgeKind(t *testing.T) {
	for want, p := range map[string]Purge{
		"all":    {All: true},
		"key":    {Keys: []string{"k"}},
		"url":    {URLs: []string{"h/p?"}},
		"mixed":  {Keys: []string{"k"}, URLs: []string{"h/p?"}},
		"before": {},
	} {
		if got := p.Kind(); got != want {
			t.Errorf("%+v: %q, want %q", p, got, want)
		}
	}
}
