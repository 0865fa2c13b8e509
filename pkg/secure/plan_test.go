package secure

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/opea-project/kubectl-opea/pkg/clients/clientstest"
	"github.com/opea-project/kubectl-opea/pkg/desired"
	"github.com/opea-project/kubectl-opea/pkg/discover"
	"github.com/opea-project/kubectl-opea/pkg/istio"
)

// object is an Istio or cert-manager object as the API returns it.
func object(apiVersion, kind, ns, name string, age time.Duration, spec map[string]interface{}) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]interface{}{"apiVersion": apiVersion, "kind": kind, "spec": spec}}
	u.SetNamespace(ns)
	u.SetName(name)
	u.SetCreationTimestamp(metav1.NewTime(time.Now().Add(-age).Truncate(time.Second)))
	return u
}

func peerAuthentication(name string, age time.Duration, mode string, selector map[string]interface{}) *unstructured.Unstructured {
	spec := map[string]interface{}{"mtls": map[string]interface{}{"mode": mode}}
	if selector != nil {
		spec["selector"] = map[string]interface{}{"matchLabels": selector}
	}
	return object("security.istio.io/v1", "PeerAuthentication", "chatqna", name, age, spec)
}

// secureWith returns a planner for namespace chatqna over a fake cluster
// holding typed and objs.
func secureWith(t *testing.T, typed []runtime.Object, objs ...*unstructured.Unstructured) (*planner, *bytes.Buffer) {
	t.Helper()
	c := clientstest.New(t, typed...)
	for _, u := range objs {
		if err := c.Add(u); err != nil {
			t.Fatal(err)
		}
	}
	var errOut bytes.Buffer
	return &planner{Request: Request{Namespace: "chatqna"}, clients: c.Getter(nil), notices: &errOut}, &errOut
}

// istiod keeps the oldest namespace-wide PeerAuthentication and lets
// workload policies override it: secure refuses when its STRICT "default"
// would not take effect.
func TestSecureRefusesPeerAuthenticationsThatWouldWin(t *testing.T) {
	app := map[string]interface{}{"app": "chatqna"}
	for _, tc := range []struct {
		name string
		pas  []*unstructured.Unstructured
		want []string // one problem each; none: secure goes ahead
	}{
		{name: "nothing yet"},
		{name: "our default exists", pas: []*unstructured.Unstructured{peerAuthentication("default", time.Hour, "STRICT", nil)}},
		{name: "an older PERMISSIVE namespace policy", pas: []*unstructured.Unstructured{peerAuthentication("legacy", time.Hour, "PERMISSIVE", nil)},
			want: []string{"PeerAuthentication chatqna/legacy is an older namespace-wide policy with mode PERMISSIVE: istiod uses only the oldest, so default would be ignored\n  fix: delete it (kubectl delete peerauthentication legacy -n chatqna)"}},
		{name: "an older STRICT namespace policy is fine", pas: []*unstructured.Unstructured{peerAuthentication("legacy", time.Hour, "STRICT", nil)}},
		{name: "a younger PERMISSIVE one loses to an existing default", pas: []*unstructured.Unstructured{
			peerAuthentication("default", 2*time.Hour, "STRICT", nil), peerAuthentication("legacy", time.Hour, "PERMISSIVE", nil)}},
		{name: "a workload policy PERMISSIVE", pas: []*unstructured.Unstructured{peerAuthentication("ui", time.Hour, "PERMISSIVE", app)},
			want: []string{"PeerAuthentication chatqna/ui sets mode PERMISSIVE for the pods it selects"}},
		{name: "a workload policy STRICT is fine", pas: []*unstructured.Unstructured{peerAuthentication("ui", time.Hour, "STRICT", app)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, _ := secureWith(t, nil, tc.pas...)
			errs := o.checkPeerAuthentications(context.Background(), "v1")
			if len(errs) != len(tc.want) {
				t.Fatalf("problems %v, want %d", errs, len(tc.want))
			}
			for i, want := range tc.want {
				if !strings.Contains(errs[i].Error(), want) {
					t.Errorf("problem %q lacks %q", errs[i], want)
				}
			}
		})
	}
}

