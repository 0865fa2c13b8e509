package snapshot

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAccessesReadAsKubectlAndSortStably(t *testing.T) {
	for _, tc := range []struct {
		a    Access
		want string
	}{
		{Access{Verb: "list", Group: "apps", Resource: "deployments", AllNamespaces: true}, "list deployments.apps in every namespace"},
		{Access{Verb: "get", Resource: "namespaces", Name: "chatqna"}, `get namespaces "chatqna"`},
		{Access{Verb: "get", Resource: "secrets", Name: "tls", Namespace: "istio-ingress"}, `get secrets "tls" in namespace istio-ingress`},
		{Access{Verb: "list", Group: "cert-manager.io", Resource: "clusterissuers"}, "list clusterissuers.cert-manager.io"},
		{SubjectAccessReview, "create subjectaccessreviews.authorization.k8s.io"},
	} {
		if got := tc.a.String(); got != tc.want {
			t.Errorf("%+v reads %q, want %q", tc.a, got, tc.want)
		}
	}

	secret := Access{Verb: "get", Resource: "secrets", Name: "tls", Namespace: "istio-ingress"}
	issuers := Access{Verb: "list", Group: "cert-manager.io", Resource: "issuers", Namespace: "b"}
	certs := Access{Verb: "list", Group: "cert-manager.io", Resource: "certificates", Namespace: "b"}
	deployments := Access{Verb: "list", Group: "apps", Resource: "deployments", AllNamespaces: true}
	namespace := Access{Verb: "get", Resource: "namespaces", Name: "chatqna"}
	s := &Snapshot{}
	s.Deny(InputSecrets, secret)
	s.Deny(InputCertificates, issuers)
	s.Deny(InputCertificates, certs)
	s.Deny(InputNamespace, namespace)
	s.Deny(InputIstiod, deployments)
	s.Inherit(InputMeshConfig, InputIstiod)
	s.Inherit(InputGatewayPods, InputIstiod, InputNamespace)
	want := []Access{deployments, namespace, certs, issuers, secret}
	// The inputs are a map: the order must not depend on its iteration.
	for i := 0; i < 50; i++ {
		if diff := cmp.Diff(want, s.Forbidden()); diff != "" {
			t.Fatalf("Forbidden (-want +got):\n%s", diff)
		}
	}
}
