package read

import (
	"context"
	"fmt"

	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/pkg/clients"
)

// endpointSlicesOfServices selects the EndpointSlices the EndpointSlice
// controller writes for Services (it labels each with its Service's name).
var endpointSlicesOfServices = metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName}

// readEndpointSlices reads the EndpointSlices of s's namespace: one list,
// whatever the number of pods and Services.
func readEndpointSlices(ctx context.Context, kube clients.Kube, s *snapshot.Snapshot) ([]snapshot.EndpointSlice, error) {
	list, err := kube.DiscoveryV1().EndpointSlices(s.Namespace).List(ctx, endpointSlicesOfServices)
	switch {
	case apierrors.IsForbidden(err):
		s.Deny(snapshot.InputEndpointSlices, snapshot.Access{Verb: "list", Group: discoveryv1.GroupName, Resource: "endpointslices", Namespace: s.Namespace})
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("listing the endpointslices of namespace %s: %w", s.Namespace, err)
	}
	return endpointSlices(list.Items)[s.Namespace], nil
}

// listEndpointSlices lists the EndpointSlices of every namespace: one
// request whatever their number. Refused, each application namespace's
// are listed alone.
func (r *reader) listEndpointSlices(ctx context.Context) func() error {
	return func() error {
		list, err := r.c.Kube.DiscoveryV1().EndpointSlices("").List(ctx, endpointSlicesOfServices)
		switch {
		case apierrors.IsForbidden(err):
			return nil
		case err != nil:
			return fmt.Errorf("listing endpointslices: %w", err)
		}
		r.endpointSlices = endpointSlices(list.Items)
		return nil
	}
}

// endpointSlices keeps, by namespace, what verify needs of each slice:
// its Service, its ports and the pods it lists.
func endpointSlices(items []discoveryv1.EndpointSlice) map[string][]snapshot.EndpointSlice {
	out := map[string][]snapshot.EndpointSlice{}
	for _, es := range items {
		got := snapshot.EndpointSlice{Namespace: es.Namespace, Service: es.Labels[discoveryv1.LabelServiceName]}
		for _, p := range es.Ports {
			if p.Port == nil {
				continue
			}
			port := snapshot.EndpointPort{Port: *p.Port}
			if p.Name != nil {
				port.Name = *p.Name
			}
			if p.Protocol != nil {
				port.Protocol = string(*p.Protocol)
			}
			got.Ports = append(got.Ports, port)
		}
		for _, e := range es.Endpoints {
			if e.TargetRef != nil && e.TargetRef.Kind == "Pod" && (e.TargetRef.Namespace == "" || e.TargetRef.Namespace == es.Namespace) {
				got.Pods = append(got.Pods, e.TargetRef.Name)
			}
		}
		out[es.Namespace] = append(out[es.Namespace], got)
	}
	return out
}
