package check

import (
	"slices"
	"strings"

	"github.com/opea-project/kubectl-opea/pkg/ownership"
)

// secureIngressName is the name of the Gateway kubectl opea secure makes
// in the application namespace, in either mode.
const secureIngressName = "opea-ingress"

// secureCommand is the kubectl opea secure command a fix names for the
// application, with extra flags after the hosts. secure has no default
// host: the hosts are those secure's Gateway in the namespace serves, with
// --gateway-api when that Gateway is the Gateway API's; without one,
// "--host <host>" says that the user must name theirs.
func (v *checkView) secureCommand(extra ...string) string {
	hosts, gatewayAPI := v.secureHosts()
	args := []string{"kubectl opea secure -n " + v.s.Namespace}
	if len(hosts) == 0 {
		args = append(args, "--host <host>")
	}
	for _, h := range hosts {
		args = append(args, "--host "+h)
	}
	if gatewayAPI {
		args = append(args, "--gateway-api")
	}
	return strings.Join(append(args, extra...), " ")
}

// secureHosts are the HTTPS hosts of secure's Gateway in the application
// namespace, in its order, and whether it is a Gateway API Gateway; none
// when secure made no Gateway there.
func (v *checkView) secureHosts() (hosts []string, gatewayAPI bool) {
	add := func(h string) {
		if h != "" && !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	for _, gw := range v.s.GatewayAPIGateways {
		if gw.Namespace != v.s.Namespace || gw.Name != secureIngressName || !v.madeBySecure(gw.Labels) {
			continue
		}
		for _, l := range gw.Listeners {
			if l.Terminates() {
				add(l.Hostname)
			}
		}
		return hosts, true
	}
	for _, gw := range v.s.Gateways {
		if gw.Namespace != v.s.Namespace || gw.Name != secureIngressName || !v.madeBySecure(gw.Labels) {
			continue
		}
		for _, server := range gw.Servers {
			if server.TLS == nil {
				continue
			}
			for _, h := range server.Hosts {
				// A server host may name the namespaces whose
				// VirtualServices it admits: "ns/host".
				add(h[strings.IndexByte(h, '/')+1:])
			}
		}
		return hosts, false
	}
	return nil, false
}

// madeBySecure reports whether labels are those kubectl opea secure puts on
// what it makes for the application under audit.
func (v *checkView) madeBySecure(labels map[string]string) bool {
	return ownership.Ours(labels, v.s.Namespace)
}
