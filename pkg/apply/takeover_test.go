package apply

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func obj(m map[string]interface{}) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: m}
}

func TestTakeoversReadWhatTheFieldsHeld(t *testing.T) {
	desired := obj(map[string]interface{}{
		"apiVersion": "v1", "kind": "Namespace",
		"metadata": map[string]interface{}{"name": "chatqna", "labels": map[string]interface{}{
			"istio.io/dataplane-mode": "ambient", "istio.io": "x"}},
	})
	existing := obj(map[string]interface{}{
		"apiVersion": "v1", "kind": "Namespace",
		"metadata": map[string]interface{}{"name": "chatqna", "labels": map[string]interface{}{
			"istio.io/dataplane-mode": "none", "istio.io": "y", "team": "a"}},
	})
	got := Takeovers(desired, existing, []Conflict{
		{Field: ".metadata.labels.istio.io/dataplane-mode", Manager: "kubectl-label"},
	})
	want := []Takeover{{Path: []string{"metadata", "labels", "istio.io/dataplane-mode"}, Manager: "kubectl-label", Value: "none"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestTakeoversOfListElementsTakeTheWholeList(t *testing.T) {
	desired := obj(map[string]interface{}{"spec": map[string]interface{}{
		"servers": []interface{}{map[string]interface{}{"port": int64(443)}},
		"mtls":    map[string]interface{}{"mode": "STRICT"},
	}})
	existing := obj(map[string]interface{}{"spec": map[string]interface{}{
		"servers": []interface{}{map[string]interface{}{"port": int64(8443)}},
		"mtls":    map[string]interface{}{"mode": "PERMISSIVE"},
	}})
	got := Takeovers(desired, existing, []Conflict{
		{Field: ".spec.servers[port=8443].port", Manager: "a"},
		{Field: ".spec.mtls.mode", Manager: "b"},
		{Field: ".spec.unknown", Manager: "c"}, // not a field the apply sets
	})
	want := []Takeover{
		{Path: []string{"spec", "mtls", "mode"}, Manager: "b", Value: "PERMISSIVE"},
		{Path: []string{"spec", "servers"}, Manager: "a", Value: []interface{}{map[string]interface{}{"port": int64(8443)}}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got := Takeovers(desired, nil, []Conflict{{Field: ".spec.mtls.mode"}}); got != nil {
		t.Errorf("a new object takes nothing over: %v", got)
	}
}

func TestMergeTakeoversKeepsTheFirstRecordAndRoundTrips(t *testing.T) {
	mode := []string{"spec", "mtls", "mode"}
	first := []Takeover{{Path: mode, Manager: "platform", Value: "PERMISSIVE"}}
	later := []Takeover{
		{Path: mode, Manager: "other", Value: "DISABLE"},
		{Path: []string{"metadata", "labels", "a"}, Manager: "m", Value: "b"},
	}
	merged := MergeTakeovers(first, later)
	want := []Takeover{
		{Path: []string{"metadata", "labels", "a"}, Manager: "m", Value: "b"},
		{Path: mode, Manager: "platform", Value: "PERMISSIVE"},
	}
	if diff := cmp.Diff(want, merged); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	s, err := EncodeTakeovers(merged)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeTakeovers(s)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if ts, err := DecodeTakeovers(""); ts != nil || err != nil {
		t.Errorf("empty annotation: %v %v", ts, err)
	}
	if _, err := DecodeTakeovers("{not json"); err == nil {
		t.Error("a damaged annotation must be an error, not nothing to give back")
	}
}

// A take-over record is read back only as secure writes it: anyone who may
// patch the object can edit the annotation, and unsecure gives each value
// back as its manager.
func TestDecodeTakeoversRefusesWhatSecureDoesNotWrite(t *testing.T) {
	for _, tc := range []struct{ record, want string }{
		{`{"path":["spec"],"manager":"m","value":1}`, "not a JSON list"},
		{`[{"path":["spec","mtls","mode"],"manager":"m","value":"STRICT","extra":1}]`, `unknown field "extra"`},
		{`[{"path":["spec","mtls","mode"],"manager":"m","value":"STRICT"}] []`, "text after the list"},
		{`[{"path":[],"manager":"m","value":"x"}]`, "entry 1: path [] is empty"},
		{`[{"path":["spec",""],"manager":"m","value":"x"}]`, "has an empty key"},
		{`[{"path":["metadata","name"],"manager":"m","value":"x"}]`, "entry 1: path metadata.name is no field an apply takes over"},
		{`[{"path":["status","conditions"],"manager":"m","value":[]}]`, "path status.conditions is no field"},
		{`[{"path":["metadata","managedFields"],"manager":"m","value":[]}]`, "path metadata.managedFields is no field"},
		{`[{"path":["spec","mtls","mode"],"manager":"","value":"STRICT"}]`, `entry 1: manager "" is empty`},
		{`[{"path":["spec","mtls","mode"],"manager":"a\nb","value":"STRICT"}]`, "unprintable character U+000A"},
		{`[{"path":["spec","mtls","mode"],"manager":"` + strings.Repeat("m", 129) + `","value":"STRICT"}]`, "is 129 bytes long, more than the API server's 128"},
		{`[{"path":["spec","mtls","mode"],"manager":"m"}]`, "has no value to give back"},
		{`[{"path":["spec","mtls","mode"],"manager":"m","value":"A"},{"path":["spec","mtls","mode"],"manager":"n","value":"B"}]`, "entry 2: path spec.mtls.mode recorded twice"},
	} {
		ts, err := DecodeTakeovers(tc.record)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("DecodeTakeovers(%s) = %v, %v; want an error with %q", tc.record, ts, err, tc.want)
		}
		if ts != nil {
			t.Errorf("DecodeTakeovers(%s) returned %v with its error", tc.record, ts)
		}
	}
	ok := `[{"path":["spec"],"manager":"argocd","value":{}},{"path":["metadata","labels","istio.io/dataplane-mode"],"manager":"kubectl-label","value":"none"}]`
	if ts, err := DecodeTakeovers(ok); err != nil || len(ts) != 2 {
		t.Errorf("DecodeTakeovers(%s) = %v, %v", ok, ts, err)
	}
}

func TestOwnsAndAppliers(t *testing.T) {
	o := obj(map[string]interface{}{"metadata": map[string]interface{}{"name": "n"}})
	o.SetManagedFields([]metav1.ManagedFieldsEntry{
		{Manager: "kubectl-opea", Operation: metav1.ManagedFieldsOperationApply, FieldsV1: fields(`{"f:metadata":{"f:labels":{"f:istio.io/dataplane-mode":{}}}}`)},
		{Manager: "gitops", Operation: metav1.ManagedFieldsOperationApply, FieldsV1: fields(`{"f:metadata":{"f:labels":{"f:istio.io/dataplane-mode":{},"f:team":{}}}}`)},
		{Manager: "kubectl-label", Operation: metav1.ManagedFieldsOperationUpdate, FieldsV1: fields(`{"f:metadata":{"f:labels":{"f:team":{}}}}`)},
	})
	label := []string{"metadata", "labels", "istio.io/dataplane-mode"}
	team := []string{"metadata", "labels", "team"}
	for _, tc := range []struct {
		manager string
		path    []string
		want    bool
	}{
		{"kubectl-opea", label, true},
		{"kubectl-opea", team, false},
		{"gitops", team, true},
		{"kubectl-label", team, false}, // an update, not an apply
		{"nobody", label, false},
	} {
		if got := Owns(o, tc.manager, tc.path); got != tc.want {
			t.Errorf("Owns(%s, %v) = %v", tc.manager, tc.path, got)
		}
	}
	if diff := cmp.Diff([]string{"kubectl-opea", "gitops"}, Appliers(o, label)); diff != "" {
		t.Errorf("Appliers (-want +got):\n%s", diff)
	}
}

func fields(raw string) *metav1.FieldsV1 {
	f := &metav1.FieldsV1{}
	f.SetRawString(raw)
	return f
}

func TestOwnsOnly(t *testing.T) {
	label := []string{"metadata", "labels", "istio.io/dataplane-mode"}
	annotation := []string{"metadata", "annotations", "opea.dev/taken-over"}
	for _, tc := range []struct {
		name, fields string
		want         bool
	}{
		{"the label alone", `{"f:metadata":{"f:labels":{"f:istio.io/dataplane-mode":{}}}}`, true},
		{"the label and the annotation, maps marked set", `{"f:metadata":{".":{},"f:labels":{".":{},"f:istio.io/dataplane-mode":{}},"f:annotations":{"f:opea.dev/taken-over":{}}}}`, true},
		{"another label too", `{"f:metadata":{"f:labels":{"f:istio.io/dataplane-mode":{},"f:team":{}}}}`, false},
		{"a spec field", `{"f:metadata":{"f:labels":{"f:istio.io/dataplane-mode":{}}},"f:spec":{"f:finalizers":{}}}`, false},
		{"a list element", `{"f:metadata":{"f:labels":{"f:istio.io/dataplane-mode":{}}},"f:spec":{"k:{\"name\":\"a\"}":{}}}`, false},
	} {
		o := obj(map[string]interface{}{"metadata": map[string]interface{}{"name": "n"}})
		o.SetManagedFields([]metav1.ManagedFieldsEntry{
			{Manager: "gitops", Operation: metav1.ManagedFieldsOperationApply, FieldsV1: fields(tc.fields)},
			{Manager: "other", Operation: metav1.ManagedFieldsOperationApply, FieldsV1: fields(`{"f:spec":{}}`)},
		})
		if got := OwnsOnly(o, "gitops", [][]string{label, annotation}); got != tc.want {
			t.Errorf("%s: OwnsOnly = %v, want %v", tc.name, got, tc.want)
		}
	}
}
