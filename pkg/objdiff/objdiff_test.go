package objdiff

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func gateway(hosts ...interface{}) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "networking.istio.io/v1",
		"kind":       "Gateway",
		"metadata": map[string]interface{}{
			"name": "opea-ingress", "namespace": "chatqna",
			"resourceVersion": "12", "uid": "u-1", "generation": int64(2), "creationTimestamp": "2026-01-01T00:00:00Z",
			"managedFields": []interface{}{map[string]interface{}{"manager": "kubectl-opea"}},
		},
		"spec":   map[string]interface{}{"servers": []interface{}{map[string]interface{}{"hosts": hosts}}},
		"status": map[string]interface{}{"note": "written by a controller"},
	}}
}

func TestWriteShowsTheChangedLinesUnderKubectlDiffHeaders(t *testing.T) {
	live := gateway("a.example.com")
	merged := gateway("b.example.com")
	merged.SetResourceVersion("13")
	merged.SetGeneration(3)
	var out bytes.Buffer
	changed, err := Write(&out, live, merged)
	if err != nil || !changed {
		t.Fatalf("changed %v, err %v", changed, err)
	}
	want := `diff -u -N LIVE/networking.istio.io.v1.Gateway.chatqna.opea-ingress MERGED/networking.istio.io.v1.Gateway.chatqna.opea-ingress
--- LIVE/networking.istio.io.v1.Gateway.chatqna.opea-ingress
+++ MERGED/networking.istio.io.v1.Gateway.chatqna.opea-ingress
@@ -6,4 +6,4 @@
 spec:
   servers:
   - hosts:
-    - a.example.com
+    - b.example.com
`
	if d := cmp.Diff(want, out.String()); d != "" {
		t.Errorf("diff (-want +got):\n%s", d)
	}
}

func TestWriteIgnoresBookkeepingAndStatus(t *testing.T) {
	live := gateway("a.example.com")
	merged := gateway("a.example.com")
	merged.SetResourceVersion("99")
	merged.SetGeneration(7)
	merged.SetUID("other")
	merged.Object["status"] = map[string]interface{}{"note": "changed"}
	var out bytes.Buffer
	changed, err := Write(&out, live, merged)
	if err != nil || changed || out.Len() != 0 {
		t.Errorf("changed %v, err %v, printed %q", changed, err, out.String())
	}
}

func TestWriteShowsACreationAsAdditionsAndADeletionAsRemovals(t *testing.T) {
	obj := gateway("a.example.com")
	var created, deleted bytes.Buffer
	if changed, err := Write(&created, nil, obj); err != nil || !changed {
		t.Fatalf("creation: changed %v, err %v", changed, err)
	}
	if changed, err := Write(&deleted, obj, nil); err != nil || !changed {
		t.Fatalf("deletion: changed %v, err %v", changed, err)
	}
	for _, tc := range []struct {
		out        string
		hunk, sign string
	}{{created.String(), "@@ -0,0 +1,9 @@", "+"}, {deleted.String(), "@@ -1,9 +0,0 @@", "-"}} {
		lines := strings.Split(strings.TrimSuffix(tc.out, "\n"), "\n")
		if lines[3] != tc.hunk {
			t.Errorf("hunk %q, want %q:\n%s", lines[3], tc.hunk, tc.out)
		}
		for _, l := range lines[4:] {
			if !strings.HasPrefix(l, tc.sign) {
				t.Errorf("line %q is not marked %s:\n%s", l, tc.sign, tc.out)
			}
		}
		for _, noise := range []string{"managedFields", "resourceVersion", "uid:", "generation", "creationTimestamp", "status"} {
			if strings.Contains(tc.out, noise) {
				t.Errorf("%s printed:\n%s", noise, tc.out)
			}
		}
	}
	if changed, err := Write(&created, nil, nil); changed || err != nil {
		t.Errorf("two absent objects differ: %v %v", changed, err)
	}
}

func secret(data map[string]interface{}) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "v1", "kind": "Secret",
		"metadata": map[string]interface{}{"name": "opea-chatqna-tls", "namespace": "istio-ingress"},
		"data":     data,
	}}
}

func TestWriteNeverPrintsSecretData(t *testing.T) {
	live := secret(map[string]interface{}{"tls.crt": "T0xEQ0VSVA==", "tls.key": "S0VZMQ==", "gone": "R09ORQ=="})
	merged := secret(map[string]interface{}{"tls.crt": "TkVXQ0VSVA==", "tls.key": "S0VZMQ==", "new": "TkVX"})
	var out bytes.Buffer
	if _, err := Write(&out, live, merged); err != nil {
		t.Fatal(err)
	}
	for _, value := range []string{"T0xEQ0VSVA==", "TkVXQ0VSVA==", "S0VZMQ==", "R09ORQ==", "TkVX"} {
		if strings.Contains(out.String(), value) {
			t.Errorf("the diff shows data %s:\n%s", value, out.String())
		}
	}
	for _, want := range []string{"-  tls.crt: '*** (before)'", "+  tls.crt: '*** (after)'", "   tls.key: '***'", "-  gone: '***'", "+  new: '***'"} {
		if !strings.Contains(out.String(), want+"\n") {
			t.Errorf("no line %q:\n%s", want, out.String())
		}
	}
	if live.Object["data"].(map[string]interface{})["tls.key"] != "S0VZMQ==" {
		t.Error("Write changed the object it was given")
	}
	var deleted bytes.Buffer
	if _, err := Write(&deleted, live, nil); err != nil || strings.Contains(deleted.String(), "S0VZMQ==") {
		t.Errorf("a deleted Secret's data printed (err %v):\n%s", err, deleted.String())
	}
}
