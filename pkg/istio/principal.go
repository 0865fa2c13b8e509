package istio

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

const (
	// DefaultTrustDomain is the trust domain istiod uses when the mesh
	// config sets none.
	DefaultTrustDomain = "cluster.local"
	// MeshConfigMap is the ConfigMap of the default revision holding the
	// mesh config (istio-<rev> for a revision), in istiod's namespace,
	// under MeshConfigKey as YAML.
	MeshConfigMap = "istio"
	MeshConfigKey = "mesh"
)

// Principal is the SPIFFE identity of a workload running as service account
// sa in namespace ns, as AuthorizationPolicy source.principals name it (no
// spiffe:// prefix): ztunnel matches the peer's certificate against it.
func Principal(trustDomain, ns, sa string) string {
	return trustDomain + "/ns/" + ns + "/sa/" + sa
}

// TrustDomain reads meshConfig.trustDomain from the mesh config YAML (the
// ConfigMap's "mesh" key); DefaultTrustDomain when it is not set. istiod
// reads the proto field name too.
func TrustDomain(meshConfigYAML string) (string, error) {
	var mesh struct {
		TrustDomain      string `json:"trustDomain"`
		TrustDomainProto string `json:"trust_domain"`
	}
	if err := yaml.Unmarshal([]byte(meshConfigYAML), &mesh); err != nil {
		return "", fmt.Errorf("the mesh config is not valid YAML: %w", err)
	}
	switch {
	case mesh.TrustDomain != "":
		return mesh.TrustDomain, nil
	case mesh.TrustDomainProto != "":
		return mesh.TrustDomainProto, nil
	}
	return DefaultTrustDomain, nil
}

// ParsePrincipal splits a principal of the form <trust domain>/ns/<namespace>/sa/<service account>
// and checks each part, so that a typo is refused rather than admitting
// nobody. Wildcards are refused: a lockdown names exact callers.
func ParsePrincipal(p string) (trustDomain, ns, sa string, err error) {
	parts := strings.Split(p, "/")
	if len(parts) != 5 || parts[1] != "ns" || parts[3] != "sa" {
		return "", "", "", fmt.Errorf("%q is not of the form <trust domain>/ns/<namespace>/sa/<service account>, e.g. %s", p, Principal(DefaultTrustDomain, "monitoring", "prometheus"))
	}
	trustDomain, ns, sa = parts[0], parts[2], parts[4]
	if strings.Contains(p, "*") {
		return "", "", "", fmt.Errorf("%q has a wildcard: name each caller's exact principal", p)
	}
	if msgs := validation.IsDNS1123Subdomain(trustDomain); len(msgs) > 0 {
		return "", "", "", fmt.Errorf("%q: trust domain %q: %s", p, trustDomain, strings.Join(msgs, "; "))
	}
	if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
		return "", "", "", fmt.Errorf("%q: namespace %q: %s", p, ns, strings.Join(msgs, "; "))
	}
	if msgs := validation.IsDNS1123Subdomain(sa); len(msgs) > 0 {
		return "", "", "", fmt.Errorf("%q: service account %q: %s", p, sa, strings.Join(msgs, "; "))
	}
	return trustDomain, ns, sa, nil
}

// ParsePrincipalList reads principals recorded as one comma-separated
// string (the opea.dev/allow-principals annotation of secure's lockdown),
// each checked by ParsePrincipal as the --allow-principal flag that wrote
// it was: a record edited in the cluster admits nobody the flag would not
// have. Every bad entry is reported; repeats are kept once. An empty
// string is no principal.
func ParsePrincipalList(list string) ([]string, error) {
	if list == "" {
		return nil, nil
	}
	var out, bad []string
	for _, p := range strings.Split(list, ",") {
		if p == "" {
			bad = append(bad, "an empty entry")
			continue
		}
		if _, _, _, err := ParsePrincipal(p); err != nil {
			bad = append(bad, err.Error())
			continue
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	if len(bad) > 0 {
		return nil, errors.New(strings.Join(bad, "; "))
	}
	return out, nil
}
