package read

import (
	"context"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
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
	byNamespace, err := networkPolicies(list.Items)
	s.NetworkPolicies = byNamespace[s.Namespace]
	return err
}

// networkPolicies decodes listed NetworkPolicies, by namespace.
func networkPolicies(items []unstructured.Unstructured) (map[string][]networkingv1.NetworkPolicy, error) {
	out := map[string][]networkingv1.NetworkPolicy{}
	for _, item := range items {
		var np networkingv1.NetworkPolicy
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(item.Object, &np); err != nil {
			return nil, fmt.Errorf("reading networkpolicies %s: %w", snapshot.Key(item.GetNamespace(), item.GetName()), err)
		}
		out[np.Namespace] = append(out[np.Namespace], np)
	}
	return out, nil
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
		s.ServiceAccounts = serviceAccountNames(list.Items)[s.Namespace]
	}
	return nil
}

// serviceAccountNames are the names of listed ServiceAccounts, sorted, by
// namespace.
func serviceAccountNames(items []corev1.ServiceAccount) map[string][]string {
	out := map[string][]string{}
	for _, sa := range items {
		out[sa.Namespace] = append(out[sa.Namespace], sa.Name)
	}
	for _, names := range out {
		sort.Strings(names)
	}
	return out
}

// listPitfallInputs lists the NetworkPolicies and ServiceAccounts of every
// namespace: one request each, whatever the number of namespaces. Either
// refused, each application namespace's are listed alone.
func (r *reader) listPitfallInputs(ctx context.Context) func() error {
	return func() error {
		policies, err := r.c.Dynamic.Resource(networkPoliciesGVR).List(ctx, metav1.ListOptions{})
		switch {
		case apierrors.IsForbidden(err):
		case err != nil:
			return fmt.Errorf("listing networkpolicies: %w", err)
		default:
			if r.networkPolicies, err = networkPolicies(policies.Items); err != nil {
				return err
			}
		}
		accounts, err := r.c.Kube.CoreV1().ServiceAccounts("").List(ctx, metav1.ListOptions{})
		switch {
		case apierrors.IsForbidden(err):
			return nil
		case err != nil:
			return fmt.Errorf("listing serviceaccounts: %w", err)
		}
		r.serviceAccounts = serviceAccountNames(accounts.Items)
		return nil
	}
}

// readAmbientPitfalls reads what the ambient pitfalls' checks need of s's
// namespace: from the lists of every namespace when they were made, else
// its own.
func (r *reader) readAmbientPitfalls(ctx context.Context, s *snapshot.Snapshot) error {
	if r.networkPolicies != nil {
		s.NetworkPolicies = r.networkPolicies[s.Namespace]
	} else if err := readNetworkPolicies(ctx, r.c.Dynamic, s); err != nil {
		return err
	}
	if r.serviceAccounts != nil {
		s.ServiceAccounts = r.serviceAccounts[s.Namespace]
		return nil
	}
	return readServiceAccounts(ctx, r.c.Kube, s)
}
