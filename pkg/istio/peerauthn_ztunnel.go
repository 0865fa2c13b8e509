package istio

import (
	"sort"
	"strconv"

	"k8s.io/apimachinery/pkg/labels"
)

// The names istiod gives the DENY policies it derives from
// PeerAuthentications for ztunnel (staticStrictPolicyName in
// pilot/pkg/serviceregistry/ambient/authorization.go and
// GetAmbientPolicyConfigName in pilot/pkg/model/authentication.go).
const (
	StaticStrictPolicyName            = "istio_converted_static_strict"
	ConvertedPeerAuthenticationPrefix = "converted_peer_authentication_"
)

// presenceDenial is the rule istiod writes for "no peer principal": a
// notPrincipals presence match.
var presenceDenial = RuleFrom{Source: Source{NotPrincipals: []string{"*"}}}

// StaticStrictPolicy is the DENY policy istiod sends ztunnel once any
// PeerAuthentication exists, and attaches to every workload whose
// effective mode is STRICT: it refuses connections without a peer
// principal, that is plaintext.
func StaticStrictPolicy(rootNamespace string) AuthorizationPolicy {
	return AuthorizationPolicy{Namespace: rootNamespace, Name: StaticStrictPolicyName, Action: "DENY",
		Rules: []AuthorizationRule{{From: []RuleFrom{presenceDenial}}}}
}

// ZtunnelPeerAuthentications are the DENY policies, in ztunnel's terms,
// that istiod attaches to an ambient workload with podLabels in namespace
// for its PeerAuthentications: StaticStrictPolicy, and/or the policy it
// converts from the workload's selector PeerAuthentication with
// portLevelMtls. It replays convertedSelectorPeerAuthentications and
// convertPeerAuthentication (pilot/pkg/serviceregistry/ambient/
// authorization.go) step by step, quirks included, rather than
// EffectiveMode's summary: where the two differ (a STRICT port under a
// workload policy that is PERMISSIVE, an exception port under a
// namespace policy whose mode is unset), what istiod sends is what
// ztunnel enforces. A workload of the root namespace is not covered.
func ZtunnelPeerAuthentications(pas []PeerAuthentication, rootNamespace, namespace string, podLabels map[string]string) []AuthorizationPolicy {
	mesh, ns, workload := fetchForWorkload(pas, rootNamespace, namespace, podLabels)
	strict := false
	if mesh != nil {
		strict = mesh.Mode() == "STRICT"
	}
	if ns != nil && ns.Mode() != "" {
		strict = ns.Mode() == "STRICT"
	}
	var out []AuthorizationPolicy
	converted := false
	if workload != nil {
		switch workload.Mode() {
		case "STRICT":
			strict = true
		case "PERMISSIVE", "DISABLE":
			strict = false
		}
		if len(workload.PortLevelMTLS) > 0 {
			switch workload.Mode() {
			case "STRICT":
				if anyPortMode(*workload, "PERMISSIVE", "DISABLE") {
					converted, strict = true, false
				}
			case "PERMISSIVE", "DISABLE":
				converted = anyPortMode(*workload, "STRICT")
			default:
				if strict {
					if anyPortMode(*workload, "PERMISSIVE") {
						converted, strict = true, false
					}
				} else {
					converted = anyPortMode(*workload, "STRICT")
				}
			}
		}
	}
	if strict {
		out = append(out, StaticStrictPolicy(rootNamespace))
	}
	if converted {
		// istiod lists the converted policy's key; ztunnel enforces it
		// only if istiod made one (convertPeerAuthentication may make none).
		if p, ok := convertPeerAuthentication(pas, rootNamespace, *workload); ok {
			out = append(out, p)
		}
	}
	return out
}

// fetchForWorkload picks the oldest policy at each level as
// fetchPeerAuthentications and convertedSelectorPeerAuthentications do: the
// root namespace's without selector (mesh); the namespace's without
// selector or with empty matchLabels (namespace); the namespace's whose
// matchLabels are all on the pod (workload).
func fetchForWorkload(pas []PeerAuthentication, rootNamespace, namespace string, podLabels map[string]string) (mesh, ns, workload *PeerAuthentication) {
	oldest := func(cur **PeerAuthentication, pa *PeerAuthentication) {
		if *cur == nil || Older(*pa, **cur) {
			*cur = pa
		}
	}
	for i := range pas {
		pa := &pas[i]
		switch {
		case pa.Namespace == rootNamespace && pa.Selector == nil:
			oldest(&mesh, pa)
		case pa.Namespace != namespace || pa.Namespace == rootNamespace:
		case len(pa.MatchLabels()) == 0:
			oldest(&ns, pa)
		case labels.SelectorFromSet(pa.MatchLabels()).Matches(labels.Set(podLabels)):
			oldest(&workload, pa)
		}
	}
	return mesh, ns, workload
}

