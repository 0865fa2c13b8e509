package audit

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/opea-project/kubectl-opea/pkg/clients"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/metadata"
	"sigs.k8s.io/yaml"

	"github.com/opea-project/kubectl-opea/pkg/certmanager"
	"github.com/opea-project/kubectl-opea/pkg/discover"
	"github.com/opea-project/kubectl-opea/pkg/gatewayapi"
	"github.com/opea-project/kubectl-opea/pkg/istio"
)

// Clients are what Read needs.
type Clients struct {
	Kube      clients.Kube
	Dynamic   dynamic.Interface
	Metadata  metadata.Interface
	Discovery discovery.DiscoveryInterface
}

// ReadOptions say what to audit.
type ReadOptions struct {
	Namespace    string
	EntryService string
	EntryPort    int32
	MinValidity  time.Duration
}

// UnreachableError means the API server did not answer: the audit cannot run.
type UnreachableError struct{ Err error }

func (e *UnreachableError) Error() string { return "cannot reach the cluster: " + e.Err.Error() }
func (e *UnreachableError) Unwrap() error { return e.Err }

// NamespaceMissingError means the namespace to audit does not exist.
type NamespaceMissingError struct{ Namespace string }

func (e *NamespaceMissingError) Error() string {
	return fmt.Sprintf("namespace %q does not exist", e.Namespace)
}

var podsGVR = schema.GroupVersionResource{Version: "v1", Resource: "pods"}

// RunningPodsSelector is the field selector of the application's pods that
// are not completed (Succeeded or Failed), as istio-cni tells them apart
// (kube.CheckPodTerminal).
const RunningPodsSelector = "status.phase!=Succeeded,status.phase!=Failed"

// Read takes a snapshot of everything the checks need. The number of API
// calls is fixed, plus a few per Gateway that routes to the application; it
// does not grow with pods, Services or namespaces.
//
// A read the API server refuses (403) does not stop it: the input is
// recorded in Snapshot.Unread with the refused request, and the checks
// that need it are reported Unknown. Any other error stops it.
func Read(ctx context.Context, c Clients, o ReadOptions) (*Snapshot, error) {
	s := &Snapshot{
		Namespace:     o.Namespace,
		EntryService:  o.EntryService,
		EntryPort:     o.EntryPort,
		MinValidity:   o.MinValidity,
		Now:           time.Now(),
		RootNamespace: istio.DefaultRootNamespace,
		TrustDomain:   istio.DefaultTrustDomain,
		GatewayPods:   map[string][]Object{},
		Secrets:       map[string]*Secret{},
		IssuerReady:   map[string]bool{},
	}
	version, err := c.Discovery.ServerVersion()
	if err != nil {
		return nil, &UnreachableError{Err: err}
	}
	s.ServerVersion = version.GitVersion
	if s.APIs, err = discover.ServedAPIs(c.Discovery); err != nil {
		return nil, err
	}
	ns, err := c.Kube.CoreV1().Namespaces().Get(ctx, o.Namespace, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, &NamespaceMissingError{Namespace: o.Namespace}
	case apierrors.IsForbidden(err):
		// Whether it exists is unknown too: the pods' list below is
		// then empty.
		s.deny(InputNamespace, Access{Verb: "get", Resource: "namespaces", Name: o.Namespace})
	case err != nil:
		return nil, err
	default:
		s.NamespaceLabels = ns.Labels
	}

	// Completed pods are left out: istio-cni removes them from the mesh, and
	// their redirection annotation with them.
	pods, err := c.Metadata.Resource(podsGVR).Namespace(o.Namespace).List(ctx, metav1.ListOptions{FieldSelector: RunningPodsSelector})
	switch {
	case apierrors.IsForbidden(err):
		s.deny(InputPods, Access{Verb: "list", Resource: "pods", Namespace: o.Namespace})
	case err != nil:
		return nil, fmt.Errorf("listing pods: %w", err)
	default:
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil {
				s.Pods = append(s.Pods, Object{Namespace: p.Namespace, Name: p.Name, Labels: p.Labels, Annotations: p.Annotations})
			}
		}
	}

	if err := readIstioInfrastructure(ctx, c.Kube, s); err != nil {
		return nil, err
	}
	if err := readIstioConfig(ctx, c.Dynamic, s); err != nil {
		return nil, err
	}
	if err := readGatewayAPI(ctx, c.Dynamic, s); err != nil {
		return nil, err
	}
	if err := readServices(ctx, c.Kube, s); err != nil {
		return nil, err
	}
	if err := readRBAC(ctx, c.Kube, s); err != nil {
		return nil, err
	}
	return s, readGatewaySide(ctx, c, s)
}

