package desired

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/opea-project/kubectl-opea/pkg/ownership"
)

func baseParams() Params {
	return Params{
		AppNamespace:      "chatqna",
		GatewayNamespace:  "istio-ingress",
		GatewaySelector:   map[string]string{"app": "istio-ingress", "istio": "ingress"},
		Hosts:             []string{"chatqna.example.com"},
		Service:           "chatqna-nginx",
		ServicePort:       80,
		HTTPSPort:         443,
		HTTPPort:          80,
		HTTPRedirect:      true,
		Enroll:            true,
		NetworkingVersion: "v1",
		SecurityVersion:   "v1",
	}
}

func refs(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.GetAPIVersion()+" "+o.GetKind()+" "+o.GetNamespace()+"/"+o.GetName())
	}
	return out
}

func field(t *testing.T, obj *unstructured.Unstructured, path ...string) interface{} {
	t.Helper()
	v, ok, err := unstructured.NestedFieldNoCopy(obj.Object, path...)
	if !ok || err != nil {
		t.Fatalf("%s/%s has no %s", obj.GetKind(), obj.GetName(), strings.Join(path, "."))
	}
	return v
}

func TestObjectsPerCertificateSource(t *testing.T) {
	for _, tc := range []struct {
		name   string
		modify func(*Params)
		want   []string
	}{
		{
			name:   "own CA",
			modify: func(p *Params) {},
			want: []string{
				"v1 Namespace /chatqna",
				"security.istio.io/v1 PeerAuthentication chatqna/default",
				"cert-manager.io/v1 Issuer istio-ingress/opea-chatqna-selfsigned",
				"cert-manager.io/v1 Certificate istio-ingress/opea-chatqna-ca",
				"cert-manager.io/v1 Issuer istio-ingress/opea-chatqna-ca",
				"cert-manager.io/v1 Certificate istio-ingress/opea-chatqna-tls",
				"networking.istio.io/v1 Gateway chatqna/opea-ingress",
				"networking.istio.io/v1 VirtualService chatqna/opea-ingress",
			},
		},
		{
			name: "existing issuer, v1beta1 Istio APIs, no enrolment",
			modify: func(p *Params) {
				p.Certificates, p.IssuerName, p.IssuerKind = ExistingIssuer, "letsencrypt", "ClusterIssuer"
				p.NetworkingVersion, p.SecurityVersion = "v1beta1", "v1beta1"
				p.Enroll = false
			},
			want: []string{
				"security.istio.io/v1beta1 PeerAuthentication chatqna/default",
				"cert-manager.io/v1 Certificate istio-ingress/opea-chatqna-tls",
				"networking.istio.io/v1beta1 Gateway chatqna/opea-ingress",
				"networking.istio.io/v1beta1 VirtualService chatqna/opea-ingress",
			},
		},
		{
			name:   "existing secret",
			modify: func(p *Params) { p.Certificates, p.TLSSecret = ExistingSecret, "my-tls" },
			want: []string{
				"v1 Namespace /chatqna",
				"security.istio.io/v1 PeerAuthentication chatqna/default",
				"networking.istio.io/v1 Gateway chatqna/opea-ingress",
				"networking.istio.io/v1 VirtualService chatqna/opea-ingress",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := baseParams()
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
					if len(o.GetLabels()) != 1 || o.GetLabels()[DataplaneModeLabel] != "ambient" {
						t.Errorf("the Namespace must carry only the ambient label, got %v", o.GetLabels())
					}
					continue
				}
				if diff := cmp.Diff(ownership.Labels("chatqna"), o.GetLabels()); diff != "" {
					t.Errorf("%s labels (-want +got):\n%s", o.GetKind(), diff)
				}
			}
		})
	}
}

func TestCertificateAndGatewayFields(t *testing.T) {
	p := baseParams()
	p.Certificates, p.IssuerName, p.IssuerKind = ExistingIssuer, "letsencrypt", "ClusterIssuer"
	objs, err := Objects(p)
	if err != nil {
		t.Fatal(err)
	}
	byKind := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		byKind[o.GetKind()] = o
	}
	cert := byKind["Certificate"]
	if diff := cmp.Diff(map[string]interface{}{"group": "cert-manager.io", "kind": "ClusterIssuer", "name": "letsencrypt"}, field(t, cert, "spec", "issuerRef")); diff != "" {
		t.Errorf("issuerRef (-want +got):\n%s", diff)
	}
	gw := byKind["Gateway"]
	servers := field(t, gw, "spec", "servers").([]interface{})
	https := servers[0].(map[string]interface{})
	if diff := cmp.Diff(map[string]interface{}{"number": int64(443), "name": "https-chatqna", "protocol": "HTTPS"}, https["port"]); diff != "" {
		t.Errorf("HTTPS port (-want +got):\n%s", diff)
	}
	if got := https["tls"].(map[string]interface{})["credentialName"]; got != "opea-chatqna-tls" {
		t.Errorf("credentialName = %v", got)
	}

	p.HTTPRedirect = false
	p.Certificates, p.TLSSecret = ExistingSecret, "my-tls"
	p.HTTPSPort = 8443
	objs, err = Objects(p)
	if err != nil {
		t.Fatal(err)
	}
	gw = objs[len(objs)-2]
	servers = field(t, gw, "spec", "servers").([]interface{})
	if len(servers) != 1 {
		t.Fatalf("with no redirect the Gateway has %d servers, want 1", len(servers))
	}
	tls := servers[0].(map[string]interface{})["tls"].(map[string]interface{})
	if tls["credentialName"] != "my-tls" || servers[0].(map[string]interface{})["port"].(map[string]interface{})["number"] != int64(8443) {
		t.Errorf("server = %v", servers[0])
	}
}

// Values reach the YAML quoted, so no input can change its structure.
func TestTemplatesQuoteValues(t *testing.T) {
	p := baseParams()
	p.Service = "x\n  injected: true"
	objs, err := Objects(p)
	if err != nil {
		t.Fatal(err)
	}
	vs := objs[len(objs)-1]
	route := field(t, vs, "spec", "http").([]interface{})[0].(map[string]interface{})["route"].([]interface{})[0]
	dest := route.(map[string]interface{})["destination"].(map[string]interface{})
	if dest["host"] != "x\n  injected: true.chatqna.svc.cluster.local" || len(dest) != 2 {
		t.Errorf("destination = %v", dest)
	}
}

func TestValidateHosts(t *testing.T) {
	for _, tc := range []struct {
		in      []string
		want    []string
		wantErr string
	}{
		{in: []string{"chatqna.example.com"}, want: []string{"chatqna.example.com"}},
		{in: []string{"*.intel.com", "ChatQnA.Example.com", "chatqna.example.com"}, want: []string{"*.intel.com", "chatqna.example.com"}},
		{in: []string{"chat_qna.example.com"}, wantErr: `"chat_qna.example.com"`},
		{in: []string{"*"}, wantErr: `"*"`},
		{in: []string{"a.*.example.com"}, wantErr: `"a.*.example.com"`},
		{in: []string{"localhost"}, wantErr: "fully qualified"},
		{in: []string{"ok.example.com", "-bad.example.com"}, wantErr: `"-bad.example.com"`},
	} {
		got, err := ValidateHosts(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ValidateHosts(%q) error = %v, want one naming %s", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ValidateHosts(%q): %v", tc.in, err)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("ValidateHosts(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
}