// A namespace-wide policy with its mode unset inherits the mesh-wide mode
// (convertedSelectorPeerAuthentications): under a mesh-wide STRICT, an
// older one keeps the namespace STRICT and secure goes ahead; the mesh-wide
// policy is found in the root namespace the mesh config names, as verify
// finds it.
func TestSecureAcceptsAnUnsetPolicyUnderMeshWideStrict(t *testing.T) {
	unset := object("security.istio.io/v1", "PeerAuthentication", "chatqna", "legacy", time.Hour, map[string]interface{}{})
	meshWide := func(ns string, selector map[string]interface{}) *unstructured.Unstructured {
		spec := map[string]interface{}{"mtls": map[string]interface{}{"mode": "STRICT"}}
		if selector != nil {
			spec["selector"] = selector
		}
		return object("security.istio.io/v1", "PeerAuthentication", ns, "default", 2*time.Hour, spec)
	}
	istiod := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "istiod", Labels: map[string]string{"app": "istiod"}}}
	meshConfig := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "istio"}, Data: map[string]string{"mesh": "rootNamespace: mesh-root\n"}}
	for _, tc := range []struct {
		name   string
		root   *unstructured.Unstructured
		kube   []runtime.Object
		refuse bool
	}{
		{name: "no mesh-wide policy", kube: []runtime.Object{istiod, meshConfig}, refuse: true},
		{name: "a mesh-wide STRICT in the mesh config's root namespace", root: meshWide("mesh-root", nil), kube: []runtime.Object{istiod, meshConfig}},
		{name: "STRICT in istio-system, which is not the root namespace", root: meshWide("istio-system", nil), kube: []runtime.Object{istiod, meshConfig}, refuse: true},
		{name: "a root-namespace policy with selector: {} is not mesh-wide", root: meshWide("mesh-root", map[string]interface{}{}), kube: []runtime.Object{istiod, meshConfig}, refuse: true},
		{name: "the mesh config cannot be found: refused, not assumed", root: meshWide("mesh-root", nil), refuse: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pas := []*unstructured.Unstructured{unset}
			if tc.root != nil {
				pas = append(pas, tc.root)
			}
			o, _ := secureWith(t, tc.kube, pas...)
			errs := o.checkPeerAuthentications(context.Background(), "v1")
			if refused := len(errs) > 0; refused != tc.refuse {
				t.Fatalf("problems %v, want refused=%v", errs, tc.refuse)
			}
			if tc.refuse && !strings.Contains(errs[0].Error(), "PeerAuthentication chatqna/legacy is an older namespace-wide policy with mode unset") {
				t.Errorf("problem %q does not name the unset policy", errs[0])
			}
		})
	}
}

func gatewayObject(ns, name string, age time.Duration, selector map[string]interface{}, port int64, hosts ...interface{}) *unstructured.Unstructured {
	return object("networking.istio.io/v1", "Gateway", ns, name, age, map[string]interface{}{
		"selector": selector,
		"servers": []interface{}{map[string]interface{}{
			"port":  map[string]interface{}{"number": port, "name": "https-" + ns, "protocol": "HTTPS"},
			"hosts": hosts,
			"tls":   map[string]interface{}{"mode": "SIMPLE", "credentialName": "opea-" + ns + "-tls"},
		}},
	})
}

// Securing a second application with the same host on the same gateway
// pods would silently lose its HTTPS server: secure refuses, naming the
// Gateway that keeps the host.
func TestSecureRefusesAHostAnotherGatewayServes(t *testing.T) {
	podLabels := map[string]string{"app": "istio-ingress", "istio": "ingress"}
	gw := discover.Gateway{Namespace: "istio-ingress", Selector: podLabels, PodLabels: podLabels, HTTPSPort: 443, HTTPPort: 80,
		Targets: []istio.ServiceTarget{{Port: 80, TargetPort: 80}, {Port: 443, TargetPort: 443}}}
	params := desired.Params{AppNamespace: "chatqna", GatewayNamespace: "istio-ingress", GatewaySelector: podLabels, Hosts: []string{"*.intel.com"},
		Service: "chatqna-nginx", ServicePort: 80, HTTPSPort: 443, HTTPPort: 80, HTTPRedirect: true, NetworkingVersion: "v1", SecurityVersion: "v1"}
	objs, err := desired.Objects(params)
	if err != nil {
		t.Fatal(err)
	}
	ingress := map[string]interface{}{"istio": "ingress"} // another selector, the same pods
	for _, tc := range []struct {
		name     string
		gateways []*unstructured.Unstructured
		want     string
	}{
		{name: "no other Gateway"},
		{name: "the same host on the same pods", gateways: []*unstructured.Unstructured{gatewayObject("codetrans", "opea-ingress", time.Hour, ingress, 443, "*.intel.com")},
			want: "Gateway codetrans/opea-ingress already serves host *.intel.com on port 443 of the same gateway pods: istiod would keep it and drop this application's server\n  fix: pass another --host for namespace chatqna (e.g. --host chatqna.intel.com)"},
		{name: "an overlapping wildcard is served by SNI", gateways: []*unstructured.Unstructured{gatewayObject("codetrans", "opea-ingress", time.Hour, ingress, 443, "codetrans.intel.com")}},
		{name: "other pods", gateways: []*unstructured.Unstructured{gatewayObject("codetrans", "opea-ingress", time.Hour, map[string]interface{}{"istio": "eastwest"}, 443, "*.intel.com")}},
		{name: "ours exists and is older", gateways: []*unstructured.Unstructured{
			gatewayObject("chatqna", "opea-ingress", 2*time.Hour, ingress, 443, "*.intel.com"), gatewayObject("codetrans", "opea-ingress", time.Hour, ingress, 443, "*.intel.com")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, _ := secureWith(t, nil, tc.gateways...)
			got := o.checkGatewayHosts(context.Background(), gw, "v1", objs)
			if tc.want == "" {
				if len(got) > 0 {
					t.Errorf("refused: %v", got)
				}
				return
			}
			if len(got) != 1 || !strings.Contains(got.Error(), tc.want) {
				t.Errorf("problems:\n%v\nwant one with %q", got, tc.want)
			}
		})
	}
}

