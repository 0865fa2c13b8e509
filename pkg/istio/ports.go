package istio

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// DisablePortTranslationLabel on a Service stops istiod from translating
// Gateway server ports through it (model.DisableGatewayPortTranslationLabel).
const DisablePortTranslationLabel = "experimental.istio.io/disable-gateway-port-translation"

// ContainerPort is a port a gateway pod's container declares.
type ContainerPort struct {
	Name     string
	Protocol string // "" means TCP
	Number   int32
}

// ContainerPorts lists the ports of a pod's containers and of its native
// sidecars (init containers with restartPolicy Always), where istiod looks
// up a named targetPort.
func ContainerPorts(spec corev1.PodSpec) []ContainerPort {
	var out []ContainerPort
	add := func(c corev1.Container) {
		for _, p := range c.Ports {
			out = append(out, ContainerPort{Name: p.Name, Protocol: string(p.Protocol), Number: p.ContainerPort})
		}
	}
	for _, c := range spec.Containers {
		add(c)
	}
	for _, c := range spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			add(c)
		}
	}
	return out
}

func protocolOrTCP(p string) string {
	if p == "" {
		return string(corev1.ProtocolTCP)
	}
	return p
}

// FindTargetPort resolves the pod port a Service port sends traffic to, as
// istiod's kube controller FindPort does: a number as is, a name through the
// container ports of that name and protocol. ok is false when a name matches
// no port: istiod then leaves the Service port out of the pod's targets.
func FindTargetPort(p corev1.ServicePort, pod []ContainerPort) (port int32, ok bool) {
	switch {
	case p.TargetPort.Type == intstr.String && p.TargetPort.StrVal != "":
		for _, cp := range pod {
			if cp.Name == p.TargetPort.StrVal && protocolOrTCP(cp.Protocol) == protocolOrTCP(string(p.Protocol)) {
				return cp.Number, true
			}
		}
		return 0, false
	case p.TargetPort.Type == intstr.Int && p.TargetPort.IntVal != 0:
		return p.TargetPort.IntVal, true
	}
	// The API server defaults an unset targetPort to the port.
	return p.Port, true
}

// ServiceTarget is one Service port of a gateway pod with the pod port it
// reaches: what istiod calls the proxy's ServiceTargets.
type ServiceTarget struct {
	Port       int32
	TargetPort int32
}

// ServiceTargets resolves the ports of a Service that selects a gateway pod
// whose containers declare pod. Unresolvable named ports are left out, as
// istiod leaves them out.
func ServiceTargets(ports []corev1.ServicePort, pod []ContainerPort) []ServiceTarget {
	var out []ServiceTarget
	for _, p := range ports {
		if target, ok := FindTargetPort(p, pod); ok {
			out = append(out, ServiceTarget{Port: p.Port, TargetPort: target})
		}
	}
	return out
}

// ResolveServerPort is the port a gateway pod listens on for a Gateway
// server port number, as istiod's resolvePorts does for a Gateway that
// selects pods by labels: the targetPort of the first Service port equal to
// number, else number itself. targets are the pod's Service targets, in the
// order of their Services, without Services labelled
// DisablePortTranslationLabel.
func ResolveServerPort(targets []ServiceTarget, number int32) int32 {
	for _, t := range targets {
		if t.Port == number {
			return t.TargetPort
		}
	}
	return number
}