// anyPortMode reports whether some port of pa's portLevelMtls has one of
// modes.
func anyPortMode(pa PeerAuthentication, modes ...string) bool {
	for _, m := range pa.PortLevelMTLS {
		for _, mode := range modes {
			if m.Mode == mode {
				return true
			}
		}
	}
	return false
}

// levelPolicy is the oldest policy without any selector of namespace, as
// istiod's PeerAuthByNamespace index finds it for the conversion (a
// "selector: {}" does not count there).
func levelPolicy(pas []PeerAuthentication, namespace string) *PeerAuthentication {
	var out *PeerAuthentication
	for i := range pas {
		pa := &pas[i]
		if pa.Namespace == namespace && pa.Selector == nil && (out == nil || Older(*pa, *out)) {
			out = pa
		}
	}
	return out
}

func modeOf(pa *PeerAuthentication) string {
	if pa == nil {
		return ""
	}
	return pa.Mode()
}

// convertPeerAuthentication is istiod's convertPeerAuthentication for the
// workload policy w: a DENY of plaintext on the ports w keeps STRICT that
// its parents do not, and, under an effective STRICT, of plaintext on
// every port but its PERMISSIVE or DISABLE ones. ok is false when istiod
// makes no policy.
func convertPeerAuthentication(pas []PeerAuthentication, rootNamespace string, w PeerAuthentication) (AuthorizationPolicy, bool) {
	nsCfg, rootCfg := levelPolicy(pas, w.Namespace), levelPolicy(pas, rootNamespace)
	mode := w.Mode()
	nsMode, rootMode := modeOf(nsCfg), modeOf(rootCfg)
	var rules []AuthorizationRule
	denyPlaintext := mode == "STRICT"
	var exceptions []string
	nonStrictPort := false
	for _, port := range sortedPorts(w.PortLevelMTLS) {
		switch portMode := w.PortLevelMTLS[strconv.Itoa(int(port))].Mode; portMode {
		case "STRICT":
			// Go's precedence, as in istiod: A || (B && C) || D, where D
			// (a STRICT mesh policy under a namespace policy absent or
			// unset) holds whatever the workload's own mode.
			inherited := mode == "STRICT" ||
				(mode == "" && nsCfg != nil && nsMode == "STRICT") ||
				((nsCfg == nil || nsMode == "") && rootCfg != nil && rootMode == "STRICT")
			if inherited {
				continue
			}
			rules = append(rules, AuthorizationRule{From: []RuleFrom{presenceDenial},
				To: []RuleTo{{Operation: Operation{Ports: []string{strconv.Itoa(int(port))}}}}})
		case "PERMISSIVE", "DISABLE":
			if mode == "PERMISSIVE" || mode == "DISABLE" {
				continue
			}
			if mode == "" && ((nsCfg != nil && nsMode != "STRICT") || (nsCfg == nil && rootCfg != nil && rootMode != "STRICT") || (nsCfg == nil && rootCfg == nil)) {
				continue
			}
			nonStrictPort = true
			exceptions = append(exceptions, strconv.Itoa(int(port)))
		}
	}
	if mode == "STRICT" && !nonStrictPort {
		return AuthorizationPolicy{}, false
	}
	merge := (rootCfg != nil && rootMode == "STRICT" && (nsCfg == nil || nsMode == "" || nsMode == "STRICT")) || (nsCfg != nil && nsMode == "STRICT")
	if merge && nonStrictPort {
		denyPlaintext = true
	}
	// The rules of istiod's last group are AND-ed: no peer principal, and
	// none of the exception ports.
	if denyPlaintext || len(exceptions) > 0 {
		last := AuthorizationRule{}
		if denyPlaintext {
			last.From = []RuleFrom{presenceDenial}
		}
		if len(exceptions) > 0 {
			last.To = []RuleTo{{Operation: Operation{NotPorts: exceptions}}}
		}
		rules = append(rules, last)
	}
	if len(rules) == 0 {
		return AuthorizationPolicy{}, false
	}
	return AuthorizationPolicy{Namespace: w.Namespace, Name: ConvertedPeerAuthenticationPrefix + w.Name, Action: "DENY", Rules: rules}, true
}

// sortedPorts are the port numbers of portLevelMtls, in order; keys that
// are not port numbers are left out, as the API server's schema refuses
// them.
func sortedPorts(ports map[string]MTLS) []int32 {
	var out []int32
	for k := range ports {
		if p, err := strconv.ParseUint(k, 10, 16); err == nil {
			out = append(out, int32(p))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
