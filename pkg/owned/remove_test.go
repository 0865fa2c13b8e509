package owned

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/opea-project/kubectl-opea/pkg/desired"
	"github.com/opea-project/kubectl-opea/pkg/ownership"
)

func TestFoundNothing(t *testing.T) {
	ns := namespace(app)
	tests := []struct {
		name  string
		found Found
		want  bool
	}{
		{"nothing found", Found{}, true},
		{"only objects left alone", Found{LeftAlone: []Note{{"gateway.networking.istio.io/opea-ingress", notBy}}}, true},
		{"only the namespace as read", Found{NamespaceObject: ns, Managers: secureManager}, true},
		{"the namespace missing", Found{NamespaceMissing: true}, true},
		{"an object to remove", Found{Remove: one(virtualService(ours(app)))}, false},
		{"an object to keep", Found{Keep: one(gateway(ours(app), adoptedObject))}, false},
		{"the namespace label to release", Found{Namespace: ns, NamespaceObject: ns}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.found.Nothing(); got != tc.want {
				t.Errorf("Nothing() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFoundPlan(t *testing.T) {
	ns := namespace(app, ambient(ownership.ManagedByValue, applyOp))
	tests := []struct {
		name  string
		found Found
		want  []Step
	}{
		{"nothing", Found{NamespaceObject: ns}, nil},
		{
			name: "deletions in order, then the kept objects, then the namespace",
			found: Found{
				Remove: one(virtualService(ours(app)), certificate(gwNS, "opea-chatqna-ca", ours(app)),
					issuer(gwNS, "opea-chatqna-selfsigned", ours(app)), secret(gwNS, "opea-chatqna-ca", ours(app))),
				Keep:            one(gateway(ours(app), adoptedObject), peerAuthentication(ours(app), adoptedObject)),
				Namespace:       ns,
				NamespaceObject: ns,
				LeftAlone:       []Note{{"secret/other in namespace istio-system", "not written by cert-manager for certificate opea-chatqna-tls"}},
			},
			want: []Step{
				{"virtualservice.networking.istio.io/opea-ingress", "deleted"},
				{"certificate.cert-manager.io/opea-chatqna-ca", "deleted"},
				{"issuer.cert-manager.io/opea-chatqna-selfsigned", "deleted"},
				{"secret/opea-chatqna-ca", "deleted"},
				{"gateway.networking.istio.io/opea-ingress", keptWhy},
				{"peerauthentication.security.istio.io/default", keptWhy},
				{"namespace/chatqna", "label istio.io/dataplane-mode released"},
			},
		},
		{
			name:  "only the namespace",
			found: Found{Namespace: ns, NamespaceObject: ns},
			want:  []Step{{"namespace/chatqna", "label istio.io/dataplane-mode released"}},
		},
		{
			name:  "only kept objects",
			found: Found{Keep: one(certificate(gwNS, "opea-chatqna-tls", ours(app), adoptedObject))},
			want:  []Step{{"certificate.cert-manager.io/opea-chatqna-tls", keptWhy}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tc.found.Plan()); diff != "" {
				t.Errorf("Plan() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFoundOtherManagers(t *testing.T) {
	enrolledBy := func(opts ...option) *unstructured.Unstructured {
		return namespace(app, append([]option{label(desired.DataplaneModeLabel, "ambient")}, opts...)...)
	}
	gitops := managedLabel("gitops", applyOp, desired.DataplaneModeLabel)
	argo := managedLabel("argocd", applyOp, desired.DataplaneModeLabel)
	secure := managedLabel(ownership.ManagedByValue, applyOp, desired.DataplaneModeLabel)
	kubectlLabel := managedLabel("kubectl-label", updateOp, desired.DataplaneModeLabel)
	otherLabel := managedLabel("team", applyOp, "team")

	tests := []struct {
		name  string
		found Found
		want  []string
	}{
		{"the namespace missing", Found{Managers: secureManager}, nil},
		{
			name:  "other appliers of the ambient label",
			found: Found{NamespaceObject: enrolledBy(secure, gitops, kubectlLabel, otherLabel, argo), Managers: secureManager},
			want:  []string{"gitops", "argocd"},
		},
		{
			name:  "one that owns more than secure's fields is not named",
			found: Found{NamespaceObject: enrolledBy(gitops, managedLabel("gitops", applyOp, "team")), Managers: secureManager},
		},
		{
			name:  "secure's managers are not others",
			found: Found{NamespaceObject: enrolledBy(secure, gitops), Managers: []string{ownership.ManagedByValue, "gitops"}},
		},
		{
			name:  "an update is not an apply",
			found: Found{NamespaceObject: enrolledBy(kubectlLabel), Managers: secureManager},
		},
		{
			name:  "secure's namespace label found: no question to ask",
			found: Found{Namespace: enrolledBy(gitops), NamespaceObject: enrolledBy(gitops), Managers: secureManager},
		},
		{
			name: "the label set to another value than ambient",
			found: Found{NamespaceObject: namespace(app, label(desired.DataplaneModeLabel, "none"), gitops),
				Managers: secureManager},
		},
		{
			name:  "no ambient label",
			found: Found{NamespaceObject: namespace(app, otherLabel), Managers: secureManager},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tc.found.OtherManagers()); diff != "" {
				t.Errorf("OtherManagers() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNamespaceLabelOutcome(t *testing.T) {
	before := namespace(app, ambient(ownership.ManagedByValue, applyOp))
	tests := []struct {
		name  string
		after *unstructured.Unstructured
		want  string
	}{
		{"secure alone set it", namespace(app, label("team", "a")), "label istio.io/dataplane-mode removed"},
		{
			name:  "given back to its manager",
			after: namespace(app, label(desired.DataplaneModeLabel, "none"), managedLabel("kubectl-label", updateOp, desired.DataplaneModeLabel)),
			want:  "label istio.io/dataplane-mode=none restored",
		},
		{
			name: "others set it too",
			after: namespace(app, label(desired.DataplaneModeLabel, "ambient"),
				managedLabel("gitops", applyOp, desired.DataplaneModeLabel),
				managedLabel("team", applyOp, "team"),
				managedLabel("kubectl-label", updateOp, desired.DataplaneModeLabel)),
			want: "label istio.io/dataplane-mode kept: also set by gitops, kubectl-label",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := namespaceLabelOutcome(before, tc.after); got != tc.want {
				t.Errorf("namespaceLabelOutcome:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}
