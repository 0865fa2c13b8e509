package plugin

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/runtime"
)

// secure -n with a typo names a namespace that does not exist: secure says
// so and names the namespace holding an OPEA application, and does not
// advise deploying a gateway into the missing namespace (--gateway-api),
// though Istio's GatewayClass exists and no classic gateway does.
func TestSecureMissingNamespaceSuggestsTheApplication(t *testing.T) {
	c := fakeClusterWith(t, service("chatqna", 8888), service("chatqna-nginx", 80), istioGatewayClass())
	c.withGatewayAPI()
	r := runOn(t, c, "secure", "-n", "chatqan", "--host", "chatqna.example.com")
	want := result{code: ExitFailure, err: "error: namespace \"chatqan\" does not exist\n" +
		"  fix: did you mean -n chatqna? (the namespace holding an OPEA application)\n" +
		"no Istio ingress gateway found in any namespace (looked for Deployments whose pods carry istio=ingress or istio=ingressgateway or app=istio-ingress)\n" +
		"  fix: install one (helm install istio-ingress istio/gateway -n istio-ingress --create-namespace), or pass --gateway-namespace and --gateway-selector\n"}
	if diff := cmp.Diff(want, r, cmp.AllowUnexported(result{})); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// Where no namespace holds an OPEA application, the fix is to install one.
func TestSecureMissingNamespaceWithoutApplications(t *testing.T) {
	c := fakeClusterWith(t, []runtime.Object{}...)
	r := runOn(t, c, "secure", "-n", "chatqan", "--host", "chatqna.example.com")
	want := "error: namespace \"chatqan\" does not exist\n  fix: install the application first, or name its namespace with -n\n"
	if r.code != ExitFailure || len(r.err) < len(want) || r.err[:len(want)] != want {
		t.Errorf("exit %d, stderr:\n%s\nwant it to start with:\n%s", r.code, r.err, want)
	}
}
