package apply

import (
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
