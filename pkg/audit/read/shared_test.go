package read

import (
	"testing"
	"unsafe"
)

func TestSharedStringsShareEqualSetsOnly(t *testing.T) {
	h := newSharedStrings()
	first := h.labels(map[string]string{"app": "worker", "tier": "back"})
	same := h.labels(map[string]string{"tier": "back", "app": "worker"})
	if len(same) != 2 || !sameMap(first, same) {
		t.Fatalf("equal label sets were not shared: %v, %v", first, same)
	}
	for _, other := range []map[string]string{
		{"app": "worker"},
		{"app": "worker", "tier": "front"},
		// The same bytes, cut differently: a separator byte inside a
		// value must not make two sets one.
		{"a": "b\x00c", "d": "e"},
		{"a": "b", "c\x00d": "e"},
	} {
		got := h.labels(other)
		if sameMap(got, first) || len(got) != len(other) {
			t.Errorf("labels(%q) = %q, want a map of its own", other, got)
		}
		for k, v := range other {
			if got[k] != v {
				t.Errorf("labels(%q)[%q] = %q, want %q", other, k, got[k], v)
			}
		}
	}
	if h.labels(map[string]string{}) != nil || h.labels(nil) != nil {
		t.Error("an empty set should be nil")
	}
	a, b := string([]byte("opea-b-001")), string([]byte("opea-b-001"))
	if unsafe.StringData(h.string(a)) != unsafe.StringData(a) || unsafe.StringData(h.string(b)) != unsafe.StringData(a) {
		t.Error("the second copy of a namespace name was not replaced by the first")
	}
}

// sameMap reports whether a and b are the same map, not merely equal ones.
func sameMap(a, b map[string]string) bool {
	if len(a) == 0 || len(b) == 0 {
		return false
	}
	const probe = "\x00probe"
	a[probe] = "x"
	_, shared := b[probe]
	delete(a, probe)
	return shared
}
