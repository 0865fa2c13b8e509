package read

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/pkg/gatewayapi"
	"github.com/opea-project/kubectl-opea/pkg/istio"
)

func readIstioConfig(ctx context.Context, dyn dynamic.Interface, s *snapshot.Snapshot) error {
	if s.APIs.Networking == "" || s.APIs.Security == "" {
		return nil // reported by cluster.istio-apis
	}
	var err error
	if s.PeerAuthentications, err = listServed(ctx, dyn, s, snapshot.InputPeerAuthentications, s.APIs.PeerAuthentications(), istio.DecodePeerAuthentication); err != nil {
		return err
	}
	if s.DestinationRules, err = listServed(ctx, dyn, s, snapshot.InputDestinationRules, s.APIs.DestinationRules(), istio.DecodeDestinationRule); err != nil {
		return err
	}
	if err := readIstioRouting(ctx, dyn, s); err != nil {
		return err
	}
	s.AuthorizationPolicies, err = listObjects(ctx, dyn, s, snapshot.InputAuthorizationPolicies,
		istio.AuthorizationPolicies(s.APIs.Security), istio.DecodeAuthorizationPolicy)
	if err != nil || s.APIs.RequestAuthentications == "" {
		return err
	}
	s.RequestAuthentications, err = listServed(ctx, dyn, s, snapshot.InputRequestAuthentications,
		istio.RequestAuthentications(s.APIs.RequestAuthentications), istio.DecodeRequestAuthentication)
	return err
}

// readIstioRouting reads every Istio Gateway and VirtualService.
func readIstioRouting(ctx context.Context, dyn dynamic.Interface, s *snapshot.Snapshot) error {
	var err error
	if s.Gateways, err = listServed(ctx, dyn, s, snapshot.InputGateways, s.APIs.IstioGateways(), istio.DecodeGateway); err != nil {
		return err
	}
	s.VirtualServices, err = listServed(ctx, dyn, s, snapshot.InputVirtualServices, s.APIs.VirtualServices(), istio.DecodeVirtualService)
	return err
}

// clusterScoped are the resources listObjects lists that have no namespace.
var clusterScoped = map[string]bool{"gatewayclasses": true}

// listObjects lists a resource in every namespace (or a cluster-scoped
// one) and decodes each item. When the API server refuses the list, it
// records in as unread and returns no items and no error; a resource not
// served is no items too.
func listObjects[T any](ctx context.Context, dyn dynamic.Interface, s *snapshot.Snapshot, in snapshot.Input, gvr schema.GroupVersionResource, decode func(*unstructured.Unstructured) (T, error)) ([]T, error) {
	return list(ctx, dyn, s, in, gvr, decode, true)
}

// listServed is listObjects for a resource discovery found served, in the
// version it found: its absence is an error.
func listServed[T any](ctx context.Context, dyn dynamic.Interface, s *snapshot.Snapshot, in snapshot.Input, gvr schema.GroupVersionResource, decode func(*unstructured.Unstructured) (T, error)) ([]T, error) {
	return list(ctx, dyn, s, in, gvr, decode, false)
}

// list lists and decodes gvr; with absentIsEmpty, a resource not served
// is no items rather than an error.
func list[T any](ctx context.Context, dyn dynamic.Interface, s *snapshot.Snapshot, in snapshot.Input, gvr schema.GroupVersionResource, decode func(*unstructured.Unstructured) (T, error), absentIsEmpty bool) ([]T, error) {
	listed, err := dyn.Resource(gvr).List(ctx, metav1.ListOptions{})
	switch {
	case apierrors.IsForbidden(err):
		// A cluster-scoped resource is listed, not listed in every namespace.
		s.Deny(in, snapshot.Access{Verb: "list", Group: gvr.Group, Resource: gvr.Resource, AllNamespaces: !clusterScoped[gvr.Resource]})
		return nil, nil
	case apierrors.IsNotFound(err) && absentIsEmpty:
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("listing %s: %w", gvr.Resource, err)
	}
	out := make([]T, 0, len(listed.Items))
	for i := range listed.Items {
		item, err := decode(&listed.Items[i])
		if err != nil {
			return nil, fmt.Errorf("reading %s %s: %w", gvr.Resource, snapshot.Key(listed.Items[i].GetNamespace(), listed.Items[i].GetName()), err)
		}
		out = append(out, item)
	}
	return out, nil
}

// readGatewayAPI reads the Gateway API's objects when the API is served:
// one list each, in every namespace, whatever the number of namespaces.
// ReferenceGrants are read in v1beta1, which a cluster may not serve: then
// there are none.
func readGatewayAPI(ctx context.Context, dyn dynamic.Interface, s *snapshot.Snapshot) error {
	version := s.APIs.GatewayAPI
	if version == "" {
		return nil
	}
	var err error
	if s.GatewayClasses, err = listObjects(ctx, dyn, s, snapshot.InputGatewayClasses, gatewayapi.GatewayClasses(version), gatewayapi.DecodeGatewayClass); err != nil {
		return err
	}
	if s.GatewayAPIGateways, err = listObjects(ctx, dyn, s, snapshot.InputGatewayAPIGateways, gatewayapi.Gateways(version), gatewayapi.DecodeGateway); err != nil {
		return err
	}
	if s.HTTPRoutes, err = listObjects(ctx, dyn, s, snapshot.InputHTTPRoutes, gatewayapi.HTTPRoutes(version), gatewayapi.DecodeHTTPRoute); err != nil {
		return err
	}
	s.ReferenceGrants, err = listObjects(ctx, dyn, s, snapshot.InputReferenceGrants, gatewayapi.ReferenceGrants, gatewayapi.DecodeReferenceGrant)
	return err
}