func readServices(ctx context.Context, kube clients.Kube, s *Snapshot) error {
	services, err := kube.CoreV1().Services("").List(ctx, metav1.ListOptions{})
	if apierrors.IsForbidden(err) {
		s.deny(InputServices, Access{Verb: "list", Resource: "services", AllNamespaces: true})
		return nil
	}
	if err != nil {
		return fmt.Errorf("listing Services: %w", err)
	}
	for _, svc := range services.Items {
		out := Service{Namespace: svc.Namespace, Name: svc.Name, Labels: svc.Labels, Selector: svc.Spec.Selector, Type: string(svc.Spec.Type)}
		for _, p := range svc.Spec.Ports {
			sp := ServicePort{Name: p.Name, Port: p.Port, Protocol: string(p.Protocol)}
			if p.TargetPort.Type == intstr.String && p.TargetPort.StrVal != "" {
				sp.TargetName = p.TargetPort.StrVal
			} else {
				sp.Target, _ = istio.FindTargetPort(p, nil)
			}
			out.Ports = append(out.Ports, sp)
		}
		out.Address = istio.ServiceAddress(svc.Status)
		s.Services = append(s.Services, out)
	}
	return nil
}

func readIstioInfrastructure(ctx context.Context, kube clients.Kube, s *Snapshot) error {
	istiod, err := kube.AppsV1().Deployments("").List(ctx, metav1.ListOptions{LabelSelector: "app=istiod"})
	switch {
	case apierrors.IsForbidden(err):
		s.deny(InputIstiod, Access{Verb: "list", Group: "apps", Resource: "deployments", AllNamespaces: true})
		// The mesh config is found through istiod.
		s.inherit(InputMeshConfig, InputIstiod)
	case err != nil:
		return fmt.Errorf("listing istiod: %w", err)
	default:
		for _, d := range istiod.Items {
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
			s.Istiod = append(s.Istiod, Workload{Namespace: d.Namespace, Name: d.Name, Desired: desired, Ready: d.Status.ReadyReplicas, Env: env})
		}
		if err := readMeshConfig(ctx, kube, istiod.Items, s); err != nil {
			return err
		}
	}
	daemonSets, err := kube.AppsV1().DaemonSets("").List(ctx, metav1.ListOptions{})
	switch {
	case apierrors.IsForbidden(err):
		s.deny(InputDaemonSets, Access{Verb: "list", Group: "apps", Resource: "daemonsets", AllNamespaces: true})
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
		s.deny(InputCNIConfig, Access{Verb: "list", Resource: "configmaps", AllNamespaces: true})
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

// readMeshConfig reads meshConfig.rootNamespace and trustDomain from the ConfigMap of the
// default revision's istiod (istio, or istio-<rev> for a revision), data key
// mesh, in istiod's namespace: one call. Without it, Istio's default stays.
func readMeshConfig(ctx context.Context, kube clients.Kube, istiods []appsv1.Deployment, s *Snapshot) error {
	if len(istiods) == 0 {
		return nil
	}
	d := istiods[0]
	for _, candidate := range istiods {
		if rev := candidate.Labels["istio.io/rev"]; rev == "" || rev == "default" {
			d = candidate
			break
		}
	}
	name := "istio"
	if rev := d.Labels["istio.io/rev"]; rev != "" && rev != "default" {
		name += "-" + rev
	}
	cm, err := kube.CoreV1().ConfigMaps(d.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if apierrors.IsForbidden(err) {
		s.deny(InputMeshConfig, Access{Verb: "get", Resource: "configmaps", Name: name, Namespace: d.Namespace})
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading ConfigMap %s/%s: %w", d.Namespace, name, err)
	}
	var mesh struct {
		RootNamespace string `json:"rootNamespace"`
	}
	if err := yaml.Unmarshal([]byte(cm.Data["mesh"]), &mesh); err != nil {
		return fmt.Errorf("reading the mesh config in ConfigMap %s/%s: %w", d.Namespace, name, err)
	}
	if mesh.RootNamespace != "" {
		s.RootNamespace = mesh.RootNamespace
	}
	s.TrustDomain, err = istio.TrustDomain(cm.Data["mesh"])
	return err
}

func daemonSetWorkload(d appsv1.DaemonSet) Workload {
	return Workload{Namespace: d.Namespace, Name: d.Name, Desired: d.Status.DesiredNumberScheduled, Ready: d.Status.NumberReady}
}

// listAll lists a resource in every namespace and decodes each spec into T.
// When the API server refuses the list, it records in as unread and
// returns no items and no error.
func listAll[T any](ctx context.Context, dyn dynamic.Interface, s *Snapshot, in Input, gvr schema.GroupVersionResource, set func(*T, *unstructured.Unstructured)) ([]T, error) {
	list, err := dyn.Resource(gvr).List(ctx, metav1.ListOptions{})
	if apierrors.IsForbidden(err) {
		s.deny(in, Access{Verb: "list", Group: gvr.Group, Resource: gvr.Resource, AllNamespaces: true})
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", gvr.Resource, err)
	}
	out := make([]T, 0, len(list.Items))
	for i := range list.Items {
		var item T
		spec, _, _ := unstructured.NestedMap(list.Items[i].Object, "spec")
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(spec, &item); err != nil {
			return nil, fmt.Errorf("reading %s %s/%s: %w", gvr.Resource, list.Items[i].GetNamespace(), list.Items[i].GetName(), err)
		}
		set(&item, &list.Items[i])
		out = append(out, item)
	}
	return out, nil
}

func readIstioConfig(ctx context.Context, dyn dynamic.Interface, s *Snapshot) error {
	if s.APIs.Networking == "" || s.APIs.Security == "" {
		return nil // reported by cluster.istio-apis
	}
	networking := func(r string) schema.GroupVersionResource {
		return schema.GroupVersionResource{Group: "networking.istio.io", Version: s.APIs.Networking, Resource: r}
	}
	var err error
	if s.PeerAuthentications, err = listAll(ctx, dyn, s, InputPeerAuthentications, schema.GroupVersionResource{Group: "security.istio.io", Version: s.APIs.Security, Resource: "peerauthentications"},
		func(p *istio.PeerAuthentication, u *unstructured.Unstructured) {
			p.Namespace, p.Name, p.CreationTimestamp = u.GetNamespace(), u.GetName(), u.GetCreationTimestamp().Time
		}); err != nil {
		return err
	}
	if s.DestinationRules, err = listAll(ctx, dyn, s, InputDestinationRules, networking("destinationrules"),
		func(d *istio.DestinationRule, u *unstructured.Unstructured) {
			d.Namespace, d.Name = u.GetNamespace(), u.GetName()
		}); err != nil {
		return err
	}
	if s.Gateways, err = listAll(ctx, dyn, s, InputGateways, networking("gateways"),
		func(g *istio.Gateway, u *unstructured.Unstructured) {
			g.Namespace, g.Name, g.Labels = u.GetNamespace(), u.GetName(), u.GetLabels()
			g.CreationTimestamp = u.GetCreationTimestamp().Time
		}); err != nil {
		return err
	}
	if s.VirtualServices, err = listAll(ctx, dyn, s, InputVirtualServices, networking("virtualservices"),
		func(v *istio.VirtualService, u *unstructured.Unstructured) {
			v.Namespace, v.Name = u.GetNamespace(), u.GetName()
		}); err != nil {
		return err
	}
	s.AuthorizationPolicies, err = listObjects(ctx, dyn, s, InputAuthorizationPolicies,
		schema.GroupVersionResource{Group: "security.istio.io", Version: s.APIs.Security, Resource: "authorizationpolicies"}, istio.DecodeAuthorizationPolicy)
	return err
}

// readRBAC reads what says who may port-forward to the application's pods:
// the Roles and RoleBindings of its namespace, and every ClusterRole and
// ClusterRoleBinding. Four lists, whatever the number of objects.
func readRBAC(ctx context.Context, kube clients.Kube, s *Snapshot) error {
	rbac := kube.RbacV1()
	refused := func(err error, resource, ns string) (bool, error) {
		if apierrors.IsForbidden(err) {
			s.deny(InputRBAC, Access{Verb: "list", Group: "rbac.authorization.k8s.io", Resource: resource, Namespace: ns})
			return true, nil
		}
		if err != nil {
			return false, fmt.Errorf("listing %s: %w", resource, err)
		}
		return false, nil
	}
	roles, err := rbac.Roles(s.Namespace).List(ctx, metav1.ListOptions{})
	if no, err := refused(err, "roles", s.Namespace); err != nil {
		return err
	} else if !no {
		s.Roles = roles.Items
	}
	bindings, err := rbac.RoleBindings(s.Namespace).List(ctx, metav1.ListOptions{})
	if no, err := refused(err, "rolebindings", s.Namespace); err != nil {
		return err
	} else if !no {
		s.RoleBindings = bindings.Items
	}
	clusterRoles, err := rbac.ClusterRoles().List(ctx, metav1.ListOptions{})
	if no, err := refused(err, "clusterroles", ""); err != nil {
		return err
	} else if !no {
		s.ClusterRoles = clusterRoles.Items
	}
	clusterBindings, err := rbac.ClusterRoleBindings().List(ctx, metav1.ListOptions{})
	if no, err := refused(err, "clusterrolebindings", ""); err != nil {
		return err
	} else if !no {
		s.ClusterRoleBindings = clusterBindings.Items
	}
	return nil
}

// clusterScoped are the resources listObjects lists that have no namespace.
var clusterScoped = map[string]bool{"gatewayclasses": true}

// listObjects lists a resource in every namespace (or a cluster-scoped
// one) and decodes each item. When the API server refuses the list, it
// records in as unread and returns no items and no error; a resource not
// served is no items too.
func listObjects[T any](ctx context.Context, dyn dynamic.Interface, s *Snapshot, in Input, gvr schema.GroupVersionResource, decode func(*unstructured.Unstructured) (T, error)) ([]T, error) {
	list, err := dyn.Resource(gvr).List(ctx, metav1.ListOptions{})
	switch {
	case apierrors.IsForbidden(err):
		// A cluster-scoped resource is listed, not listed in every namespace.
		s.deny(in, Access{Verb: "list", Group: gvr.Group, Resource: gvr.Resource, AllNamespaces: !clusterScoped[gvr.Resource]})
		return nil, nil
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("listing %s: %w", gvr.Resource, err)
	}
	out := make([]T, 0, len(list.Items))
	for i := range list.Items {
		item, err := decode(&list.Items[i])
		if err != nil {
			return nil, fmt.Errorf("reading %s %s: %w", gvr.Resource, key(list.Items[i].GetNamespace(), list.Items[i].GetName()), err)
		}
		out = append(out, item)
	}
	return out, nil
}

// readGatewayAPI reads the Gateway API's objects when the API is served:
// one list each, in every namespace, whatever the number of namespaces.
// ReferenceGrants are read in v1beta1, which a cluster may not serve: then
// there are none.
func readGatewayAPI(ctx context.Context, dyn dynamic.Interface, s *Snapshot) error {
	version := s.APIs.GatewayAPI
	if version == "" {
		return nil
	}
	var err error
	if s.GatewayClasses, err = listObjects(ctx, dyn, s, InputGatewayClasses, gatewayapi.GatewayClasses(version), gatewayapi.DecodeGatewayClass); err != nil {
		return err
	}
	if s.GatewayAPIGateways, err = listObjects(ctx, dyn, s, InputGatewayAPIGateways, gatewayapi.Gateways(version), gatewayapi.DecodeGateway); err != nil {
		return err
	}
	if s.HTTPRoutes, err = listObjects(ctx, dyn, s, InputHTTPRoutes, gatewayapi.HTTPRoutes(version), gatewayapi.DecodeHTTPRoute); err != nil {
		return err
	}
	s.ReferenceGrants, err = listObjects(ctx, dyn, s, InputReferenceGrants, gatewayapi.ReferenceGrants, gatewayapi.DecodeReferenceGrant)
	return err
}

// readGatewaySide reads, for each Gateway that routes to the application,
// the pods it selects (for an Istio Gateway), its credential Secrets and
// cert-manager's view of them.
func readGatewaySide(ctx context.Context, c Clients, s *Snapshot) error {
	v := newView(s)
	secrets := &secretReader{kube: c.Kube, s: s, searched: map[string]bool{}}
	if err := readIstioGatewaySide(ctx, c, v, secrets); err != nil {
		return err
	}
	if err := readListenerSecrets(ctx, v, secrets); err != nil {
		return err
	}
	if s.inherit(InputCertificates, InputSecrets) || s.APIs.CertManager == "" || len(secrets.searched) == 0 {
		return nil
	}
	return readCertManager(ctx, c.Dynamic, sortedKeys(secrets.searched), s)
}

// readListenerSecrets reads the Secrets the application's Gateway API
// HTTPS listeners name, in the certificateRef's namespace: istiod reads
// them there, whichever namespace the gateway pods run in. A Secret of
// another namespace is read even without a ReferenceGrant, to say what
// would be served once it is granted. Without the Gateways and routes
// there are none to read: the checks that need those are unknown.
func readListenerSecrets(ctx context.Context, v *view, r *secretReader) error {
	for _, t := range v.tlsListeners() {
		if t.api == nil {
			continue
		}
		if _, err := r.get(ctx, t.secretNamespaces[0], t.secretName); err != nil {
			return err
		}
	}
	return nil
}

// readIstioGatewaySide reads, for each Istio Gateway that routes to the
// application, the pods it selects, whether their ServiceAccounts may read
// Secrets, and their credential Secrets. What cannot be known without the
// Gateways, VirtualServices and istiod (which pods serve a Gateway) is not
// read, and is unread in their stead.
func readIstioGatewaySide(ctx context.Context, c Clients, v *view, secrets *secretReader) error {
	s := v.s
	if s.inherit(InputGatewayPods, InputVirtualServices, InputGateways, InputIstiod) {
		for _, in := range []Input{InputSecrets, InputSecretAccess, InputCertificates} {
			s.inherit(in, InputGatewayPods)
		}
		return nil
	}
	for _, gw := range v.gateways {
		if len(gw.Selector) == 0 {
			continue
		}
		// Whole pods, not metadata: a named targetPort of the gateway
		// Service resolves through their container ports.
		pods, err := c.Kube.CoreV1().Pods("").List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(gw.Selector).String()})
		if apierrors.IsForbidden(err) {
			s.deny(InputGatewayPods, Access{Verb: "list", Resource: "pods", AllNamespaces: true})
			break // every other Gateway's list is refused alike
		}
		if err != nil {
			return fmt.Errorf("listing the pods of Gateway %s/%s: %w", gw.Namespace, gw.Name, err)
		}
		for _, p := range pods.Items {
			if p.DeletionTimestamp != nil {
				continue
			}
			s.GatewayPods[key(gw.Namespace, gw.Name)] = append(s.GatewayPods[key(gw.Namespace, gw.Name)],
				Object{Namespace: p.Namespace, Name: p.Name, Labels: p.Labels, Annotations: p.Annotations, ContainerPorts: istio.ContainerPorts(p.Spec),
					ServiceAccount: p.Spec.ServiceAccountName})
		}
	}
	if s.inherit(InputSecrets, InputGatewayPods) {
		s.inherit(InputSecretAccess, InputGatewayPods)
		s.inherit(InputCertificates, InputGatewayPods)
		return nil
	}
	if err := readSecretAccess(ctx, c.Kube, v, s); err != nil {
		return err
	}
	return readSecrets(ctx, v, secrets)
}

// secretReader reads credential Secrets by name into the snapshot, each
// once, and notes the namespaces where it found one.
type secretReader struct {
	kube clients.Kube
	s    *Snapshot
	// searched are the namespaces a Secret was looked for in: where
	// cert-manager's Certificates for them are read, so that a Secret not
	// yet written can be told from one nobody will write.
	searched map[string]bool
}

// get reads Secret ns/name and reports whether it exists; a refused read
// is recorded, and reported as absent.
func (r *secretReader) get(ctx context.Context, ns, name string) (bool, error) {
	if sec, done := r.s.Secrets[key(ns, name)]; done {
		return sec != nil, nil
	}
	sec, err := r.kube.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		r.searched[ns] = true
		return false, nil
	case apierrors.IsForbidden(err):
		r.s.deny(InputSecrets, Access{Verb: "get", Resource: "secrets", Name: name, Namespace: ns})
		return false, nil
	case err != nil:
		return false, fmt.Errorf("reading Secret %s/%s: %w", ns, name, err)
	}
	r.s.Secrets[key(ns, name)] = &Secret{Namespace: ns, Name: name, Type: string(sec.Type), Data: sec.Data, Annotations: sec.Annotations}
	r.searched[ns] = true
	return true, nil
}

