package istio

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
)

// RequestAuthentication is a security.istio.io RequestAuthentication: the
// JWTs an Envoy proxy (a sidecar, a gateway or a waypoint) validates.
// ztunnel reads no HTTP and never sees one.
type RequestAuthentication struct {
	Namespace string `json:"-"`
	Name      string `json:"-"`

	Selector   *WorkloadSelector       `json:"selector,omitempty"`
	TargetRef  *PolicyTargetReference  `json:"targetRef,omitempty"`
	TargetRefs []PolicyTargetReference `json:"targetRefs,omitempty"`
	JWTRules   []JWTRule               `json:"jwtRules,omitempty"`
}

// JWTRule is one issuer a RequestAuthentication accepts tokens of.
type JWTRule struct {
	Issuer    string   `json:"issuer,omitempty"`
	JWKSURI   string   `json:"jwksUri,omitempty"`
	Audiences []string `json:"audiences,omitempty"`
}

// DecodeRequestAuthentication reads a RequestAuthentication as the API
// returns it.
func DecodeRequestAuthentication(u *unstructured.Unstructured) (RequestAuthentication, error) {
	var r RequestAuthentication
	if err := decodeSpec(u, &r); err != nil {
		return r, err
	}
	r.Namespace, r.Name = u.GetNamespace(), u.GetName()
	return r, nil
}

// Targeted reports whether r names targetRefs: istiod then attaches it
// only to the gateways, waypoints or Services named.
func (r RequestAuthentication) Targeted() bool {
	return r.TargetRef != nil || len(r.TargetRefs) > 0
}

// Selects reports whether r, without targetRefs, selects a workload with
// podLabels in namespace under root namespace root, as istiod selects for
// sidecars and classic gateways (WorkloadPolicyMatcher.ShouldAttachPolicy):
// a policy of the workload's namespace or of the root namespace, without
// selector or with matchLabels that are a subset of the pod's.
func (r RequestAuthentication) Selects(root, namespace string, podLabels map[string]string) bool {
	if r.Targeted() || (r.Namespace != namespace && r.Namespace != root) {
		return false
	}
	return r.Selector == nil || labels.SelectorFromSet(r.Selector.MatchLabels).Matches(labels.Set(podLabels))
}
