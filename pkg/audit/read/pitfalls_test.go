package read_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/opea-project/kubectl-opea/pkg/audit/read"
	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
)

// networkPolicy is np as the dynamic client holds it.
func networkPolicy(t *testing.T, np networkingv1.NetworkPolicy) *unstructured.Unstructured {
	np.APIVersion, np.Kind = "networking.k8s.io/v1", "NetworkPolicy"
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&np)
	if err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: obj}
}

func pitfallsCluster(t *testing.T) cluster {
	return cluster{
		Kube: []runtime.Object{
			&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "chatqna", Name: "default"}},
			&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "chatqna", Name: "chatqna"}},
			&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "other", Name: "elsewhere"}},
		},
		Dynamic: []runtime.Object{
			networkPolicy(t, networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "chatqna", Name: "default-deny"},
				Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}}}),
			networkPolicy(t, networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "other", Name: "elsewhere"}}),
			unstructuredObject("security.istio.io/v1", "RequestAuthentication", "chatqna", "jwt-keycloak", map[string]interface{}{
				"selector": map[string]interface{}{"matchLabels": map[string]interface{}{"app": "chatqna"}},
				"jwtRules": []interface{}{map[string]interface{}{"issuer": "http://keycloak/realms/opea", "jwksUri": "http://keycloak/realms/opea/protocol/openid-connect/certs", "outputPayloadToHeader": "jwt-parsed"}},
			}),
		},
	}
}

// The namespace's NetworkPolicies and ServiceAccounts are listed in the
// namespace, once each; RequestAuthentications once across namespaces,
// read as the add-on writes them (fields verify does not use are kept out).
func TestReadAmbientPitfallsInputs(t *testing.T) {
	clients, kube, _ := pitfallsCluster(t).Clients(t)
	s, err := read.Read(context.Background(), clients, read.ReadOptions{Namespace: "chatqna"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"chatqna", "default"}, s.ServiceAccounts); diff != "" {
		t.Errorf("service accounts (-want +got):\n%s", diff)
	}
	if len(s.NetworkPolicies) != 1 || s.NetworkPolicies[0].Name != "default-deny" || len(s.NetworkPolicies[0].Spec.PolicyTypes) != 1 {
		t.Errorf("network policies: %+v", s.NetworkPolicies)
	}
	if len(s.RequestAuthentications) != 1 || s.RequestAuthentications[0].JWTRules[0].JWKSURI != "http://keycloak/realms/opea/protocol/openid-connect/certs" ||
		s.RequestAuthentications[0].Selector.MatchLabels["app"] != "chatqna" {
		t.Errorf("request authentications: %+v", s.RequestAuthentications)
	}
	lists := map[string]int{}
	count := func(actions []k8stesting.Action) {
		for _, a := range actions {
			if a.GetVerb() == "list" {
				lists[a.GetResource().Resource+" in "+a.GetNamespace()]++
			}
		}
	}
	count(kube.Actions())
	count(clients.Dynamic.(*dynamicfake.FakeDynamicClient).Actions())
	for _, want := range []string{"serviceaccounts in chatqna", "networkpolicies in chatqna", "requestauthentications in "} {
		if lists[want] != 1 {
			t.Errorf("%s listed %d times, want once: %v", want, lists[want], lists)
		}
	}
}

// Refused, each is recorded with the request, never read as none.
func TestReadAmbientPitfallsRefused(t *testing.T) {
	clients, kube, _ := pitfallsCluster(t).Clients(t)
	refused := func(a k8stesting.Action) bool {
		switch a.GetResource().Resource {
		case "serviceaccounts", "networkpolicies", "requestauthentications":
			return true
		}
		return false
	}
	forbid(&kube.Fake, refused)
	forbid(&clients.Dynamic.(*dynamicfake.FakeDynamicClient).Fake, refused)
	s, err := read.Read(context.Background(), clients, read.ReadOptions{Namespace: "chatqna"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[snapshot.Input]string{
		snapshot.InputServiceAccounts:        "list serviceaccounts in namespace chatqna",
		snapshot.InputNetworkPolicies:        "list networkpolicies.networking.k8s.io in namespace chatqna",
		snapshot.InputRequestAuthentications: "list requestauthentications.security.istio.io in every namespace",
	}
	for in, access := range want {
		if got := snapshot.AccessList(s.Refused(in)); got != access {
			t.Errorf("%s: refused %q, want %q", in, got, access)
		}
	}
	if s.ServiceAccounts != nil || s.NetworkPolicies != nil || s.RequestAuthentications != nil {
		t.Errorf("refused reads filled in: %v %v %v", s.ServiceAccounts, s.NetworkPolicies, s.RequestAuthentications)
	}
}
