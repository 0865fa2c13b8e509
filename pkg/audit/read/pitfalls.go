package read

import (
	"context"
	"fmt"
	"sort"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/pkg/clients"
)

var networkPoliciesGVR = schema.GroupVersionResource{Group: "networking.k8s.io", Version: "v1", Resource: "networkpolicies"}

// readNetworkPolicies lists the NetworkPolicies of s's namespace: one
// request, whatever the number of pods. Through the dynamic client: the
// typed one of their group would weigh on the binary for one list.
func readNetworkPolicies(ctx context.Context, dyn dynamic.Interface, s *snapshot.Snapshot) error {
	list, err := dyn.Resource(networkPoliciesGVR).Namespace(s.Namespace).List(ctx, metav1.ListOptions{})
	switch {
	case apierrors.IsForbidden(err):
		s.Deny(snapshot.InputNetworkPolicies, snapshot.Access{Verb: "list", Group: "networking.k8s.io", Resource: "networkpolicies", Namespace: s.Namespace})
		return nil
	case err != nil:
		return fmt.Errorf("listing the NetworkPolicies of namespace %s: %w", s.Namespace, err)
	}
	policies := make([]networkingv1.NetworkPolicy, 0, len(list.Items))
	for _, item := range list.Items {
		var np networkingv1.NetworkPolicy
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(item.Object, &np); err != nil {
			return fmt.Errorf("reading networkpolicies %s: %w", snapshot.Key(item.GetNamespace(), item.GetName()), err)
		}
		policies = append(policies, np)
	}
	s.NetworkPolicies = policies
	return nil
}

// readServiceAccounts lists the names of the ServiceAccounts of s's
// namespace: one request.
func readServiceAccounts(ctx context.Context, kube clients.Kube, s *snapshot.Snapshot) error {
	list, err := kube.CoreV1().ServiceAccounts(s.Namespace).List(ctx, metav1.ListOptions{})
	switch {
	case apierrors.IsForbidden(err):
		s.Deny(snapshot.InputServiceAccounts, snapshot.Access{Verb: "list", Resource: "serviceaccounts", Namespace: s.Namespace})
	case err != nil:
		return fmt.Errorf("listing the ServiceAccounts of namespace %s: %w", s.Namespace, err)
	default:
		names := make([]string, 0, len(list.Items))
		for _, sa := range list.Items {
			names = append(names, sa.Name)
		}
		sort.Strings(names)
		s.ServiceAccounts = names
	}
	return nil
}

// readAmbientPitfalls reads what the ambient pitfalls' checks need of s's
// namespace.
func readAmbientPitfalls(ctx context.Context, c Clients, s *snapshot.Snapshot) error {
	if err := readNetworkPolicies(ctx, c.Dynamic, s); err != nil {
		return err
	}
	return readServiceAccounts(ctx, c.Kube, s)
}