// readSecrets reads each HTTPS server's credential Secret where Istio reads
// it, the gateway pods' namespaces, and only when it is missing there, in the
// Gateway's own namespace, where people often put it by mistake.
func readSecrets(ctx context.Context, v *view, r *secretReader) error {
	s := v.s
	for _, gs := range v.httpsServers() {
		name := gs.server.TLS.CredentialName
		present, refused := false, len(s.Unread[InputSecrets])
		for _, ns := range v.gatewayPodNamespaces(gs.gw) {
			ok, err := r.get(ctx, ns, name)
			if err != nil {
				return err
			}
			present = present || ok
		}
		if !present && refused == len(s.Unread[InputSecrets]) {
			if _, err := r.get(ctx, gs.gw.Namespace, name); err != nil {
				return err
			}
		}
	}
	return nil
}

// readCertManager reads the Certificates and Issuers of the namespaces
// where credential Secrets were looked for, and the ClusterIssuers.
func readCertManager(ctx context.Context, dyn dynamic.Interface, namespaces []string, s *Snapshot) error {
	list := func(gvr schema.GroupVersionResource, ns string) (*unstructured.UnstructuredList, error) {
		var (
			l   *unstructured.UnstructuredList
			err error
		)
		if ns == "" {
			l, err = dyn.Resource(gvr).List(ctx, metav1.ListOptions{})
		} else {
			l, err = dyn.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{})
		}
		if apierrors.IsForbidden(err) {
			s.deny(InputCertificates, Access{Verb: "list", Group: gvr.Group, Resource: gvr.Resource, Namespace: ns})
			return &unstructured.UnstructuredList{}, nil
		}
		if err != nil {
			where := ""
			if ns != "" {
				where = " in " + ns
			}
			return nil, fmt.Errorf("listing %s%s: %w", gvr.Resource, where, err)
		}
		return l, nil
	}
	for _, ns := range namespaces {
		certs, err := list(certmanager.Certificates, ns)
		if err != nil {
			return err
		}
		for _, u := range certs.Items {
			ready, message := certmanager.Ready(&u)
			cert := Certificate{Namespace: u.GetNamespace(), Name: u.GetName(), Ready: ready, Message: message}
			cert.SecretName, _, _ = unstructured.NestedString(u.Object, "spec", "secretName")
			cert.IssuerName, _, _ = unstructured.NestedString(u.Object, "spec", "issuerRef", "name")
			cert.IssuerKind, _, _ = unstructured.NestedString(u.Object, "spec", "issuerRef", "kind")
			s.Certificates = append(s.Certificates, cert)
		}
		issuers, err := list(certmanager.Issuers, ns)
		if err != nil {
			return err
		}
		for _, u := range issuers.Items {
			ready, _ := certmanager.Ready(&u)
			s.IssuerReady["Issuer/"+key(u.GetNamespace(), u.GetName())] = ready
		}
	}
	clusterIssuers, err := list(certmanager.ClusterIssuers, "")
	if err != nil {
		return err
	}
	for _, u := range clusterIssuers.Items {
		ready, _ := certmanager.Ready(&u)
		s.IssuerReady["ClusterIssuer/"+u.GetName()] = ready
	}
	return nil
}

