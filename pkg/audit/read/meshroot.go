package read

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
)

// readMeshRoot reads ConfigMap istio-ca-root-cert of s's namespace.
func (r *reader) readMeshRoot(ctx context.Context, s *snapshot.Snapshot) error {
	root, refused, err := r.meshRootOf(ctx, s.Namespace)
	if refused != nil {
		s.Deny(snapshot.InputMeshRoot, *refused)
	}
	s.MeshRoot = root
	return err
}

// meshRootOf is ConfigMap istio-ca-root-cert of namespace ns: from the
// list across namespaces when there is one, else read by name. refused is
// the request the API server refused, if it did.
func (r *reader) meshRootOf(ctx context.Context, ns string) (root snapshot.MeshRoot, refused *snapshot.Access, err error) {
	if r.meshRoots != nil {
		return r.meshRoots[ns], nil, nil
	}
	cm, err := r.c.Kube.CoreV1().ConfigMaps(ns).Get(ctx, snapshot.MeshRootConfigMap, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return snapshot.MeshRoot{}, nil, nil
	case apierrors.IsForbidden(err):
		return snapshot.MeshRoot{}, &snapshot.Access{Verb: "get", Resource: "configmaps", Name: snapshot.MeshRootConfigMap, Namespace: ns}, nil
	case err != nil:
		return snapshot.MeshRoot{}, nil, fmt.Errorf("reading ConfigMap %s/%s: %w", ns, snapshot.MeshRootConfigMap, err)
	}
	return snapshot.MeshRoot{Found: true, PEM: []byte(cm.Data[snapshot.MeshRootKey])}, nil, nil
}

// listMeshRoots lists ConfigMap istio-ca-root-cert of every namespace in
// one request. Refused, each application namespace's is read alone.
func (r *reader) listMeshRoots(ctx context.Context) func() error {
	return func() error {
		list, err := r.c.Kube.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + snapshot.MeshRootConfigMap})
		switch {
		case apierrors.IsForbidden(err):
			return nil
		case err != nil:
			return fmt.Errorf("listing ConfigMaps %s: %w", snapshot.MeshRootConfigMap, err)
		}
		r.meshRoots = map[string]snapshot.MeshRoot{}
		for _, cm := range list.Items {
			if cm.Name != snapshot.MeshRootConfigMap {
				continue // a client that ignores the field selector
			}
			r.meshRoots[cm.Namespace] = snapshot.MeshRoot{Found: true, PEM: []byte(cm.Data[snapshot.MeshRootKey])}
		}
		return nil
	}
}

// readMeshIdentity names the cluster's mesh for the fleet checks, from
// what readCluster read of istiod and its mesh config, and the root
// istiod publishes in its own namespace: from the list of every
// namespace's roots when there is one, else one more call. A refused read
// of any of them leaves the identity unknown (its Unread).
func (r *reader) readMeshIdentity(ctx context.Context) error {
	s := r.base
	id := snapshot.MeshIdentity{MeshID: s.MeshID, TrustDomain: s.TrustDomain}
	if refused := s.Refused(snapshot.InputIstiod, snapshot.InputMeshConfig); len(refused) > 0 {
		id.Unread = refused
	}
	// MeshConfig is where the default revision's istiod keeps it, in
	// istiod's namespace; "" when there is no istiod, or it could not be
	// listed.
	ns, _, found := strings.Cut(s.MeshConfig, "/")
	if found {
		id.Istiod, id.IstiodNamespace = true, ns
		root, refused, err := r.meshRootOf(ctx, ns)
		if err != nil {
			return err
		}
		if refused != nil {
			id.Unread = append(id.Unread, *refused)
		}
		id.RootCert = string(root.PEM)
	}
	s.Mesh = id
	return nil
}
