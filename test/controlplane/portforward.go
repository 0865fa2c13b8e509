package controlplane

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

// clusterPortForwards is kwok's ClusterPortForward (kwok.x-k8s.io/v1alpha1),
// which kwok watches (--enable-crds): where the port-forwards the API
// server sends kwok for a pod go, since kwok runs no container to receive
// them.
var clusterPortForwards = schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "clusterportforwards"}

// ForwardPodPorts has kwok send what a port-forward to pod ns/pod's ports
// carries to the loopback addresses of targets (pod port -> host:port), as
// a kubelet would send it into the pod: `kubectl port-forward` and any
// client of the API server's pods/portforward then reach what listens
// there. The ClusterPortForward is called name; the returned function
// deletes it.
func ForwardPodPorts(ctx context.Context, cfg *rest.Config, name, ns, pod string, targets map[int32]string) (func(), error) {
	ports := make([]int32, 0, len(targets))
	for port := range targets {
		ports = append(ports, port)
	}
	sort.Slice(ports, func(i, j int) bool { return ports[i] < ports[j] })
	var forwards []interface{}
	for _, port := range ports {
		host, target, err := net.SplitHostPort(targets[port])
		if err != nil {
			return nil, fmt.Errorf("target of port %d: %w", port, err)
		}
		n, err := strconv.Atoi(target)
		if err != nil {
			return nil, fmt.Errorf("target of port %d: %w", port, err)
		}
		forwards = append(forwards, map[string]interface{}{
			"ports":  []interface{}{int64(port)},
			"target": map[string]interface{}{"address": host, "port": int64(n)},
		})
	}
	obj := &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "kwok.x-k8s.io/v1alpha1",
		"kind":       "ClusterPortForward",
		"metadata":   map[string]interface{}{"name": name},
		"spec": map[string]interface{}{
			"selector": map[string]interface{}{"matchNamespaces": []interface{}{ns}, "matchNames": []interface{}{pod}},
			"forwards": forwards,
		},
	}}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	client := dyn.Resource(clusterPortForwards)
	if _, err := client.Apply(ctx, name, obj, metav1.ApplyOptions{FieldManager: "opea-local-control-plane", Force: true}); err != nil {
		return nil, fmt.Errorf("applying ClusterPortForward %s: %w", name, err)
	}
	return func() { _ = client.Delete(context.Background(), name, metav1.DeleteOptions{}) }, nil
}
