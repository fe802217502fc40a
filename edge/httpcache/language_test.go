package httpcache

import (
	"strings"
	"testing"
)

func TestNormalizeAcceptLanguage(t *testing.T) {
	tests := []struct {
		rfc, name string
		in        []string
		want      string
		ok        bool
	}{
		{"RFC 9110 §12.5.4", "browser value unchanged", []string{"en-US,en;q=0.9"}, "en-US,en;q=0.9", true},
		{"RFC 4647 §2.1", "tags are case-insensitive", []string{"EN-us,EN;Q=0.9"}, "en-US,en;q=0.9", true},
		{"RFC 9110 §5.6.1", "list whitespace", []string{" en-US , en ; q=0.9 ,"}, "en-US,en;q=0.9", true},
		{"RFC 9110 §5.6.1", "several lines are one list", []string{"en-US", "en;q=0.9"}, "en-US,en;q=0.9", true},
		{"RFC 5646 §2.1.1", "script title case, region upper case", []string{"ZH-HANT-tw"}, "zh-Hant-TW", true},
		{"RFC 5646 §2.1.1", "numeric region", []string{"es-419"}, "es-419", true},
		{"RFC 5646 §2.1.1", "after a singleton all lower case", []string{"EN-X-AB-Abcd"}, "en-x-ab-abcd", true},
		{"RFC 4647 §2.1", "wildcard", []string{"*;q=0.1, fr"}, "*;q=0.1,fr", true},
		{"RFC 9110 §12.5.4", "empty", []string{""}, "", true},
		{"RFC 9110 §12.5.4", "absent", nil, "", true},
		{"RFC 4647 §2.1", "space inside a tag is not normalised", []string{"f r"}, "", false},
		{"RFC 4647 §2.1", "subtag longer than 8", []string{"en-abcdefghi"}, "", false},
		{"RFC 4647 §2.1", "digit in the primary subtag", []string{"e1"}, "", false},
		{"RFC 4647 §2.1", "empty subtag", []string{"en--us"}, "", false},
		{"RFC 9110 §12.4.2", "bad weight", []string{"en;q=2"}, "", false},
		{"RFC 9110 §12.4.2", "space in the weight", []string{"en;q= 0.5"}, "", false},
		{"RFC 9110 §12.4.2", "other parameter", []string{"en;level=1"}, "", false},
		{"hostile input", "control byte", []string{"en\n"}, "", false},
		{"hostile input", "percent", []string{"en%0A"}, "", false},
		{"hostile input", "too many members", []string{strings.Repeat("en,", 65)}, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.rfc+"/"+tc.name, func(t *testing.T) {
			got, ok := NormalizeAcceptLanguage(tc.in)
			if got != tc.want || ok != tc.ok {
				t.Errorf("NormalizeAcceptLanguage(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
			}
			b, ok2 := AppendAcceptLanguage([]byte("x"), tc.in)
			if ok2 != tc.ok || ok2 && string(b) != "x"+tc.want || !ok2 && string(b) != "x" {
				t.Errorf("AppendAcceptLanguage(%q) = %q, %v", tc.in, b, ok2)
			}
		})
	}
}

func TestAcceptLanguageAllocs(t *testing.T) {
	buf := make([]byte, 0, 256)
	in := []string{"EN-us, en;q=0.9, fr-FR;q=0.8"}
	if n := testing.AllocsPerRun(100, func() { AppendAcceptLanguage(buf[:0], in) }); n != 0 {
		t.Errorf("AppendAcceptLanguage allocates %v times", n)
	}
}
