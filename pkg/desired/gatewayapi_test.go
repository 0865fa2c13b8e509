package desired

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/opea-project/kubectl-opea/pkg/gatewayapi"
	"github.com/opea-project/kubectl-opea/pkg/ownership"
)

// gatewayAPIParams are baseParams in the Gateway API mode: everything in
// the application namespace.
func gatewayAPIParams() Params {
	p := baseParams()
	p.GatewayNamespace, p.GatewaySelector, p.HTTPSPort, p.HTTPPort = "chatqna", nil, 0, 0
	p.NetworkingVersion = ""
	p.GatewayAPIVersion, p.GatewayClass = "v1", gatewayapi.IstioClass
	return p
}

func byRef(objs []*unstructured.Unstructured) map[string]*unstructured.Unstructured {
	out := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		out[o.GetKind()+" "+o.GetName()] = o
	}
	return out
}

func TestGatewayAPIObjects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		modify func(*Params)
		want   []string
	}{
		{
			name:   "own CA, in the application namespace",
			modify: func(p *Params) {},
			want: []string{
				"v1 Namespace /chatqna",
				"security.istio.io/v1 PeerAuthentication chatqna/default",
				"cert-manager.io/v1 Issuer chatqna/opea-chatqna-selfsigned",
				"cert-manager.io/v1 Certificate chatqna/opea-chatqna-ca",
				"cert-manager.io/v1 Issuer chatqna/opea-chatqna-ca",
				"cert-manager.io/v1 Certificate chatqna/opea-chatqna-tls",
				"gateway.networking.k8s.io/v1 Gateway chatqna/opea-ingress",
				"gateway.networking.k8s.io/v1 HTTPRoute chatqna/opea-ingress",
				"gateway.networking.k8s.io/v1 HTTPRoute chatqna/opea-ingress-redirect",
			},
		},
		{
			name: "v1beta1, an existing issuer, no redirect",
			modify: func(p *Params) {
				p.GatewayAPIVersion = "v1beta1"
				p.Certificates, p.IssuerName, p.IssuerKind = ExistingIssuer, "letsencrypt", "ClusterIssuer"
				p.HTTPRedirect = false
			},
			want: []string{
				"v1 Namespace /chatqna",
				"security.istio.io/v1 PeerAuthentication chatqna/default",
				"cert-manager.io/v1 Certificate chatqna/opea-chatqna-tls",
				"gateway.networking.k8s.io/v1beta1 Gateway chatqna/opea-ingress",
				"gateway.networking.k8s.io/v1beta1 HTTPRoute chatqna/opea-ingress",
			},
		},
		{
			name:   "an existing Secret",
			modify: func(p *Params) { p.Certificates, p.TLSSecret, p.Enroll = ExistingSecret, "my-tls", false },
			want: []string{
				"security.istio.io/v1 PeerAuthentication chatqna/default",
				"gateway.networking.k8s.io/v1 Gateway chatqna/opea-ingress",
				"gateway.networking.k8s.io/v1 HTTPRoute chatqna/opea-ingress",
				"gateway.networking.k8s.io/v1 HTTPRoute chatqna/opea-ingress-redirect",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := gatewayAPIParams()
			tc.modify(&p)
			objs, err := Objects(p)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, refs(objs)); diff != "" {
				t.Errorf("objects (-want +got):\n%s", diff)
			}
			for _, o := range objs {
				if o.GetKind() == "Namespace" {
					continue
				}
				if diff := cmp.Diff(ownership.Labels("chatqna"), o.GetLabels()); diff != "" {
					t.Errorf("%s labels (-want +got):\n%s", o.GetKind(), diff)
				}
			}
		})
	}
}

