package read

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/pkg/clients"
	"github.com/opea-project/kubectl-opea/pkg/discover"
	"github.com/opea-project/kubectl-opea/pkg/istio"
)

// readServices reads every Service, in pages.
func readServices(ctx context.Context, kube clients.Kube, s *snapshot.Snapshot) error {
	list := func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
		return kube.CoreV1().Services("").List(ctx, opts)
	}
	err := eachItem(ctx, list, nil, metav1.ListOptions{}, func(obj runtime.Object) error {
		svc, ok := obj.(*corev1.Service)
		if !ok {
			return fmt.Errorf("got %T", obj)
		}
		s.Services = append(s.Services, serviceOf(svc))
		return nil
	})
	if apierrors.IsForbidden(err) {
		s.Services = nil
		s.Deny(snapshot.InputServices, snapshot.Access{Verb: "list", Resource: "services", AllNamespaces: true})
		return nil
	}
	if err != nil {
		return fmt.Errorf("listing Services: %w", err)
	}
	return nil
}

// serviceOf keeps what the checks read of svc.
func serviceOf(svc *corev1.Service) snapshot.Service {
	out := snapshot.Service{Namespace: svc.Namespace, Name: svc.Name, Labels: svc.Labels, Selector: svc.Spec.Selector, Type: string(svc.Spec.Type)}
	for _, p := range svc.Spec.Ports {
		sp := snapshot.ServicePort{Name: p.Name, Port: p.Port, Protocol: string(p.Protocol)}
		if p.TargetPort.Type == intstr.String && p.TargetPort.StrVal != "" {
			sp.TargetName = p.TargetPort.StrVal
		} else {
			sp.Target, _ = istio.FindTargetPort(p, nil)
		}
		out.Ports = append(out.Ports, sp)
	}
	out.Address = istio.ServiceAddress(svc.Status)
	return out
}

// readIstioInfrastructure reads istiod and its mesh config, ztunnel and
// istio-cni's DaemonSets, and istio-cni's ConfigMap.
func readIstioInfrastructure(ctx context.Context, kube clients.Kube, s *snapshot.Snapshot) error {
	if err := readIstiod(ctx, kube, s); err != nil {
		return err
	}
	daemonSets, err := kube.AppsV1().DaemonSets("").List(ctx, metav1.ListOptions{})
	switch {
	case apierrors.IsForbidden(err):
		s.Deny(snapshot.InputDaemonSets, snapshot.Access{Verb: "list", Group: "apps", Resource: "daemonsets", AllNamespaces: true})
	case err != nil:
		return fmt.Errorf("listing DaemonSets: %w", err)
	default:
		for _, d := range daemonSets.Items {
			switch {
			case daemonSetLabelled(d, "app", "ztunnel"):
				s.ZTunnel = append(s.ZTunnel, daemonSetWorkload(d))
			case daemonSetLabelled(d, "k8s-app", "istio-cni-node"):
				s.CNI = append(s.CNI, daemonSetWorkload(d))
			}
		}
	}
	configs, err := kube.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=istio-cni-config"})
	switch {
	case apierrors.IsForbidden(err):
		s.Deny(snapshot.InputCNIConfig, snapshot.Access{Verb: "list", Resource: "configmaps", AllNamespaces: true})
	case err != nil:
		return fmt.Errorf("listing ConfigMap istio-cni-config: %w", err)
	case len(configs.Items) > 0:
		s.CNIConfig = configs.Items[0].Data
		if s.CNIConfig == nil {
			s.CNIConfig = map[string]string{}
		}
	}
	return nil
}

// daemonSetLabelled reports whether d's pods carry key=value. Istio's charts
// put app=ztunnel only on the pod selector and template (the DaemonSet object
// has app.kubernetes.io/name=ztunnel, or no label at all before 1.23), while
// k8s-app=istio-cni-node is on all three: look where both are.
func daemonSetLabelled(d appsv1.DaemonSet, key, value string) bool {
	if d.Spec.Selector != nil && d.Spec.Selector.MatchLabels[key] == value {
		return true
	}
	return d.Spec.Template.Labels[key] == value || d.Labels[key] == value
}

