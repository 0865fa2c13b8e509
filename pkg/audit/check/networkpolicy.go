package check

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// HBONEPort is where ztunnel receives mesh traffic for a pod in ambient
// mode: every connection from another ztunnel, a waypoint or an ingress
// gateway arrives on it, inside the pod's network namespace, so a
// NetworkPolicy of the pod must admit it (istio/istio#52742).
const HBONEPort = 15008

// selectsPod reports whether sel matches a pod's labels, as the API server
// reads a LabelSelector: an empty selector matches every pod; one that
// does not parse matches none (the API server refuses such a policy).
func selectsPod(sel metav1.LabelSelector, podLabels map[string]string) bool {
	s, err := metav1.LabelSelectorAsSelector(&sel)
	return err == nil && s.Matches(labels.Set(podLabels))
}

// isolatesIngress reports whether np restricts ingress to the pods it
// selects: policyTypes names Ingress, or is empty, which the API server
// defaults to Ingress (plus Egress when there are egress rules).
func isolatesIngress(np networkingv1.NetworkPolicy) bool {
	if len(np.Spec.PolicyTypes) == 0 {
		return true
	}
	for _, t := range np.Spec.PolicyTypes {
		if t == networkingv1.PolicyTypeIngress {
			return true
		}
	}
	return false
}

// portAdmits reports whether one entry of a rule's ports admits TCP port
// number: the protocol is TCP (the default); no port is every port; a
// number, alone or with endPort as a range, is compared; a named port is a
// container port of the pod, and ztunnel's HBONE listener is none.
func portAdmits(p networkingv1.NetworkPolicyPort, number int32) bool {
	if p.Protocol != nil && *p.Protocol != corev1.ProtocolTCP {
		return false
	}
	if p.Port == nil {
		return true
	}
	if p.Port.Type != 0 { // a name
		return false
	}
	first := p.Port.IntVal
	if p.EndPort != nil {
		return first <= number && number <= *p.EndPort
	}
	return first == number
}

// ruleAdmitsPort reports whether an ingress rule admits TCP port number
// from some peer: a rule without ports admits every port.
func ruleAdmitsPort(r networkingv1.NetworkPolicyIngressRule, number int32) bool {
	if len(r.Ports) == 0 {
		return true
	}
	for _, p := range r.Ports {
		if portAdmits(p, number) {
			return true
		}
	}
	return false
}

// hboneIngress is what the NetworkPolicies of a pod make of HBONE.
type hboneIngress struct {
	// isolating are the policies that select the pod and restrict its
	// ingress; none: every connection is admitted.
	isolating []string
	// admitted: some rule of them admits TCP 15008; from names the peers
	// the admitting rules restrict it to ("" for anyone).
	admitted bool
	from     []string
}

// hboneFor judges the NetworkPolicies of a namespace for a pod with
// podLabels. Connections a pod accepts are the union of the ingress rules
// of every policy that isolates it.
func hboneFor(policies []networkingv1.NetworkPolicy, podLabels map[string]string) hboneIngress {
	var h hboneIngress
	for _, np := range policies {
		if !isolatesIngress(np) || !selectsPod(np.Spec.PodSelector, podLabels) {
			continue
		}
		h.isolating = append(h.isolating, np.Name)
		for _, r := range np.Spec.Ingress {
			if !ruleAdmitsPort(r, HBONEPort) {
				continue
			}
			h.admitted = true
			if len(r.From) == 0 {
				h.from = append(h.from, "")
			}
			for _, peer := range r.From {
				h.from = append(h.from, peerText(peer))
			}
		}
	}
	sort.Strings(h.isolating)
	return h
}

// peerText names a rule's peer for a message.
func peerText(p networkingv1.NetworkPolicyPeer) string {
	var parts []string
	if p.NamespaceSelector != nil {
		parts = append(parts, "namespaces "+selectorText(*p.NamespaceSelector))
	}
	if p.PodSelector != nil {
		parts = append(parts, "pods "+selectorText(*p.PodSelector))
	}
	if p.IPBlock != nil {
		parts = append(parts, "ipBlock "+p.IPBlock.CIDR)
	}
	return strings.Join(parts, " and ")
}

func selectorText(sel metav1.LabelSelector) string {
	s, err := metav1.LabelSelectorAsSelector(&sel)
	switch {
	case err != nil:
		return fmt.Sprintf("(invalid selector: %v)", err)
	case s.Empty():
		return "{} (all)"
	}
	return s.String()
}
