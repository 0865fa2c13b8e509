package plugin

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/yaml"

	"github.com/opea-project/kubectl-opea/pkg/desired"
	"github.com/opea-project/kubectl-opea/pkg/discover"
	"github.com/opea-project/kubectl-opea/pkg/secure"
)

// withGatewayAPI serves the Gateway API in v1.
func (c fakeCluster) withGatewayAPI() fakeCluster {
	c.cluster().ServeGatewayAPI("v1")
	return c
}

// istioGatewayClass is GatewayClass istio as istiod writes it, Accepted.
func istioGatewayClass() *unstructured.Unstructured {
	u := unstructuredObject("gateway.networking.k8s.io/v1", "GatewayClass", "", "istio", nil, map[string]interface{}{
		"spec": map[string]interface{}{"controllerName": "istio.io/gateway-controller"},
		"status": map[string]interface{}{"conditions": []interface{}{map[string]interface{}{
			"type": "Accepted", "status": "True", "reason": "Accepted", "message": "Handled by Istio controller", "observedGeneration": int64(1)}}},
	})
	u.SetGeneration(1)
	return u
}

// Each mode's flags only in that mode; several problems are reported
// together, before any API call.
func TestSecureRejectsGatewayAPIFlagsOutOfPlace(t *testing.T) {
	kubeconfig := writeKubeconfig(t)
	var sixteen []string
	for i := 1; i <= 16; i++ { // with chatqna.example.com, 17
		sixteen = append(sixteen, "--host", fmt.Sprintf("h%d.example.com", i))
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--gateway-api", "--gateway-namespace", "istio-ingress"}, []string{"--gateway-namespace and --gateway-selector name a classic Istio ingress gateway; with --gateway-api Istio deploys a gateway in the application namespace: leave them out"}},
		{[]string{"--gateway-api", "--gateway-selector", "istio=ingress"}, []string{"--gateway-namespace and --gateway-selector name a classic Istio ingress gateway"}},
		{[]string{"--gateway-class", "istio"}, []string{"--gateway-class needs --gateway-api: it sets the Gateway API Gateway, which only --gateway-api creates"}},
		{[]string{"--gateway-service-type", "ClusterIP"}, []string{"--gateway-service-type needs --gateway-api"}},
		{[]string{"--gateway-api", "--gateway-service-type", "ExternalName"}, []string{`invalid --gateway-service-type "ExternalName": use ClusterIP, NodePort or LoadBalancer`}},
		{[]string{"--gateway-api", "--gateway-service-type", "clusterip"}, []string{`invalid --gateway-service-type "clusterip"`}},
		{[]string{"--gateway-api", "--gateway-class", "Istio_Class"}, []string{`invalid --gateway-class "Istio_Class"`}},
		{append([]string{"--gateway-api"}, sixteen...), []string{"--gateway-api takes at most 16 --host values (an HTTPRoute holds at most 16 hostnames), got 17"}},
		{[]string{"--gateway-class", "istio", "--gateway-service-type", "NodePort", "--port", "70000"},
			[]string{"invalid --port 70000", "--gateway-class needs --gateway-api", "--gateway-service-type needs --gateway-api"}},
	} {
		r := run(t, nil, append([]string{"--kubeconfig", kubeconfig, "secure", "-n", "chatqna", "--host", "chatqna.example.com"}, tc.args...)...)
		if r.code != ExitUsage {
			t.Errorf("%v: exit %d, want %d (stderr %q)", tc.args, r.code, ExitUsage, r.err)
		}
		for _, want := range tc.want {
			if !strings.Contains(r.err, want) {
				t.Errorf("%v: stderr lacks %q:\n%s", tc.args, want, r.err)
			}
		}
	}
}

func TestSecureHelpShowsTheGatewayAPI(t *testing.T) {
	r := run(t, nil, "secure", "--help")
	for _, want := range []string{
		"kubectl opea secure -n chatqna --host chatqna.example.com --gateway-api --gateway-service-type ClusterIP",
		"--gateway-api ", "--gateway-class string", "--gateway-service-type string",
		"Istio deploys the\n    gateway pods for it in the application namespace",
	} {
		if !strings.Contains(r.out, want) {
			t.Errorf("secure --help lacks %q:\n%s", want, r.out)
		}
	}
}

