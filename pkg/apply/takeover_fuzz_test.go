package apply

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzDecodeTakeovers checks the reader of the opea.dev/taken-over record
// on any text: it never panics, what it accepts passes ValidateTakeovers and
// reads back the same once secure records it again, and what it refuses
// comes back as nothing to give back.
func FuzzDecodeTakeovers(f *testing.F) {
	for _, seed := range []string{
		"",
		`[{"path":["spec","mtls","mode"],"manager":"platform","value":"PERMISSIVE"}]`,
		`[{"path":["metadata","labels","istio.io/dataplane-mode"],"manager":"kubectl-label","value":"none"},{"path":["spec"],"manager":"m","value":{}}]`,
		`[{"path":["spec","servers"],"manager":"a","value":[{"port":8443}]}]`,
		`[{"path":["metadata","name"],"manager":"m","value":"x"}]`,
		`[{"path":["spec"],"manager":"","value":1}]`,
		`null`, `[]`, `[null]`, `{}`, `[{"path":null}]`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, record string) {
		ts, err := DecodeTakeovers(record)
		if err != nil {
			if ts != nil {
				t.Errorf("DecodeTakeovers(%q) returned %v with its error", record, ts)
			}
			return
		}
		if err := ValidateTakeovers(ts); err != nil {
			t.Errorf("DecodeTakeovers(%q) accepted what ValidateTakeovers refuses: %v", record, err)
		}
		again, err := EncodeTakeovers(ts)
		if err != nil {
			t.Fatalf("EncodeTakeovers(%v): %v", ts, err)
		}
		back, err := DecodeTakeovers(again)
		if err != nil {
			t.Fatalf("recorded again as %q, it is refused: %v", again, err)
		}
		if len(ts) > 0 && !cmp.Equal(ts, back) {
			t.Errorf("recorded again, %v reads back as %v", ts, back)
		}
	})
}
