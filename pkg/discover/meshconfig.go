package discover

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/opea-project/kubectl-opea/pkg/clients"
	"github.com/opea-project/kubectl-opea/pkg/istio"
)

// IstiodSelector selects istiod's Deployments, whatever their revision.
const IstiodSelector = "app=istiod"

// MeshConfigSource is the mesh config of the mesh's default revision as
// FindMeshConfig found it: istiod's Deployments, and the ConfigMap they
// name.
type MeshConfigSource struct {
	// Istiods are istiod's Deployments, of every revision.
	Istiods []appsv1.Deployment
	// Namespace and Name locate the ConfigMap; empty when there is no
	// istiod (or its list was refused).
	Namespace, Name string
	// Found is false when the ConfigMap does not exist (or its get was
	// refused).
	Found bool
	// YAML is the mesh config: the ConfigMap's key istio.MeshConfigKey.
	YAML string
}

// FindMeshConfig finds the mesh config of the mesh's default revision as
// istio.MeshConfigLocation names it: one list of istiod's Deployments and,
// when there is an istiod, one get of the ConfigMap. A refused request is
// an error for which apierrors.IsForbidden holds: a refused list leaves
// Namespace empty, a refused get does not, so that the caller can say
// which request was refused.
func FindMeshConfig(ctx context.Context, kube clients.Kube) (MeshConfigSource, error) {
	var out MeshConfigSource
	list, err := kube.AppsV1().Deployments("").List(ctx, metav1.ListOptions{LabelSelector: IstiodSelector})
	if err != nil {
		return out, fmt.Errorf("listing istiod: %w", err)
	}
	out.Istiods = list.Items
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
	case err != nil:
		return out, fmt.Errorf("reading ConfigMap %s/%s: %w", ns, name, err)
	}
	out.Found, out.YAML = true, cm.Data[istio.MeshConfigKey]
	return out, nil
}

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

// ReadMeshConfig finds the mesh config (FindMeshConfig: one list of
// istiod's Deployments and one get) and reads its root namespace and trust
// domain. A read the user may not make is a *Forbidden error.
func ReadMeshConfig(ctx context.Context, kube clients.Kube) (MeshConfig, error) {
	out := MeshConfig{MeshSettings: istio.DefaultMeshSettings()}
	src, err := FindMeshConfig(ctx, kube)
	out.Namespace, out.Name, out.Found = src.Namespace, src.Name, src.Found
	switch {
	case apierrors.IsForbidden(err) && src.Namespace == "":
		return out, &Forbidden{"list deployments.apps (" + IstiodSelector + ") in every namespace"}
	case apierrors.IsForbidden(err):
		return out, &Forbidden{fmt.Sprintf("get configmaps %q in namespace %s", src.Name, src.Namespace)}
	case err != nil || !src.Found:
		return out, err
	}
	settings, err := istio.ParseMeshSettings(src.YAML)
	if err != nil {
		return out, fmt.Errorf("ConfigMap %s/%s, key %s: %w", src.Namespace, src.Name, istio.MeshConfigKey, err)
	}
	out.MeshSettings = settings
	providers, err := istio.ExtensionProviderNames(src.YAML)
	if err != nil {
		return out, fmt.Errorf("ConfigMap %s/%s, key %s: %w", src.Namespace, src.Name, istio.MeshConfigKey, err)
	}
	out.ExtensionProviders = providers
	return out, nil
}
