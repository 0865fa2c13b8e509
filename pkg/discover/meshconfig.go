package discover

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/opea-project/kubectl-opea/pkg/clients"
	"github.com/opea-project/kubectl-opea/pkg/istio"
)

// IstiodSelector selects istiod's Deployments, whatever their revision.
const IstiodSelector = "app=istiod"

// MeshConfig is the mesh config found as verify finds it, and where.
type MeshConfig struct {
	istio.MeshSettings
	// Namespace and Name locate the ConfigMap; empty when there is no
	// istiod, and Found is false when the ConfigMap does not exist: the
	// settings are then Istio's defaults.
	Namespace, Name string
	Found           bool
	// ExtensionProviders are the names of the mesh config's
	// extensionProviders, which CUSTOM AuthorizationPolicies name.
	ExtensionProviders []string
}

// Forbidden is a read the user may not make, said as a permission
// (e.g. `get configmaps "istio" in namespace istio-system`).
type Forbidden struct{ Permission string }

func (f *Forbidden) Error() string { return "you may not " + f.Permission }

// ReadMeshConfig finds the mesh config of the mesh's default revision as
// istio.MeshConfigLocation names it (one list of istiod's Deployments and
// one get) and reads its root namespace and trust domain. A read the user
// may not make is a *Forbidden error.
func ReadMeshConfig(ctx context.Context, kube clients.Kube) (MeshConfig, error) {
	out := MeshConfig{MeshSettings: istio.DefaultMeshSettings()}
	list, err := kube.AppsV1().Deployments("").List(ctx, metav1.ListOptions{LabelSelector: IstiodSelector})
	switch {
	case apierrors.IsForbidden(err):
		return out, &Forbidden{"list deployments.apps (" + IstiodSelector + ") in every namespace"}
	case err != nil:
		return out, fmt.Errorf("listing istiod: %w", err)
	}
	istiods := make([]istio.Istiod, 0, len(list.Items))
	for _, d := range list.Items {
		istiods = append(istiods, istio.Istiod{Namespace: d.Namespace, Labels: d.Labels})
	}
	ns, name, ok := istio.MeshConfigLocation(istiods)
	if !ok {
		return out, nil
	}
	out.Namespace, out.Name = ns, name
	cm, err := kube.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return out, nil
	case apierrors.IsForbidden(err):
		return out, &Forbidden{fmt.Sprintf("get configmaps %q in namespace %s", name, ns)}
	case err != nil:
		return out, fmt.Errorf("reading ConfigMap %s/%s: %w", ns, name, err)
	}
	out.Found = true
	settings, err := istio.ParseMeshSettings(cm.Data[istio.MeshConfigKey])
	if err != nil {
		return out, fmt.Errorf("ConfigMap %s/%s, key %s: %w", ns, name, istio.MeshConfigKey, err)
	}
	out.MeshSettings = settings
	providers, err := istio.ExtensionProviderNames(cm.Data[istio.MeshConfigKey])
	if err != nil {
		return out, fmt.Errorf("ConfigMap %s/%s, key %s: %w", ns, name, istio.MeshConfigKey, err)
	}
	out.ExtensionProviders = providers
	return out, nil
}