// readIstiod reads istiod's Deployments and the mesh config of the default
// revision, found as secure --lockdown finds it (discover.FindMeshConfig):
// two calls. Without a mesh config, Istio's defaults stay, and there is no
// provider.
func readIstiod(ctx context.Context, kube clients.Kube, s *snapshot.Snapshot) error {
	src, err := discover.FindMeshConfig(ctx, kube)
	switch {
	case apierrors.IsForbidden(err) && src.Namespace == "":
		s.Deny(snapshot.InputIstiod, snapshot.Access{Verb: "list", Group: "apps", Resource: "deployments", AllNamespaces: true})
		// The mesh config is found through istiod.
		s.Inherit(snapshot.InputMeshConfig, snapshot.InputIstiod)
		return nil
	case apierrors.IsForbidden(err):
		s.Deny(snapshot.InputMeshConfig, snapshot.Access{Verb: "get", Resource: "configmaps", Name: src.Name, Namespace: src.Namespace})
	case err != nil:
		return err
	}
	for _, d := range src.Istiods {
		s.Istiod = append(s.Istiod, istiodWorkload(d))
	}
	if src.Namespace != "" {
		s.MeshConfig = snapshot.Key(src.Namespace, src.Name)
	}
	if !src.Found {
		return nil
	}
	return readMeshSettings(src, s)
}

// istiodWorkload keeps what the checks read of istiod's Deployment d: its
// replicas and the literal environment of its first container.
func istiodWorkload(d appsv1.Deployment) snapshot.Workload {
	desired := int32(1)
	if d.Spec.Replicas != nil {
		desired = *d.Spec.Replicas
	}
	env := map[string]string{}
	if cs := d.Spec.Template.Spec.Containers; len(cs) > 0 {
		for _, e := range cs[0].Env {
			if e.ValueFrom == nil {
				env[e.Name] = e.Value
			}
		}
	}
	return snapshot.Workload{Namespace: d.Namespace, Name: d.Name, Desired: desired, Ready: d.Status.ReadyReplicas, Env: env}
}

// readMeshSettings reads meshConfig.rootNamespace, trustDomain, the mesh
// ID and the names of the extensionProviders from the mesh config found.
func readMeshSettings(src discover.MeshConfigSource, s *snapshot.Snapshot) error {
	mesh, err := istio.ParseMeshSettings(src.YAML)
	if err != nil {
		return fmt.Errorf("reading the mesh config in ConfigMap %s/%s: %w", src.Namespace, src.Name, err)
	}
	s.RootNamespace, s.TrustDomain = mesh.RootNamespace, mesh.TrustDomain
	if s.MeshID, err = istio.MeshID(src.YAML); err != nil {
		return fmt.Errorf("reading the mesh config in ConfigMap %s/%s: %w", src.Namespace, src.Name, err)
	}
	if s.ExtensionProviders, err = istio.ExtensionProviderNames(src.YAML); err != nil {
		return fmt.Errorf("reading the mesh config in ConfigMap %s/%s: %w", src.Namespace, src.Name, err)
	}
	return nil
}

func daemonSetWorkload(d appsv1.DaemonSet) snapshot.Workload {
	return snapshot.Workload{Namespace: d.Namespace, Name: d.Name, Desired: d.Status.DesiredNumberScheduled, Ready: d.Status.NumberReady}
}

// readClusterRBAC reads every ClusterRole and ClusterRoleBinding.
func readClusterRBAC(ctx context.Context, kube clients.Kube, s *snapshot.Snapshot) error {
	rbac := kube.RbacV1()
	clusterRoles, err := rbac.ClusterRoles().List(ctx, metav1.ListOptions{})
	if no, err := refusedRBAC(s, err, "clusterroles", ""); err != nil {
		return err
	} else if !no {
		s.ClusterRoles = clusterRoles.Items
	}
	clusterBindings, err := rbac.ClusterRoleBindings().List(ctx, metav1.ListOptions{})
	if no, err := refusedRBAC(s, err, "clusterrolebindings", ""); err != nil {
		return err
	} else if !no {
		s.ClusterRoleBindings = clusterBindings.Items
	}
	return nil
}
