package read

import (
	"context"
	"fmt"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/util/watchlist"

	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/pkg/clients"
	"github.com/opea-project/kubectl-opea/pkg/discover"
)

// readNamespace reads the labels of namespace ns into s.
func (r *reader) readNamespace(ctx context.Context, s *snapshot.Snapshot, ns string) error {
	got, err := r.c.Kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return &NamespaceMissingError{Namespace: ns}
	case apierrors.IsForbidden(err):
		// Whether it exists is unknown too: the pods' list is then empty.
		s.Deny(snapshot.InputNamespace, snapshot.Access{Verb: "get", Resource: "namespaces", Name: ns})
	case err != nil:
		return err
	default:
		s.NamespaceLabels = got.Labels
	}
	return nil
}

// readPods reads the running pods of s's namespace, as metadata.
func readPods(ctx context.Context, c Clients, s *snapshot.Snapshot) error {
	// Completed pods are left out: istio-cni removes them from the mesh, and
	// their redirection annotation with them.
	pods, err := listPodMetadata(ctx, c, s.Namespace)
	switch {
	case apierrors.IsForbidden(err):
		s.Deny(snapshot.InputPods, snapshot.Access{Verb: "list", Resource: "pods", Namespace: s.Namespace})
	case err != nil:
		return fmt.Errorf("listing pods: %w", err)
	default:
		s.Pods = pods[s.Namespace]
	}
	return nil
}

// readAppServiceAccounts reads the service accounts the pods of s's
// namespace run as, as secure --lockdown reads them (every pod, whole: the
// metadata lists lack the spec). One request, made only where the lockdown
// is, so that verify judges its principals against what secure would
// render.
func readAppServiceAccounts(ctx context.Context, c Clients, s *snapshot.Snapshot) error {
	pods, err := c.Kube.CoreV1().Pods(s.Namespace).List(ctx, metav1.ListOptions{})
	switch {
	case apierrors.IsForbidden(err):
		s.Deny(snapshot.InputPods, snapshot.Access{Verb: "list", Resource: "pods", Namespace: s.Namespace})
	case err != nil:
		return fmt.Errorf("listing the pods of namespace %s: %w", s.Namespace, err)
	default:
		s.AppServiceAccounts = discover.AppServiceAccounts(pods.Items)
	}
	return nil
}

// listPodMetadata lists the running pods of namespace ns (every namespace
// when ""), as metadata, streamed or in pages (eachItem), keeping of each
// pod not being deleted what the checks read: its name, labels and Istio's
// annotations (sharedStrings). The rest (managedFields, other tools'
// annotations such as a last-applied configuration) is what makes a large
// cluster's pod list heavy.
func listPodMetadata(ctx context.Context, c Clients, ns string) (map[string][]snapshot.Object, error) {
	out := map[string][]snapshot.Object{}
	shared := newSharedStrings()
	list := func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
		return c.Metadata.Resource(podsGVR).Namespace(ns).List(ctx, opts)
	}
	var start watchFunc
	// client-go's fakes say they cannot stream: their watches send no
	// bookmark.
	if !watchlist.DoesClientNotSupportWatchListSemantics(c.Metadata) {
		start = func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			return c.Metadata.Resource(podsGVR).Namespace(ns).Watch(ctx, opts)
		}
	}
	err := eachItem(ctx, list, start, metav1.ListOptions{FieldSelector: RunningPodsSelector}, func(obj runtime.Object) error {
		p, ok := obj.(*metav1.PartialObjectMetadata)
		if !ok {
			return fmt.Errorf("listing pods: got %T", obj)
		}
		if p.DeletionTimestamp == nil {
			pod := snapshot.Object{Namespace: shared.string(p.Namespace), Name: p.Name,
				Labels: shared.labels(p.Labels), Annotations: shared.labels(istioAnnotations(p.Annotations))}
			out[pod.Namespace] = append(out[pod.Namespace], pod)
		}
		return nil
	})
	return out, err
}