// readSecretAccess asks the API server, for each ServiceAccount of the
// pods that serve the application's HTTPS servers, the question istiod
// asks before it hands a gateway its credential (CredentialsController.
// Authorize): may this user list Secrets in its own namespace? Like istiod
// it names the user only, no groups. One review per ServiceAccount.
func readSecretAccess(ctx context.Context, kube clients.Kube, v *view, s *Snapshot) error {
	s.SecretAccess = map[string]bool{}
	asked := map[string]bool{}
	for _, gs := range v.httpsServers() {
		for _, p := range v.gatewayPods(gs.gw) {
			k := p.serviceAccountKey()
			if asked[k] {
				continue
			}
			asked[k] = true
			ns, sa, _ := strings.Cut(k, "/")
			review, err := kube.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
				Spec: authorizationv1.SubjectAccessReviewSpec{
					User:               "system:serviceaccount:" + ns + ":" + sa,
					ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: ns, Verb: "list", Resource: "secrets"},
				},
			}, metav1.CreateOptions{})
			if apierrors.IsForbidden(err) {
				s.deny(InputSecretAccess, subjectAccessReview)
				return nil // every other review is refused alike
			}
			if err != nil {
				return fmt.Errorf("asking whether ServiceAccount %s may list Secrets: %w", k, err)
			}
			s.SecretAccess[k] = review.Status.Allowed
		}
	}
	return nil
}

// subjectAccessReview is the request that asks whether a gateway may read
// its credentials.
var subjectAccessReview = Access{Verb: "create", Group: "authorization.k8s.io", Resource: "subjectaccessreviews"}