func TestGatewayAPIGatewayAndRoutes(t *testing.T) {
	p := gatewayAPIParams()
	p.Hosts = []string{"chatqna.example.com", "*.example.org"}
	objs, err := Objects(p)
	if err != nil {
		t.Fatal(err)
	}
	got := byRef(objs)

	gw, err := gatewayapi.DecodeGateway(got["Gateway opea-ingress"])
	if err != nil {
		t.Fatal(err)
	}
	same := &gatewayapi.AllowedRoutes{Namespaces: &gatewayapi.RouteNamespaces{From: "Same"}}
	tls := &gatewayapi.ListenerTLS{Mode: "Terminate", CertificateRefs: []gatewayapi.SecretReference{{Kind: "Secret", Name: "opea-chatqna-tls"}}}
	wantListeners := []gatewayapi.Listener{
		{Name: "https", Hostname: "chatqna.example.com", Port: 443, Protocol: "HTTPS", TLS: tls, AllowedRoutes: same},
		{Name: "https-2", Hostname: "*.example.org", Port: 443, Protocol: "HTTPS", TLS: tls, AllowedRoutes: same},
		{Name: "http", Hostname: "chatqna.example.com", Port: 80, Protocol: "HTTP", AllowedRoutes: same},
		{Name: "http-2", Hostname: "*.example.org", Port: 80, Protocol: "HTTP", AllowedRoutes: same},
	}
	if diff := cmp.Diff(wantListeners, gw.Listeners); diff != "" {
		t.Errorf("listeners (-want +got):\n%s", diff)
	}
	if gw.ClassName != "istio" || gw.Namespace != "chatqna" || gw.Name != "opea-ingress" {
		t.Errorf("Gateway %s/%s of class %q", gw.Namespace, gw.Name, gw.ClassName)
	}
	if len(gw.Annotations) != 0 {
		t.Errorf("annotations %v without a service type", gw.Annotations)
	}

	route, err := gatewayapi.DecodeHTTPRoute(got["HTTPRoute opea-ingress"])
	if err != nil {
		t.Fatal(err)
	}
	port := int32(80)
	wantRoute := gatewayapi.HTTPRoute{
		Namespace: "chatqna", Name: "opea-ingress", Labels: ownership.Labels("chatqna"),
		ParentRefs: []gatewayapi.ParentRef{{Name: "opea-ingress", SectionName: "https"}, {Name: "opea-ingress", SectionName: "https-2"}},
		Hostnames:  p.Hosts,
		Rules:      []gatewayapi.RouteRule{{BackendRefs: []gatewayapi.BackendRef{{Name: "chatqna-nginx", Port: &port}}}},
	}
	if diff := cmp.Diff(wantRoute, route); diff != "" {
		t.Errorf("HTTPRoute (-want +got):\n%s", diff)
	}
	match := field(t, got["HTTPRoute opea-ingress"], "spec", "rules").([]interface{})[0].(map[string]interface{})["matches"]
	if diff := cmp.Diff([]interface{}{map[string]interface{}{"path": map[string]interface{}{"type": "PathPrefix", "value": "/"}}}, match); diff != "" {
		t.Errorf("HTTPRoute matches (-want +got):\n%s", diff)
	}
	for _, l := range wantListeners[:2] {
		for _, ref := range route.ParentRefs {
			if ref.SectionName == l.Name && !gatewayapi.Attach(route, ref, gw, l, nil).Attached() {
				t.Errorf("parentRef %+v does not attach to listener %s", ref, l.Name)
			}
		}
		if hosts := gatewayapi.RouteHostnames(l.Hostname, route.Hostnames); len(hosts) != 1 || hosts[0] != l.Hostname {
			t.Errorf("listener %s serves %v of the route", l.Name, hosts)
		}
	}

	redirect, err := gatewayapi.DecodeHTTPRoute(got["HTTPRoute opea-ingress-redirect"])
	if err != nil {
		t.Fatal(err)
	}
	https, moved := "https", 301
	wantRedirect := gatewayapi.HTTPRoute{
		Namespace: "chatqna", Name: "opea-ingress-redirect", Labels: ownership.Labels("chatqna"),
		ParentRefs: []gatewayapi.ParentRef{{Name: "opea-ingress", SectionName: "http"}, {Name: "opea-ingress", SectionName: "http-2"}},
		Hostnames:  p.Hosts,
		Rules: []gatewayapi.RouteRule{{Filters: []gatewayapi.RouteFilter{{Type: "RequestRedirect",
			RequestRedirect: &gatewayapi.RequestRedirect{Scheme: &https, StatusCode: &moved}}}}},
	}
	if diff := cmp.Diff(wantRedirect, redirect); diff != "" {
		t.Errorf("redirect HTTPRoute (-want +got):\n%s", diff)
	}
	if !redirect.Redirects() {
		t.Error("the redirect route does not redirect every request to https")
	}
}

func TestGatewayAPIServiceTypeAndSecret(t *testing.T) {
	p := gatewayAPIParams()
	p.GatewayServiceType, p.GatewayClass = "ClusterIP", "istio-internal"
	p.Certificates, p.TLSSecret, p.HTTPRedirect = ExistingSecret, "my-tls", false
	objs, err := Objects(p)
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gatewayapi.DecodeGateway(byRef(objs)["Gateway opea-ingress"])
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{gatewayapi.ServiceTypeAnnotation: "ClusterIP"}, gw.Annotations); diff != "" {
		t.Errorf("annotations (-want +got):\n%s", diff)
	}
	if gw.ClassName != "istio-internal" {
		t.Errorf("gatewayClassName = %q", gw.ClassName)
	}
	if len(gw.Listeners) != 1 || gw.Listeners[0].Name != "https" || gw.Listeners[0].TLS.CertificateRefs[0].Name != "my-tls" {
		t.Errorf("listeners = %+v, want one https listener with my-tls", gw.Listeners)
	}
	if gatewayapi.DeploymentName(gw) != "opea-ingress-istio-internal" || gatewayapi.ServiceAccountName(gw) != "opea-ingress-istio-internal" || !gw.Managed() {
		t.Errorf("Istio deploys %q as %q (managed %v)", gatewayapi.DeploymentName(gw), gatewayapi.ServiceAccountName(gw), gw.Managed())
	}
}

func TestGatewayAPIRefusesWhatItCannotRender(t *testing.T) {
	for name, modify := range map[string]func(*Params){
		"certificate elsewhere": func(p *Params) { p.GatewayNamespace = "istio-ingress" },
		"no class":              func(p *Params) { p.GatewayClass = "" },
		"too many hosts": func(p *Params) {
			p.Hosts = nil
			for i := 0; i <= MaxGatewayAPIHosts; i++ {
				p.Hosts = append(p.Hosts, strings.Repeat("a", i+1)+".example.com")
			}
		},
	} {
		p := gatewayAPIParams()
		modify(&p)
		if _, err := Objects(p); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestListenersAreStable(t *testing.T) {
	https, http := Listeners([]string{"a.example.com", "b.example.com", "c.example.com"})
	want := []Listener{{"https", "a.example.com"}, {"https-2", "b.example.com"}, {"https-3", "c.example.com"}}
	if diff := cmp.Diff(want, https); diff != "" {
		t.Errorf("HTTPS listeners (-want +got):\n%s", diff)
	}
	if http[0].Name != "http" || http[2].Name != "http-3" || http[2].Hostname != "c.example.com" {
		t.Errorf("HTTP listeners = %v", http)
	}
}
