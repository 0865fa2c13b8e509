package istio

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// decodeSpec reads u's spec into out.
func decodeSpec(u *unstructured.Unstructured, out interface{}) error {
	spec, _, _ := unstructured.NestedMap(u.Object, "spec")
	return runtime.DefaultUnstructuredConverter.FromUnstructured(spec, out)
}

// DecodePeerAuthentication reads a PeerAuthentication as the API returns it.
func DecodePeerAuthentication(u *unstructured.Unstructured) (PeerAuthentication, error) {
	var pa PeerAuthentication
	err := decodeSpec(u, &pa)
	pa.Namespace, pa.Name, pa.CreationTimestamp = u.GetNamespace(), u.GetName(), u.GetCreationTimestamp().Time
	return pa, err
}

// DecodeGateway reads a Gateway as the API returns it.
func DecodeGateway(u *unstructured.Unstructured) (Gateway, error) {
	var gw Gateway
	err := decodeSpec(u, &gw)
	gw.Namespace, gw.Name, gw.Labels, gw.CreationTimestamp = u.GetNamespace(), u.GetName(), u.GetLabels(), u.GetCreationTimestamp().Time
	return gw, err
}

// DecodeDestinationRule reads a DestinationRule as the API returns it.
func DecodeDestinationRule(u *unstructured.Unstructured) (DestinationRule, error) {
	var dr DestinationRule
	err := decodeSpec(u, &dr)
	dr.Namespace, dr.Name = u.GetNamespace(), u.GetName()
	return dr, err
}

// DecodeVirtualService reads a VirtualService as the API returns it.
func DecodeVirtualService(u *unstructured.Unstructured) (VirtualService, error) {
	var vs VirtualService
	err := decodeSpec(u, &vs)
	vs.Namespace, vs.Name = u.GetNamespace(), u.GetName()
	return vs, err
}
