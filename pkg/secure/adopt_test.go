package secure

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/opea-project/kubectl-opea/pkg/apply"
	"github.com/opea-project/kubectl-opea/pkg/ownership"
)

// withMeta is a PeerAuthentication (or, with kind Namespace, a namespace)
// named name, with labels and annotations, in mode.
func withMeta(kind, name, mode string, labels, annotations map[string]string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]interface{}{"apiVersion": "security.istio.io/v1", "kind": kind,
		"spec": map[string]interface{}{"mtls": map[string]interface{}{"mode": mode}}}}
	if kind == "Namespace" {
		u = &unstructured.Unstructured{Object: map[string]interface{}{"apiVersion": "v1", "kind": kind}}
		u.SetLabels(map[string]string{"istio.io/dataplane-mode": mode})
	}
	u.SetName(name)
	if labels != nil {
		all := u.GetLabels()
		if all == nil {
			all = map[string]string{}
		}
		for k, v := range labels {
			all[k] = v
		}
		u.SetLabels(all)
	}
	u.SetAnnotations(annotations)
	return u
}

// An object secure did not create, or marked adopted before, is adopted
// (unsecure then leaves it); a new one, one of secure's own and the
// namespace are not.
func TestMarkAdopted(t *testing.T) {
	ours := ownership.Labels("chatqna")
	adopted := map[string]string{ownership.AdoptedAnnotation: "true"}
	for _, tc := range []struct {
		name     string
		existing *unstructured.Unstructured
		kind     string
		want     bool
	}{
		{name: "new", want: false},
		{name: "the user's", existing: withMeta("PeerAuthentication", "default", "PERMISSIVE", nil, nil), want: true},
		{name: "secure's own", existing: withMeta("PeerAuthentication", "default", "STRICT", ours, nil), want: false},
		{name: "adopted earlier, secure's labels since", existing: withMeta("PeerAuthentication", "default", "STRICT", ours, adopted), want: true},
		{name: "the namespace", kind: "Namespace", existing: withMeta("Namespace", "chatqna", "none", nil, nil), want: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kind := tc.kind
			if kind == "" {
				kind = "PeerAuthentication"
			}
			obj := withMeta(kind, "default", "STRICT", ours, nil)
			markAdopted([]*unstructured.Unstructured{obj}, []apply.Checked{{Existing: tc.existing}})
			if got := obj.GetAnnotations()[ownership.AdoptedAnnotation] == "true"; got != tc.want {
				t.Errorf("adopted %v, want %v (annotations %v)", got, tc.want, obj.GetAnnotations())
			}
		})
	}
}

// What a forced apply takes over is recorded on the namespace and on
// adopted objects, merged with what earlier runs recorded; secure's own
// objects, deleted by unsecure, get no record; a record that is not
// secure's refuses.
func TestRecordTakeovers(t *testing.T) {
	ours := ownership.Labels("chatqna")
	adopted := map[string]string{ownership.AdoptedAnnotation: "true"}
	earlier, err := apply.EncodeTakeovers([]apply.Takeover{{Path: []string{"metadata", "labels", "team"}, Manager: "helm", Value: "a"}})
	if err != nil {
		t.Fatal(err)
	}
	modeConflict := []apply.Conflict{{Field: ".spec.mtls.mode", Manager: "kubectl-edit"}}
	for _, tc := range []struct {
		name      string
		obj       *unstructured.Unstructured
		existing  *unstructured.Unstructured
		conflicts []apply.Conflict
		want      []apply.Takeover
		wantErr   string
	}{
		{name: "an adopted object", obj: withMeta("PeerAuthentication", "default", "STRICT", ours, adopted),
			existing: withMeta("PeerAuthentication", "default", "PERMISSIVE", nil, nil), conflicts: modeConflict,
			want: []apply.Takeover{{Path: []string{"spec", "mtls", "mode"}, Manager: "kubectl-edit", Value: "PERMISSIVE"}}},
		{name: "earlier records are kept", obj: withMeta("PeerAuthentication", "default", "STRICT", ours, adopted),
			existing: withMeta("PeerAuthentication", "default", "PERMISSIVE", nil, map[string]string{ownership.TakeoversAnnotation: earlier}), conflicts: modeConflict,
			want: []apply.Takeover{
				{Path: []string{"metadata", "labels", "team"}, Manager: "helm", Value: "a"},
				{Path: []string{"spec", "mtls", "mode"}, Manager: "kubectl-edit", Value: "PERMISSIVE"},
			}},
		{name: "the namespace", obj: withMeta("Namespace", "chatqna", "ambient", ours, nil),
			existing:  withMeta("Namespace", "chatqna", "none", nil, nil),
			conflicts: []apply.Conflict{{Field: ".metadata.labels.istio.io/dataplane-mode", Manager: "kubectl-label"}},
			want:      []apply.Takeover{{Path: []string{"metadata", "labels", "istio.io/dataplane-mode"}, Manager: "kubectl-label", Value: "none"}}},
		{name: "secure's own object", obj: withMeta("PeerAuthentication", "default", "STRICT", ours, nil),
			existing: withMeta("PeerAuthentication", "default", "PERMISSIVE", ours, nil), conflicts: modeConflict},
		{name: "nothing taken over", obj: withMeta("PeerAuthentication", "default", "STRICT", ours, adopted),
			existing: withMeta("PeerAuthentication", "default", "STRICT", nil, nil)},
		{name: "an edited record", obj: withMeta("PeerAuthentication", "default", "STRICT", ours, adopted),
			existing:  withMeta("PeerAuthentication", "default", "PERMISSIVE", nil, map[string]string{ownership.TakeoversAnnotation: `[{"path":["status"],"manager":"x","value":1}]`}),
			conflicts: modeConflict, wantErr: "annotation " + ownership.TakeoversAnnotation + " is not what kubectl opea secure records"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := recordTakeovers([]*unstructured.Unstructured{tc.obj}, []apply.Checked{{Existing: tc.existing, Conflicts: tc.conflicts}})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := apply.DecodeTakeovers(tc.obj.GetAnnotations()[ownership.TakeoversAnnotation])
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("recorded (-want +got):\n%s", diff)
			}
		})
	}
}
