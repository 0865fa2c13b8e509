package istio

import (
	"slices"
	"strings"
	"testing"
)

// FuzzParsePrincipal checks that a principal ParsePrincipal accepts names
// exactly one workload identity: it is rebuilt from its parts, holds no
// wildcard, and nothing that would split or change it where secure
// records it (a comma joins the recorded callers) or where ztunnel
// matches it.
func FuzzParsePrincipal(f *testing.F) {
	for _, seed := range []string{
		"cluster.local/ns/monitoring/sa/prometheus",
		"example.org/ns/a/sa/b.c",
		"*", "cluster.local/ns/*/sa/x", "*/ns/a/sa/b", "cluster.local/ns/a/sa/b*",
		"cluster.local/ns/a/sa/b,cluster.local/ns/c/sa/d", " cluster.local/ns/a/sa/b",
		"spiffe://cluster.local/ns/a/sa/b", "cluster.local/ns//sa/b", "cluster.local/ns/A/sa/b",
		"cluster.local/sa/a/ns/b", "cluster.local/ns/a/sa/b/",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, p string) {
		td, ns, sa, err := ParsePrincipal(p)
		if err != nil {
			if err.Error() == "" {
				t.Errorf("ParsePrincipal(%q): an empty error", p)
			}
			return
		}
		if got := Principal(td, ns, sa); got != p {
			t.Errorf("ParsePrincipal(%q) = %q %q %q, which make %q", p, td, ns, sa, got)
		}
		if strings.ContainsAny(p, "*, \t\r\n") || strings.HasPrefix(p, "spiffe:") {
			t.Errorf("ParsePrincipal(%q) accepted a wildcard, separator, space or scheme", p)
		}
		for _, part := range []string{td, ns, sa} {
			if part == "" || strings.Contains(part, "/") {
				t.Errorf("ParsePrincipal(%q): part %q is empty or holds a slash", p, part)
			}
		}
		if list, err := ParsePrincipalList(p); err != nil || !slices.Equal(list, []string{p}) {
			t.Errorf("ParsePrincipalList(%q) = %q, %v; want the one principal", p, list, err)
		}
	})
}

// FuzzParsePrincipalList checks the reader of the recorded callers: what it
// accepts is every entry, each one ParsePrincipal accepts, once, and it
// reads back the same when secure records it again; what it refuses holds
// an entry the flag would have refused.
func FuzzParsePrincipalList(f *testing.F) {
	for _, seed := range []string{
		"", "cluster.local/ns/monitoring/sa/prometheus",
		"cluster.local/ns/monitoring/sa/prometheus,cluster.local/ns/monitoring/sa/prometheus",
		"cluster.local/ns/a/sa/b,example.org/ns/c/sa/d",
		"*,cluster.local/ns/a/sa/b", ",", "cluster.local/ns/a/sa/b,", "cluster.local/ns/a/sa/b, cluster.local/ns/c/sa/d",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, list string) {
		got, err := ParsePrincipalList(list)
		var entries []string
		if list != "" {
			entries = strings.Split(list, ",")
		}
		if err != nil {
			bad := slices.ContainsFunc(entries, func(e string) bool {
				_, _, _, perr := ParsePrincipal(e)
				return e == "" || perr != nil
			})
			if !bad {
				t.Errorf("ParsePrincipalList(%q) refused a list of valid principals: %v", list, err)
			}
			if got != nil {
				t.Errorf("ParsePrincipalList(%q) returned %q with its error", list, got)
			}
			return
		}
		for _, e := range entries {
			if !slices.Contains(got, e) {
				t.Errorf("ParsePrincipalList(%q) dropped %q", list, e)
			}
		}
		for i, p := range got {
			if _, _, _, err := ParsePrincipal(p); err != nil {
				t.Errorf("ParsePrincipalList(%q) accepted %q: %v", list, p, err)
			}
			if slices.Contains(got[:i], p) {
				t.Errorf("ParsePrincipalList(%q) holds %q twice", list, p)
			}
		}
		again, err := ParsePrincipalList(strings.Join(got, ","))
		if err != nil || !slices.Equal(again, got) {
			t.Errorf("recorded again, %q reads back as %q, %v", got, again, err)
		}
	})
}