// istioAnnotations are the annotations of Istio's domains (istio.io and its
// subdomains, such as ambient.istio.io and sidecar.istio.io): the only ones
// the checks read of a pod.
func istioAnnotations(all map[string]string) map[string]string {
	var kept map[string]string
	for k, v := range all {
		prefix, _, found := strings.Cut(k, "/")
		if found && (prefix == "istio.io" || strings.HasSuffix(prefix, ".istio.io")) {
			if kept == nil {
				kept = map[string]string{}
			}
			kept[k] = v
		}
	}
	return kept
}

// listNamespaces lists every namespace (matching the selector) with its
// labels. Refused, each application namespace is read alone.
func (r *reader) listNamespaces(ctx context.Context) func() error {
	return func() error {
		list, err := r.c.Kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: r.o.NamespaceSelector})
		switch {
		case apierrors.IsForbidden(err):
			return nil
		case err != nil:
			return fmt.Errorf("listing namespaces: %w", err)
		}
		r.namespaceLabels = map[string]map[string]string{}
		for _, ns := range list.Items {
			labels := ns.Labels
			if labels == nil {
				labels = map[string]string{}
			}
			r.namespaceLabels[ns.Name] = labels
		}
		return nil
	}
}

// listPods lists the running pods of every namespace, as metadata: one
// request whatever their number. Refused, each application namespace's
// are listed alone.
func (r *reader) listPods(ctx context.Context) func() error {
	return func() error {
		pods, err := listPodMetadata(ctx, r.c, "")
		switch {
		case apierrors.IsForbidden(err):
			return nil
		case err != nil:
			return fmt.Errorf("listing pods: %w", err)
		}
		r.pods = pods
		return nil
	}
}

// listRoles lists the Roles and RoleBindings of every namespace. Either
// refused, each application namespace's are listed alone.
func (r *reader) listRoles(ctx context.Context) func() error {
	return func() error {
		rbac := r.c.Kube.RbacV1()
		roles, err := rbac.Roles("").List(ctx, metav1.ListOptions{})
		if apierrors.IsForbidden(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("listing roles: %w", err)
		}
		bindings, err := rbac.RoleBindings("").List(ctx, metav1.ListOptions{})
		if apierrors.IsForbidden(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("listing rolebindings: %w", err)
		}
		r.roles, r.roleBindings = map[string][]rbacv1.Role{}, map[string][]rbacv1.RoleBinding{}
		for _, role := range roles.Items {
			r.roles[role.Namespace] = append(r.roles[role.Namespace], role)
		}
		for _, b := range bindings.Items {
			r.roleBindings[b.Namespace] = append(r.roleBindings[b.Namespace], b)
		}
		return nil
	}
}

// refusedRBAC reports whether the API server refused a list of RBAC
// objects, and records it in s.
func refusedRBAC(s *snapshot.Snapshot, err error, resource, ns string) (bool, error) {
	if apierrors.IsForbidden(err) {
		s.Deny(snapshot.InputRBAC, snapshot.Access{Verb: "list", Group: "rbac.authorization.k8s.io", Resource: resource, Namespace: ns})
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("listing %s: %w", resource, err)
	}
	return false, nil
}

// readNamespaceRBAC reads the Roles and RoleBindings of the application's
// namespace: with the ClusterRoles and ClusterRoleBindings, they say who
// may port-forward to its pods.
func readNamespaceRBAC(ctx context.Context, kube clients.Kube, s *snapshot.Snapshot) error {
	rbac := kube.RbacV1()
	roles, err := rbac.Roles(s.Namespace).List(ctx, metav1.ListOptions{})
	if no, err := refusedRBAC(s, err, "roles", s.Namespace); err != nil {
		return err
	} else if !no {
		s.Roles = roles.Items
	}
	bindings, err := rbac.RoleBindings(s.Namespace).List(ctx, metav1.ListOptions{})
	if no, err := refusedRBAC(s, err, "rolebindings", s.Namespace); err != nil {
		return err
	} else if !no {
		s.RoleBindings = bindings.Items
	}
	return nil
}