// istiod reads any Secret type holding cert/key or tls.crt/tls.key.
func TestSecureAcceptsAGenericTLSSecret(t *testing.T) {
	for _, tc := range []struct {
		name   string
		secret *corev1.Secret
		want   string
	}{
		{"Opaque with tls.crt and tls.key", &corev1.Secret{Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"tls.crt": []byte("c"), "tls.key": []byte("k")}}, ""},
		{"Opaque with cert and key", &corev1.Secret{Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"cert": []byte("c"), "key": []byte("k")}}, ""},
		{"no pair", &corev1.Secret{Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"password": []byte("p")}}, "holds no certificate and key Istio can read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.secret.Namespace, tc.secret.Name = "istio-ingress", "mine"
			o := &planner{Request: Request{TLSSecret: "mine"}}
			err := o.checkTLSSecret(context.Background(), clientstest.New(t, tc.secret).Kube, "istio-ingress")
			if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("checkTLSSecret = %v, want %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "password") && strings.Contains(err.Error(), "p\"") {
				t.Errorf("key material in the error: %v", err)
			}
		})
	}
}

// An ACME issuer solving only HTTP-01 cannot issue a wildcard host, and the
// port-80 redirect breaks its challenges (istio/istio#33593).
func TestSecureRefusesWhatHTTP01CannotDo(t *testing.T) {
	issuer := func(solvers ...interface{}) *unstructured.Unstructured {
		u := object("cert-manager.io/v1", "ClusterIssuer", "", "letsencrypt", time.Hour, map[string]interface{}{
			"acme": map[string]interface{}{"server": "https://acme.example/directory", "solvers": solvers}})
		return u
	}
	http01 := map[string]interface{}{"http01": map[string]interface{}{"ingress": map[string]interface{}{"ingressClassName": "istio"}}}
	dns01 := map[string]interface{}{"dns01": map[string]interface{}{"cloudflare": map[string]interface{}{}}}
	for _, tc := range []struct {
		name     string
		issuer   *unstructured.Unstructured
		hosts    []string
		redirect bool
		want     []string
		warning  string
	}{
		{name: "not ACME", issuer: object("cert-manager.io/v1", "ClusterIssuer", "", "ca", time.Hour, map[string]interface{}{"ca": map[string]interface{}{"secretName": "ca"}}), hosts: []string{"*.example.com"}, redirect: true},
		{name: "HTTP-01, concrete host, no redirect", issuer: issuer(http01), hosts: []string{"chatqna.example.com"}},
		{name: "HTTP-01 and a wildcard", issuer: issuer(http01), hosts: []string{"*.example.com"},
			want: []string{"ClusterIssuer letsencrypt solves only HTTP-01 challenges, which cannot issue the wildcard host *.example.com\n  fix: pass a concrete --host (e.g. --host chatqna.example.com)"}},
		{name: "HTTP-01 and the redirect", issuer: issuer(http01), hosts: []string{"chatqna.example.com"}, redirect: true,
			want: []string{"which the Gateway's redirect to HTTPS breaks (istio/istio#33593)\n  fix: pass --http-redirect=false"}},
		{name: "DNS-01", issuer: issuer(dns01), hosts: []string{"*.example.com"}, redirect: true},
		{name: "both solvers: a warning", issuer: issuer(http01, dns01), hosts: []string{"*.example.com"}, redirect: true, warning: "pass --http-redirect=false if so"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, errOut := secureWith(t, nil)
			o.Hosts, o.HTTPRedirect = tc.hosts, tc.redirect
			errs := o.checkACME(tc.issuer, "ClusterIssuer letsencrypt")
			if len(errs) != len(tc.want) {
				t.Fatalf("problems %v, want %d", errs, len(tc.want))
			}
			for i, want := range tc.want {
				if !strings.Contains(errs[i].Error(), want) {
					t.Errorf("problem %q lacks %q", errs[i], want)
				}
			}
			if !strings.Contains(errOut.String(), tc.warning) {
				t.Errorf("stderr %q lacks %q", errOut.String(), tc.warning)
			}
		})
	}
}

func TestSuggestHostNeverSuggestsTheTakenOne(t *testing.T) {
	for taken, want := range map[string]string{
		"*.intel.com":                 "chatqna.intel.com",
		"ui.example.com":              "chatqna.example.com",
		"chatqna.example.com":         "chatqna-2.example.com",
		"codetrans/chatqna.intel.com": "chatqna-2.intel.com",
		"localhost.localdomain":       "chatqna.example.com",
	} {
		if got := suggestHost(taken, "chatqna"); got != want {
			t.Errorf("suggestHost(%q) = %q, want %q", taken, got, want)
		}
	}
}
