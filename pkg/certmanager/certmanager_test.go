package certmanager

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// A Ready condition counts only for the generation it was observed at.
func TestReadyNeedsTheCurrentGeneration(t *testing.T) {
	cert := func(generation, observed int64, status string) *unstructured.Unstructured {
		cond := map[string]interface{}{"type": "Ready", "status": status, "message": "Certificate is up to date and has not expired"}
		if observed != 0 {
			cond["observedGeneration"] = observed
		}
		u := &unstructured.Unstructured{Object: map[string]interface{}{"apiVersion": "cert-manager.io/v1", "kind": "Certificate"}}
		u.SetGeneration(generation)
		u.Object["status"] = map[string]interface{}{"conditions": []interface{}{cond}}
		return u
	}
	for _, tc := range []struct {
		name        string
		u           *unstructured.Unstructured
		wantReady   bool
		wantMessage string
	}{
		{"current", cert(2, 2, "True"), true, "Certificate is up to date"},
		{"stale after a spec change", cert(3, 2, "True"), false, "the Ready condition is for generation 2, the object is at 3"},
		{"no observedGeneration (older cert-manager)", cert(3, 0, "True"), true, "Certificate is up to date"},
		{"current, not Ready", cert(2, 2, "False"), false, "Certificate is up to date"},
	} {
		ready, message := Ready(tc.u)
		if ready != tc.wantReady || !strings.Contains(message, tc.wantMessage) {
			t.Errorf("%s: Ready = %v %q", tc.name, ready, message)
		}
	}
}
