package read

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
)

// readMeshRoot reads ConfigMap istio-ca-root-cert of s's namespace: from
// the list across namespaces when there is one, else by name.
func (r *reader) readMeshRoot(ctx context.Context, s *snapshot.Snapshot) error {
	if r.meshRoots != nil {
		s.MeshRoot = r.meshRoots[s.Namespace]
		return nil
	}
	cm, err := r.c.Kube.CoreV1().ConfigMaps(s.Namespace).Get(ctx, snapshot.MeshRootConfigMap, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case apierrors.IsForbidden(err):
		s.Deny(snapshot.InputMeshRoot, snapshot.Access{Verb: "get", Resource: "configmaps", Name: snapshot.MeshRootConfigMap, Namespace: s.Namespace})
	case err != nil:
		return fmt.Errorf("reading ConfigMap %s/%s: %w", s.Namespace, snapshot.MeshRootConfigMap, err)
	default:
		s.MeshRoot = snapshot.MeshRoot{Found: true, PEM: []byte(cm.Data[snapshot.MeshRootKey])}
	}
	return nil
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
