package read

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/pkg/clients"
	"github.com/opea-project/kubectl-opea/pkg/istio"
)

// ReadMeshIdentity reads what names a cluster's mesh: istiod's mesh ID and
// trust domain, from the mesh config of the default revision (found as
// readMeshConfig finds it), and the root certificate istiod publishes in
// its namespace. At most three calls. A refused read is recorded in
// Unread; another failure is returned.
func ReadMeshIdentity(ctx context.Context, kube clients.Kube) (snapshot.MeshIdentity, error) {
	id := snapshot.MeshIdentity{TrustDomain: istio.DefaultTrustDomain}
	istiods, err := kube.AppsV1().Deployments("").List(ctx, metav1.ListOptions{LabelSelector: "app=istiod"})
	if apierrors.IsForbidden(err) {
		id.Unread = append(id.Unread, snapshot.Access{Verb: "list", Group: "apps", Resource: "deployments", AllNamespaces: true})
		return id, nil
	}
	if err != nil {
		return id, fmt.Errorf("listing istiod: %w", err)
	}
	refs := make([]istio.Istiod, 0, len(istiods.Items))
	for _, d := range istiods.Items {
		refs = append(refs, istio.Istiod{Namespace: d.Namespace, Labels: d.Labels})
	}
	ns, name, ok := istio.MeshConfigLocation(refs)
	if !ok {
		return id, nil
	}
	id.Istiod, id.IstiodNamespace = true, ns
	mesh, err := configMapData(ctx, kube, ns, name, istio.MeshConfigKey, &id)
	if err != nil {
		return id, err
	}
	if id.MeshID, err = istio.MeshID(mesh); err != nil {
		return id, fmt.Errorf("reading the mesh config in ConfigMap %s/%s: %w", ns, name, err)
	}
	if id.TrustDomain, err = istio.TrustDomain(mesh); err != nil {
		return id, fmt.Errorf("reading the mesh config in ConfigMap %s/%s: %w", ns, name, err)
	}
	id.RootCert, err = configMapData(ctx, kube, ns, istio.RootCertConfigMap, istio.RootCertKey, &id)
	return id, err
}

// configMapData is key of ConfigMap ns/name, "" when the ConfigMap does not
// exist or the read is refused (recorded in id.Unread).
func configMapData(ctx context.Context, kube clients.Kube, ns, name, key string, id *snapshot.MeshIdentity) (string, error) {
	cm, err := kube.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return "", nil
	case apierrors.IsForbidden(err):
		id.Unread = append(id.Unread, snapshot.Access{Verb: "get", Resource: "configmaps", Name: name, Namespace: ns})
		return "", nil
	case err != nil:
		return "", fmt.Errorf("reading ConfigMap %s/%s: %w", ns, name, err)
	}
	return cm.Data[key], nil
}
