package snapshot

import (
	"slices"

	"github.com/opea-project/kubectl-opea/pkg/istio"
)

// EndpointSlice is what verify reads of an EndpointSlice: the Service it
// belongs to, its ports (named as the Service's ports, with the pod port
// the Service port's targetPort resolved to) and the pods it lists.
type EndpointSlice struct {
	Namespace string
	Service   string
	Ports     []EndpointPort
	Pods      []string
}

// EndpointPort is one port of an EndpointSlice.
type EndpointPort struct {
	Name     string
	Port     int32
	Protocol string
}

// ResolveNamedPorts gives each pod of s's namespace the container ports
// its Services' named targetPorts resolve to in the EndpointSlices: the
// slice's port of the Service port's name is the number the name took in
// that pod, as kube-controller-manager resolved it and as istiod reads it.
// The pods are read as metadata, without their containers' ports; this
// takes their place without a read per pod.
func (s *Snapshot) ResolveNamedPorts(endpoints []EndpointSlice) {
	byPod := map[string][]istio.ContainerPort{}
	for _, svc := range s.Services {
		if svc.Namespace != s.Namespace {
			continue
		}
		for _, sp := range svc.Ports {
			if sp.TargetName == "" {
				continue
			}
			for _, es := range endpoints {
				if es.Namespace != s.Namespace || es.Service != svc.Name {
					continue
				}
				for _, ep := range es.Ports {
					if ep.Name != sp.Name {
						continue
					}
					cp := istio.ContainerPort{Name: sp.TargetName, Number: ep.Port, Protocol: ep.Protocol}
					for _, pod := range es.Pods {
						if !slices.Contains(byPod[pod], cp) {
							byPod[pod] = append(byPod[pod], cp)
						}
					}
				}
			}
		}
	}
	for i := range s.Pods {
		if ports, ok := byPod[s.Pods[i].Name]; ok && s.Pods[i].Namespace == s.Namespace {
			s.Pods[i].ContainerPorts = ports
		}
	}
}
