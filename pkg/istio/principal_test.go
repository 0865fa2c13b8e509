package istio

import (
	"strings"
	"testing"
)

func TestPrincipal(t *testing.T) {
	if got := Principal("cluster.local", "chatqna", "default"); got != "cluster.local/ns/chatqna/sa/default" {
		t.Errorf("Principal = %q", got)
	}
}

func TestTrustDomainFromTheMeshConfig(t *testing.T) {
	for _, tc := range []struct {
		name, mesh, want, wantErr string
	}{
		{name: "set", mesh: "defaultConfig:\n  discoveryAddress: istiod.istio-system.svc:15012\ntrustDomain: corp.example\n", want: "corp.example"},
		{name: "the proto field name", mesh: "trust_domain: corp.example\n", want: "corp.example"},
		{name: "not set", mesh: "defaultConfig: {}\n", want: DefaultTrustDomain},
		{name: "empty", mesh: "", want: DefaultTrustDomain},
		{name: "not YAML", mesh: "trustDomain: [", wantErr: "the mesh config is not valid YAML"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := TrustDomain(tc.mesh)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("TrustDomain = %q, %v; want error %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("TrustDomain = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestParsePrincipal(t *testing.T) {
	td, ns, sa, err := ParsePrincipal("cluster.local/ns/monitoring/sa/prometheus")
	if err != nil || td != "cluster.local" || ns != "monitoring" || sa != "prometheus" {
		t.Errorf("ParsePrincipal = %q %q %q %v", td, ns, sa, err)
	}
	for p, want := range map[string]string{
		"monitoring/prometheus":                     "is not of the form <trust domain>/ns/<namespace>/sa/<service account>",
		"spiffe://cluster.local/ns/m/sa/p":          "is not of the form",
		"cluster.local/namespace/m/sa/p":            "is not of the form",
		"cluster.local/ns/m/sa/p/extra":             "is not of the form",
		"cluster.local/ns/monitoring/sa/*":          "has a wildcard",
		"cluster.local/ns/Monitoring/sa/prometheus": `namespace "Monitoring"`,
		"/ns/monitoring/sa/prometheus":              `trust domain ""`,
		"cluster.local/ns/monitoring/sa/":           `service account ""`,
	} {
		if _, _, _, err := ParsePrincipal(p); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParsePrincipal(%q) = %v, want an error with %q", p, err, want)
		}
	}
}
