package desired

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/opea-project/kubectl-opea/pkg/ownership"
)

func lockdown() *Lockdown {
	return &Lockdown{
		Version:          "v1",
		TrustDomain:      "cluster.local",
		ServiceAccounts:  []string{"default", "chatqna-ui", "chatqna-retriever", "default"},
		EntrySelector:    map[string]string{"app": "chatqna-nginx"},
		EntryPorts:       []int32{8080},
		GatewayPrincipal: "cluster.local/ns/istio-ingress/sa/istio-ingress",
	}
}

// policyYAML is an AuthorizationPolicy's spec and annotations as YAML,
// the way a reader of the docs sees it.
func policyYAML(t *testing.T, u *unstructured.Unstructured) string {
	t.Helper()
	out := map[string]interface{}{"spec": u.Object["spec"]}
	if a := u.GetAnnotations(); a != nil {
		out["annotations"] = a
	}
	b, err := yaml.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestLockdownPolicies(t *testing.T) {
	for _, tc := range []struct {
		name   string
		params func() Params
		modify func(*Lockdown)
		want   map[string]string // by name: spec (and annotations) as YAML
	}{
		{
			name:   "classic",
			params: baseParams,
			modify: func(*Lockdown) {},
			want: map[string]string{
				"opea-allow-ingress": `spec:
  action: ALLOW
  rules:
  - from:
    - source:
        principals:
        - cluster.local/ns/istio-ingress/sa/istio-ingress
    to:
    - operation:
        ports:
        - "8080"
  selector:
    matchLabels:
      app: chatqna-nginx
`,
				"opea-allow-app": `spec:
  action: ALLOW
  rules:
  - from:
    - source:
        principals:
        - cluster.local/ns/chatqna/sa/chatqna-retriever
        - cluster.local/ns/chatqna/sa/chatqna-ui
        - cluster.local/ns/chatqna/sa/default
`,
				"opea-deny-by-default": "spec: {}\n",
			},
		},
		{
			name:   "Gateway API, another trust domain, an extra caller, two entry ports",
			params: gatewayAPIParams,
			modify: func(l *Lockdown) {
				l.TrustDomain = "corp.example"
				l.GatewayPrincipal = "corp.example/ns/chatqna/sa/opea-ingress-istio"
				l.AllowPrincipals = []string{"corp.example/ns/monitoring/sa/prometheus"}
				l.EntryPorts = []int32{8080, 8081}
			},
			want: map[string]string{
				"opea-allow-ingress": `spec:
  action: ALLOW
  rules:
  - from:
    - source:
        principals:
        - corp.example/ns/chatqna/sa/opea-ingress-istio
    to:
    - operation:
        ports:
        - "8080"
        - "8081"
  selector:
    matchLabels:
      app: chatqna-nginx
`,
				"opea-allow-app": `annotations:
  opea.dev/allow-principals: corp.example/ns/monitoring/sa/prometheus
spec:
  action: ALLOW
  rules:
  - from:
    - source:
        principals:
        - corp.example/ns/chatqna/sa/chatqna-retriever
        - corp.example/ns/chatqna/sa/chatqna-ui
        - corp.example/ns/chatqna/sa/default
        - corp.example/ns/monitoring/sa/prometheus
`,
				"opea-deny-by-default": "spec: {}\n",
				"opea-allow-gateway-clients": `spec:
  action: ALLOW
  rules:
  - {}
  targetRefs:
  - group: gateway.networking.k8s.io
    kind: Gateway
    name: opea-ingress
`,
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.params()
			p.Lockdown = lockdown()
			tc.modify(p.Lockdown)
			objs, err := Objects(p)
			if err != nil {
				t.Fatal(err)
			}
			// After everything else, the gateway's clients and the gateway
			// admitted first and allow-nothing last.
			wantLast := []string{
				"security.istio.io/v1 AuthorizationPolicy chatqna/opea-allow-ingress",
				"security.istio.io/v1 AuthorizationPolicy chatqna/opea-allow-app",
				"security.istio.io/v1 AuthorizationPolicy chatqna/opea-deny-by-default",
			}
			if p.GatewayAPIVersion != "" {
				wantLast = append([]string{"security.istio.io/v1 AuthorizationPolicy chatqna/opea-allow-gateway-clients"}, wantLast...)
			}
			var last []string
			for _, o := range objs[len(objs)-len(wantLast):] {
				last = append(last, o.GetAPIVersion()+" "+o.GetKind()+" "+o.GetNamespace()+"/"+o.GetName())
			}
			if diff := cmp.Diff(wantLast, last); diff != "" {
				t.Errorf("last objects (-want +got):\n%s", diff)
			}
			for _, o := range objs[len(objs)-len(wantLast):] {
				if diff := cmp.Diff(ownership.Labels("chatqna"), o.GetLabels()); diff != "" {
					t.Errorf("%s labels (-want +got):\n%s", o.GetName(), diff)
				}
				if diff := cmp.Diff(tc.want[o.GetName()], policyYAML(t, o)); diff != "" {
					t.Errorf("%s (-want +got):\n%s", o.GetName(), diff)
				}
			}
		})
	}
}

func TestLockdownNames(t *testing.T) {
	n := ownership.NamesFor("chatqna")
	if n.DenyByDefault != "opea-deny-by-default" || n.AllowApp != "opea-allow-app" || n.AllowIngress != "opea-allow-ingress" || n.AllowGatewayClients != "opea-allow-gateway-clients" {
		t.Errorf("names %+v", n)
	}
	p := baseParams()
	p.Lockdown = lockdown()
	p.Lockdown.AllowPrincipals = []string{"a/ns/b/sa/c"}
	objs, err := Objects(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := objs[len(objs)-2].GetAnnotations()[ownership.AllowPrincipalsAnnotation]; got != "a/ns/b/sa/c" {
		t.Errorf("annotation %s = %q", ownership.AllowPrincipalsAnnotation, got)
	}
}

func TestLockdownV1beta1(t *testing.T) {
	p := baseParams()
	p.Lockdown = lockdown()
	p.Lockdown.Version = "v1beta1"
	objs, err := Objects(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs[len(objs)-3:] {
		if o.GetAPIVersion() != "security.istio.io/v1beta1" || o.GetKind() != "AuthorizationPolicy" {
			t.Errorf("%s %s", o.GetAPIVersion(), o.GetKind())
		}
	}
}

func TestNoPoliciesWithoutLockdown(t *testing.T) {
	for _, p := range []Params{baseParams(), gatewayAPIParams()} {
		objs, err := Objects(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			if o.GetKind() == "AuthorizationPolicy" {
				t.Errorf("%s without a lockdown", o.GetName())
			}
		}
	}
}

func TestLockdownNeedsItsFacts(t *testing.T) {
	for name, modify := range map[string]func(*Lockdown){
		"no service accounts": func(l *Lockdown) { l.ServiceAccounts = nil },
		"no entry selector":   func(l *Lockdown) { l.EntrySelector = nil },
		"no entry port":       func(l *Lockdown) { l.EntryPorts = nil },
		"no gateway":          func(l *Lockdown) { l.GatewayPrincipal = "" },
		"no trust domain":     func(l *Lockdown) { l.TrustDomain = "" },
	} {
		p := baseParams()
		p.Lockdown = lockdown()
		modify(p.Lockdown)
		if _, err := Objects(p); err == nil || !strings.Contains(err.Error(), "lockdown") {
			t.Errorf("%s: Objects = %v", name, err)
		}
	}
}
