package istio

import "testing"

func pa(ns, name, mode string, selector map[string]string, ports map[string]string) PeerAuthentication {
	p := PeerAuthentication{Namespace: ns, Name: name}
	if mode != "" {
		p.MTLS = &MTLS{Mode: mode}
	}
	if selector != nil {
		p.Selector = &WorkloadSelector{MatchLabels: selector}
	}
	if ports != nil {
		p.PortLevelMTLS = map[string]MTLS{}
		for port, m := range ports {
			p.PortLevelMTLS[port] = MTLS{Mode: m}
		}
	}
	return p
}

func TestEffectiveMode(t *testing.T) {
	app := map[string]string{"app": "chatqna"}
	for _, tc := range []struct {
		name       string
		pas        []PeerAuthentication
		wantMode   string
		wantSource string
	}{
		{"nothing: Istio's default", nil, "PERMISSIVE", ""},
		{"mesh policy", []PeerAuthentication{pa("istio-system", "default", "STRICT", nil, nil)}, "STRICT", "istio-system/default"},
		{"namespace overrides mesh", []PeerAuthentication{pa("istio-system", "default", "STRICT", nil, nil), pa("chatqna", "default", "PERMISSIVE", nil, nil)}, "PERMISSIVE", "chatqna/default"},
		{"workload overrides namespace", []PeerAuthentication{pa("chatqna", "default", "STRICT", nil, nil), pa("chatqna", "w", "PERMISSIVE", app, nil)}, "PERMISSIVE", "chatqna/w"},
		{"workload policy for other pods", []PeerAuthentication{pa("chatqna", "default", "STRICT", nil, nil), pa("chatqna", "w", "PERMISSIVE", map[string]string{"app": "ui"}, nil)}, "STRICT", "chatqna/default"},
		{"unset mode inherits", []PeerAuthentication{pa("chatqna", "default", "STRICT", nil, nil), pa("chatqna", "w", "", app, nil)}, "STRICT", "chatqna/default"},
		{"other namespace's policy", []PeerAuthentication{pa("codetrans", "default", "STRICT", nil, nil)}, "PERMISSIVE", ""},
		{"root-namespace selector policy ignored", []PeerAuthentication{pa("istio-system", "w", "STRICT", app, nil)}, "PERMISSIVE", ""},
	} {
		got := EffectiveMode(tc.pas, "istio-system", "chatqna", app)
		if got.Mode != tc.wantMode || got.Source != tc.wantSource {
			t.Errorf("%s: got %s from %q, want %s from %q", tc.name, got.Mode, got.Source, tc.wantMode, tc.wantSource)
		}
	}
	eff := EffectiveMode([]PeerAuthentication{pa("chatqna", "w", "STRICT", app, map[string]string{"9090": "PERMISSIVE"})}, "istio-system", "chatqna", app)
	if eff.PortModes["9090"] != "PERMISSIVE" {
		t.Errorf("port modes = %v", eff.PortModes)
	}
}

func TestResolveGatewayRef(t *testing.T) {
	for _, tc := range []struct{ ref, ns, name string }{
		{"opea-gateway", "chatqna", "opea-gateway"},
		{"istio-ingress/opea-gateway", "istio-ingress", "opea-gateway"},
	} {
		ns, name, ok := ResolveGatewayRef("chatqna", tc.ref)
		if !ok || ns != tc.ns || name != tc.name {
			t.Errorf("ResolveGatewayRef(%q) = %s/%s %v", tc.ref, ns, name, ok)
		}
	}
	if _, _, ok := ResolveGatewayRef("chatqna", "mesh"); ok {
		t.Error("mesh resolved to a Gateway")
	}
}

func TestHostMatching(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"*", "chatqna.example.com", true},
		{"*.intel.com", "chatqna.intel.com", true},
		{"chatqna.intel.com", "*.intel.com", true},
		{"*.intel.com", "*.intel.com", true},
		{"*.intel.com", "intel.com", false},
		{"a.example.com", "b.example.com", false},
		{"chatqna/a.example.com", "A.example.com", true},
	} {
		if got := HostMatches(tc.a, tc.b); got != tc.want {
			t.Errorf("HostMatches(%q, %q) = %v", tc.a, tc.b, got)
		}
	}
}

func TestCertificateCovers(t *testing.T) {
	for _, tc := range []struct {
		sans []string
		host string
		want bool
	}{
		{[]string{"chatqna.example.com"}, "chatqna.example.com", true},
		{[]string{"*.example.com"}, "chatqna.example.com", true},
		{[]string{"*.example.com"}, "a.b.example.com", false},
		{[]string{"*.example.com"}, "*.example.com", true},
		{[]string{"chatqna.example.com"}, "*.example.com", false},
		{[]string{"other.example.com"}, "chatqna.example.com", false},
	} {
		if got := CertificateCovers(tc.sans, tc.host); got != tc.want {
			t.Errorf("CertificateCovers(%v, %q) = %v", tc.sans, tc.host, got)
		}
	}
}