// secure --gateway-api --dry-run=client prints the Gateway API objects, all
// in the application namespace, and never looks for a classic gateway.
func TestSecureGatewayAPIDryRunClient(t *testing.T) {
	c := fakeClusterWith(t, append(chatQnA(), istioGatewayClass())...).withGatewayAPI()
	args := []string{"secure", "-n", "chatqna", "--host", "chatqna.example.com", "--gateway-api", "--dry-run=client"}
	r := runOn(t, c, args...)
	want := result{out: "namespace/chatqna serverside-applied (dry run)\n" +
		"peerauthentication.security.istio.io/default serverside-applied (dry run)\n" +
		"issuer.cert-manager.io/opea-chatqna-selfsigned serverside-applied (dry run)\n" +
		"certificate.cert-manager.io/opea-chatqna-ca serverside-applied (dry run)\n" +
		"issuer.cert-manager.io/opea-chatqna-ca serverside-applied (dry run)\n" +
		"certificate.cert-manager.io/opea-chatqna-tls serverside-applied (dry run)\n" +
		"gateway.gateway.networking.k8s.io/opea-ingress serverside-applied (dry run)\n" +
		"httproute.gateway.networking.k8s.io/opea-ingress serverside-applied (dry run)\n" +
		"httproute.gateway.networking.k8s.io/opea-ingress-redirect serverside-applied (dry run)\n"}
	if diff := cmp.Diff(want, r, cmp.AllowUnexported(result{})); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, a := range c.kube.Actions() {
		if a.GetResource().Resource == "deployments" {
			t.Errorf("secure --gateway-api looked for a classic gateway: %s %s", a.GetVerb(), a.GetResource().Resource)
		}
	}

	r = runOn(t, c, append(args, "--gateway-service-type", "ClusterIP", "--http-redirect=false", "-o", "yaml")...)
	if r.code != 0 {
		t.Fatalf("-o yaml: exit %d, stderr %q", r.code, r.err)
	}
	var list unstructured.UnstructuredList
	if err := yaml.Unmarshal([]byte(r.out), &list.Object); err != nil {
		t.Fatal(err)
	}
	items, _, _ := unstructured.NestedSlice(list.Object, "items")
	var gateway *unstructured.Unstructured
	for _, item := range items {
		u := &unstructured.Unstructured{Object: item.(map[string]interface{})}
		if u.GetNamespace() != "" && u.GetNamespace() != "chatqna" {
			t.Errorf("%s %s in namespace %s, not the application's", u.GetKind(), u.GetName(), u.GetNamespace())
		}
		if u.GetKind() == "HTTPRoute" && u.GetName() == "opea-ingress-redirect" {
			t.Error("a redirect route with --http-redirect=false")
		}
		if u.GetKind() == "Gateway" {
			gateway = u
		}
	}
	if gateway == nil {
		t.Fatalf("no Gateway in:\n%s", r.out)
	}
	if got := gateway.GetAnnotations()["networking.istio.io/service-type"]; got != "ClusterIP" {
		t.Errorf("service type annotation %q", got)
	}
	if class, _, _ := unstructured.NestedString(gateway.Object, "spec", "gatewayClassName"); class != "istio" {
		t.Errorf("gatewayClassName %q", class)
	}
}

func TestSecureGatewayAPIRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		objs []runtime.Object
		api  bool
		args []string
		want string
	}{
		{
			name: "the Gateway API is not served",
			objs: chatQnA(),
			args: []string{"--gateway-api"},
			want: "the Kubernetes Gateway API gateway.networking.k8s.io (GatewayClass, Gateway and HTTPRoute, v1 or v1beta1) is not served: its CRDs are not installed\n" +
				"  fix: kubectl apply --server-side -f https://github.com/kubernetes-sigs/gateway-api/releases/download/" + secure.GatewayAPIRelease + "/standard-install.yaml, or leave out --gateway-api to use an Istio ingress gateway",
		},
		{
			name: "no such class",
			objs: append(chatQnA(), istioGatewayClass()),
			api:  true,
			args: []string{"--gateway-api", "--gateway-class", "envoy"},
			want: `GatewayClass "envoy" does not exist` + "\n" +
				"  fix: list the classes with 'kubectl get gatewayclasses' and pass one with --gateway-class (istio is Istio's own)",
		},
		{
			name: "no classic gateway, but Istio's class: --gateway-api is suggested",
			objs: []runtime.Object{service("chatqna-nginx", 80), istioGatewayClass()},
			api:  true,
			want: "no Istio ingress gateway found in any namespace (looked for Deployments whose pods carry istio=ingress or istio=ingressgateway or app=istio-ingress)\n" +
				"  fix: pass --gateway-api to have Istio deploy a gateway for this application in namespace chatqna (GatewayClass istio exists); or install one (helm install istio-ingress istio/gateway -n istio-ingress --create-namespace), or pass --gateway-namespace and --gateway-selector",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := fakeClusterWith(t, tc.objs...)
			if tc.api {
				c.withGatewayAPI()
			}
			r := runOn(t, c, append([]string{"secure", "-n", "chatqna", "--host", "chatqna.example.com", "--dry-run=client"}, tc.args...)...)
			want := result{err: "error: " + tc.want + "\n", code: ExitFailure}
			if diff := cmp.Diff(want, r, cmp.AllowUnexported(result{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// After secure --gateway-api, the next steps say where the address comes
// from and how to reach the gateway Istio deployed.
func TestSecureNextStepsFitTheMode(t *testing.T) {
	var out bytes.Buffer
	o := &SecureOptions{Request: secure.Request{Namespace: "chatqna"}, IOStreams: genericiooptions.IOStreams{Out: &out}}
	o.printNextSteps(&secure.Plan{Params: desired.Params{Hosts: []string{"chatqna.example.com"}, GatewayNamespace: "chatqna",
		GatewayAPIVersion: "v1", GatewayClass: "istio", Certificates: desired.OwnCA}})
	want := `
Next:
  # check that everything is in place and effective
  kubectl opea verify -n chatqna
  # the gateway's address, once Istio has deployed it
  kubectl get gateway.gateway.networking.k8s.io opea-ingress -n chatqna -o jsonpath='{.status.addresses[0].value}'
  # once the certificate is issued, give clients the application's CA (no curl -k)
  kubectl get secret opea-chatqna-tls -n chatqna -o jsonpath='{.data.ca\.crt}' | base64 -d > chatqna-ca.crt
  curl --cacert chatqna-ca.crt --resolve chatqna.example.com:443:<GATEWAY-ADDRESS> https://chatqna.example.com/
  # without an address reachable from here, forward a local port to the gateway Service Istio deployed:
  #   kubectl port-forward -n chatqna svc/opea-ingress-istio 8443:443   and --resolve chatqna.example.com:8443:127.0.0.1
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("Gateway API next steps (-want +got):\n%s", diff)
	}

	out.Reset()
	o.printNextSteps(&secure.Plan{Params: desired.Params{Hosts: []string{"chatqna.example.com"}, GatewayNamespace: "istio-ingress", Certificates: desired.ExistingSecret},
		Gateway: discover.Gateway{Namespace: "istio-ingress", Service: "istio-ingress", Address: "203.0.113.7"}})
	if got := out.String(); strings.Contains(got, "gateway.networking.k8s.io") || !strings.Contains(got, "curl --resolve chatqna.example.com:443:203.0.113.7 https://chatqna.example.com/") {
		t.Errorf("classic next steps:\n%s", got)
	}
}

// unsecure finds the Gateway API objects by secure's labels, with the rest,
// when the Gateway API is served.
func TestUnsecureDryRunClientListsGatewayAPIObjects(t *testing.T) {
	labels := ownLabels("chatqna")
	objs := []runtime.Object{
		namespaceObject("chatqna", "kubectl-opea"),
		unstructuredObject("security.istio.io/v1", "PeerAuthentication", "chatqna", "default", labels, nil),
		unstructuredObject("gateway.networking.k8s.io/v1", "Gateway", "chatqna", "opea-ingress", labels, nil),
		unstructuredObject("gateway.networking.k8s.io/v1", "HTTPRoute", "chatqna", "opea-ingress", labels, nil),
		unstructuredObject("gateway.networking.k8s.io/v1", "HTTPRoute", "chatqna", "opea-ingress-redirect", labels, nil),
		unstructuredObject("gateway.networking.k8s.io/v1", "HTTPRoute", "chatqna", "team-route", nil, nil),
		unstructuredObject("cert-manager.io/v1", "Certificate", "chatqna", "opea-chatqna-tls", labels,
			map[string]interface{}{"spec": map[string]interface{}{"secretName": "opea-chatqna-tls"}}),
	}
	c := fakeClusterWith(t, objs...).withGatewayAPI()
	r := runOn(t, c, "unsecure", "-n", "chatqna", "--dry-run=client")
	want := result{out: "httproute.gateway.networking.k8s.io/opea-ingress deleted (dry run)\n" +
		"httproute.gateway.networking.k8s.io/opea-ingress-redirect deleted (dry run)\n" +
		"gateway.gateway.networking.k8s.io/opea-ingress deleted (dry run)\n" +
		"peerauthentication.security.istio.io/default deleted (dry run)\n" +
		"certificate.cert-manager.io/opea-chatqna-tls deleted (dry run)\n" +
		"namespace/chatqna label istio.io/dataplane-mode released (dry run)\n"}
	if diff := cmp.Diff(want, r, cmp.AllowUnexported(result{})); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	// Not served: nothing of it is looked for, and nothing fails.
	c = fakeClusterWith(t, objs...)
	r = runOn(t, c, "unsecure", "-n", "chatqna", "--dry-run=client")
	if r.code != 0 || strings.Contains(r.out, "gateway.networking.k8s.io") {
		t.Errorf("without the Gateway API: exit %d\n%s%s", r.code, r.out, r.err)
	}
}
