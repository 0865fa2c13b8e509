package audit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
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

	"github.com/opea-project/kubectl-opea/pkg/clients"
	"github.com/opea-project/kubectl-opea/pkg/discover"
	"github.com/opea-project/kubectl-opea/pkg/gatewayapi"
	"github.com/opea-project/kubectl-opea/pkg/istio"
	"github.com/opea-project/kubectl-opea/pkg/ownership"
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
	// Namespace is the application namespace to audit; with
	// AllNamespaces, it is ignored.
	Namespace string
	// AllNamespaces audits every namespace that holds an OPEA application
	// (see AppNamespaces), narrowed by NamespaceSelector, a label selector
	// on namespaces.
	AllNamespaces     bool
	NamespaceSelector string
	EntryService      string
	EntryPort         int32
	MinValidity       time.Duration
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

// Read takes a snapshot of everything the checks of one namespace need. The
// number of API calls is fixed, plus a few per Gateway that routes to the
// application; it does not grow with pods, Services or namespaces.
//
// A read the API server refuses (403) does not stop it: the input is
// recorded in Snapshot.Unread with the refused request, and the checks
// that need it are reported Unknown. Any other error stops it.
func Read(ctx context.Context, c Clients, o ReadOptions) (*Snapshot, error) {
	o.AllNamespaces = false
	r := &reader{c: c, o: o, cache: newReadCache()}
	if err := r.readCluster(ctx); err != nil {
		return nil, err
	}
	s, err := r.snapshotFor(ctx, o.Namespace)
	if err != nil {
		return nil, err
	}
	return s, r.readGatewaySides(ctx, []*Snapshot{s})
}

// Fleet is ReadAll's answer: a snapshot per namespace holding an OPEA
// application, and the refused reads that looking for them needed (an
// application may then be missing from Snapshots).
type Fleet struct {
	Snapshots  []*Snapshot
	Unsearched []Access
	// Leftovers are secure's objects for namespaces that no longer exist.
	Leftovers []Leftover
}

// ReadAll takes one snapshot per namespace holding an OPEA application, from
// one read of the cluster: every input is listed once across all namespaces,
// so the number of API calls does not grow with the namespaces either (only
// where a list across namespaces is refused are the namespaces read one by
// one), but for the credential Secrets, read by name (fetchSecrets). The
// snapshots are in the order of their namespaces' names. It also finds what
// secure left for namespaces since deleted (leftovers).
func ReadAll(ctx context.Context, c Clients, o ReadOptions) (*Fleet, error) {
	o.AllNamespaces = true
	r := &reader{c: c, o: o, cache: newReadCache()}
	if err := r.readCluster(ctx); err != nil {
		return nil, err
	}
	var selector labels.Selector
	if o.NamespaceSelector != "" {
		var err error
		if selector, err = labels.Parse(o.NamespaceSelector); err != nil {
			return nil, fmt.Errorf("invalid --selector %q: %w", o.NamespaceSelector, err)
		}
	}
	fleet := &Fleet{Unsearched: r.base.unsearched()}
	var found []*Snapshot
	for _, ns := range r.appNamespaces() {
		s, err := r.snapshotFor(ctx, ns)
		var missing *NamespaceMissingError
		if errors.As(err, &missing) {
			continue // deleted since it was found, or no namespace at all
		}
		if err != nil {
			return nil, err
		}
		if selector != nil && r.namespaceLabels == nil {
			// The selector could not be sent with a list of namespaces:
			// apply it here, to the labels read one namespace at a time.
			if denied := s.Unread[InputNamespace]; len(denied) > 0 {
				fleet.Unsearched = append(fleet.Unsearched, denied...)
				continue
			}
			if !selector.Matches(labels.Set(s.NamespaceLabels)) {
				continue
			}
		}
		found = append(found, s)
	}
	// Every namespace's certificates are listed at once, across namespaces:
	// as many requests as listing one namespace's, and they show what
	// secure left for namespaces since deleted.
	if err := r.cache.prefetchCertManager(ctx, c.Dynamic, r.base.APIs.CertManager); err != nil {
		return nil, err
	}
	if err := r.readGatewaySides(ctx, found); err != nil {
		return nil, err
	}
	leftovers, err := r.leftovers(ctx)
	if err != nil {
		return nil, err
	}
	fleet.Leftovers = leftovers
	fleet.Snapshots = found
	fleet.Unsearched = sortedAccesses(fleet.Unsearched)
	return fleet, nil
}

// findingInputs are the inputs AppNamespaces looks for applications in.
var findingInputs = []Input{InputServices, InputGateways, InputVirtualServices, InputGatewayAPIGateways, InputHTTPRoutes}

// unsearched are the refused reads of the inputs applications are found in.
func (s *Snapshot) unsearched() []Access {
	var denied []Access
	for _, in := range findingInputs {
		denied = append(denied, s.Unread[in]...)
	}
	return denied
}

// reader reads the inputs of one audit: those shared by every namespace into
// base, once; in an audit of all namespaces, the namespaced ones (namespace
// labels, pods, Roles and RoleBindings) across all namespaces too.
type reader struct {
	c     Clients
	o     ReadOptions
	base  *Snapshot
	cache *readCache

	// Read across all namespaces, by namespace; nil when not read that way
	// (one namespace, or the list was refused): snapshotFor then reads the
	// namespace's own.
	namespaceLabels map[string]map[string]string
	pods            map[string][]Object
	roles           map[string][]rbacv1.Role
	roleBindings    map[string][]rbacv1.RoleBinding
}

// readCluster reads the inputs every namespace shares. The lists are
// independent of each other: they are sent concurrently.
func (r *reader) readCluster(ctx context.Context) error {
	s := &Snapshot{
		Namespace:     r.o.Namespace,
		EntryService:  r.o.EntryService,
		EntryPort:     r.o.EntryPort,
		MinValidity:   r.o.MinValidity,
		Now:           time.Now(),
		RootNamespace: istio.DefaultRootNamespace,
		TrustDomain:   istio.DefaultTrustDomain,
		lock:          &sync.Mutex{},
	}
	r.base = s
	version, err := r.c.Discovery.ServerVersion()
	if err != nil {
		return &UnreachableError{Err: err}
	}
	s.ServerVersion = version.GitVersion
	if s.APIs, err = discover.ServedAPIs(r.c.Discovery); err != nil {
		return err
	}
	if !r.o.AllNamespaces {
		// Before the rest, which is wasted on a namespace that does not exist.
		if err := r.readNamespace(ctx, s, r.o.Namespace); err != nil {
			return err
		}
	}
	c := r.c
	reads := []func() error{
		func() error { return readIstioInfrastructure(ctx, c.Kube, s) },
		func() error { return readIstioConfig(ctx, c.Dynamic, s) },
		func() error { return readGatewayAPI(ctx, c.Dynamic, s) },
		func() error { return readServices(ctx, c.Kube, s) },
		func() error { return readClusterRBAC(ctx, c.Kube, s) },
	}
	if r.o.AllNamespaces {
		reads = append(reads, r.listNamespaces(ctx), r.listPods(ctx), r.listRoles(ctx))
	}
	return concurrently(reads)
}

// concurrently runs reads at once and returns their errors, joined.
func concurrently(reads []func() error) error {
	errs := make([]error, len(reads))
	var wg sync.WaitGroup
	for i, read := range reads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = read()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// readNamespace reads the labels of namespace ns into s.
func (r *reader) readNamespace(ctx context.Context, s *Snapshot, ns string) error {
	got, err := r.c.Kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return &NamespaceMissingError{Namespace: ns}
	case apierrors.IsForbidden(err):
		// Whether it exists is unknown too: the pods' list is then empty.
		s.deny(InputNamespace, Access{Verb: "get", Resource: "namespaces", Name: ns})
	case err != nil:
		return err
	default:
		s.NamespaceLabels = got.Labels
	}
	return nil
}

// snapshotFor is the snapshot of namespace ns: the shared inputs, and the
// namespace's own, from the lists across namespaces when there are, else
// read for ns alone.
func (r *reader) snapshotFor(ctx context.Context, ns string) (*Snapshot, error) {
	s := r.base.forNamespace(ns)
	if r.o.AllNamespaces {
		if r.namespaceLabels != nil {
			labels, ok := r.namespaceLabels[ns]
			if !ok {
				return nil, &NamespaceMissingError{Namespace: ns}
			}
			s.NamespaceLabels = labels
		} else if err := r.readNamespace(ctx, s, ns); err != nil {
			return nil, err
		}
	}
	if r.pods != nil {
		s.Pods = r.pods[ns]
	} else if err := readPods(ctx, r.c, s); err != nil {
		return nil, err
	}
	if s.lockedDown() {
		if err := readAppServiceAccounts(ctx, r.c, s); err != nil {
			return nil, err
		}
	}
	if r.roles != nil {
		s.Roles, s.RoleBindings = r.roles[ns], r.roleBindings[ns]
	} else if err := readNamespaceRBAC(ctx, r.c.Kube, s); err != nil {
		return nil, err
	}
	return s, nil
}

// forNamespace copies the shared inputs for namespace ns: the lists are
// shared, read only; what each namespace adds to is its own.
func (s *Snapshot) forNamespace(ns string) *Snapshot {
	out := *s
	out.Namespace = ns
	out.lock = nil
	out.Unread = nil
	for in, denied := range s.Unread {
		for _, a := range denied {
			out.deny(in, a)
		}
	}
	out.GatewayPods = map[string][]Object{}
	out.Secrets = map[string]*Secret{}
	out.IssuerReady = map[string]bool{}
	return &out
}

// readPods reads the running pods of s's namespace, as metadata.
func readPods(ctx context.Context, c Clients, s *Snapshot) error {
	// Completed pods are left out: istio-cni removes them from the mesh, and
	// their redirection annotation with them.
	pods, err := c.Metadata.Resource(podsGVR).Namespace(s.Namespace).List(ctx, metav1.ListOptions{FieldSelector: RunningPodsSelector})
	switch {
	case apierrors.IsForbidden(err):
		s.deny(InputPods, Access{Verb: "list", Resource: "pods", Namespace: s.Namespace})
	case err != nil:
		return fmt.Errorf("listing pods: %w", err)
	default:
		s.Pods = podObjects(pods.Items)[s.Namespace]
	}
	return nil
}

// lockedDown reports whether kubectl opea secure --lockdown's policy
// admitting the application's callers is in s's namespace.
func (s *Snapshot) lockedDown() bool {
	for _, p := range s.AuthorizationPolicies {
		if p.Namespace == s.Namespace && p.Name == ownership.AllowAppPolicy && ownership.Ours(p.Labels, s.Namespace) {
			return true
		}
	}
	return false
}

// readAppServiceAccounts reads the service accounts the pods of s's
// namespace run as, as secure --lockdown reads them (every pod, whole: the
// metadata lists lack the spec). One request, made only where the lockdown
// is, so that verify judges its principals against what secure would
// render.
func readAppServiceAccounts(ctx context.Context, c Clients, s *Snapshot) error {
	pods, err := c.Kube.CoreV1().Pods(s.Namespace).List(ctx, metav1.ListOptions{})
	switch {
	case apierrors.IsForbidden(err):
		s.deny(InputPods, Access{Verb: "list", Resource: "pods", Namespace: s.Namespace})
	case err != nil:
		return fmt.Errorf("listing the pods of namespace %s: %w", s.Namespace, err)
	default:
		s.AppServiceAccounts = discover.AppServiceAccounts(pods.Items)
	}
	return nil
}

// podObjects keeps the metadata the checks read of each pod not being
// deleted, by namespace.
func podObjects(items []metav1.PartialObjectMetadata) map[string][]Object {
	out := map[string][]Object{}
	for _, p := range items {
		if p.DeletionTimestamp == nil {
			out[p.Namespace] = append(out[p.Namespace], Object{Namespace: p.Namespace, Name: p.Name, Labels: p.Labels, Annotations: p.Annotations})
		}
	}
	return out
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
		pods, err := r.c.Metadata.Resource(podsGVR).List(ctx, metav1.ListOptions{FieldSelector: RunningPodsSelector})
		switch {
		case apierrors.IsForbidden(err):
			return nil
		case err != nil:
			return fmt.Errorf("listing pods: %w", err)
		}
		r.pods = podObjects(pods.Items)
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

// readMeshConfig reads meshConfig.rootNamespace and trustDomain from the
// ConfigMap of the default revision's istiod, where istio.MeshConfigLocation
// says (secure --lockdown finds it by the same rule): one call. Without it,
// Istio's default stays.
func readMeshConfig(ctx context.Context, kube clients.Kube, istiods []appsv1.Deployment, s *Snapshot) error {
	refs := make([]istio.Istiod, 0, len(istiods))
	for _, d := range istiods {
		refs = append(refs, istio.Istiod{Namespace: d.Namespace, Labels: d.Labels})
	}
	ns, name, ok := istio.MeshConfigLocation(refs)
	if !ok {
		return nil
	}
	cm, err := kube.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if apierrors.IsForbidden(err) {
		s.deny(InputMeshConfig, Access{Verb: "get", Resource: "configmaps", Name: name, Namespace: ns})
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading ConfigMap %s/%s: %w", ns, name, err)
	}
	mesh, err := istio.ParseMeshSettings(cm.Data[istio.MeshConfigKey])
	if err != nil {
		return fmt.Errorf("reading the mesh config in ConfigMap %s/%s: %w", ns, name, err)
	}
	s.RootNamespace, s.TrustDomain = mesh.RootNamespace, mesh.TrustDomain
	return nil
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
	var err error
	if s.PeerAuthentications, err = listAll(ctx, dyn, s, InputPeerAuthentications, s.APIs.PeerAuthentications(),
		func(p *istio.PeerAuthentication, u *unstructured.Unstructured) {
			p.Namespace, p.Name, p.CreationTimestamp = u.GetNamespace(), u.GetName(), u.GetCreationTimestamp().Time
		}); err != nil {
		return err
	}
	if s.DestinationRules, err = listAll(ctx, dyn, s, InputDestinationRules, s.APIs.DestinationRules(),
		func(d *istio.DestinationRule, u *unstructured.Unstructured) {
			d.Namespace, d.Name = u.GetNamespace(), u.GetName()
		}); err != nil {
		return err
	}
	if err := readIstioRouting(ctx, dyn, s); err != nil {
		return err
	}
	s.AuthorizationPolicies, err = listObjects(ctx, dyn, s, InputAuthorizationPolicies,
		istio.AuthorizationPolicies(s.APIs.Security), istio.DecodeAuthorizationPolicy)
	return err
}

// readIstioRouting reads every Istio Gateway and VirtualService.
func readIstioRouting(ctx context.Context, dyn dynamic.Interface, s *Snapshot) error {
	var err error
	if s.Gateways, err = listAll(ctx, dyn, s, InputGateways, s.APIs.IstioGateways(),
		func(g *istio.Gateway, u *unstructured.Unstructured) {
			g.Namespace, g.Name, g.Labels = u.GetNamespace(), u.GetName(), u.GetLabels()
			g.CreationTimestamp = u.GetCreationTimestamp().Time
		}); err != nil {
		return err
	}
	s.VirtualServices, err = listAll(ctx, dyn, s, InputVirtualServices, s.APIs.VirtualServices(),
		func(v *istio.VirtualService, u *unstructured.Unstructured) {
			v.Namespace, v.Name = u.GetNamespace(), u.GetName()
		})
	return err
}

// refusedRBAC reports whether the API server refused a list of RBAC
// objects, and records it in s.
func refusedRBAC(s *Snapshot, err error, resource, ns string) (bool, error) {
	if apierrors.IsForbidden(err) {
		s.deny(InputRBAC, Access{Verb: "list", Group: "rbac.authorization.k8s.io", Resource: resource, Namespace: ns})
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
func readNamespaceRBAC(ctx context.Context, kube clients.Kube, s *Snapshot) error {
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

// readClusterRBAC reads every ClusterRole and ClusterRoleBinding.
func readClusterRBAC(ctx context.Context, kube clients.Kube, s *Snapshot) error {
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

// gatewaySide is what is read of one snapshot's gateways: the view of its
// routing, and the reader of its credentials.
type gatewaySide struct {
	v       *view
	secrets *secretReader
	// istioSecrets: the pods of its Istio Gateways were read, and with them
	// where Istio reads their credentials.
	istioSecrets bool
}

// readGatewaySides reads, for each snapshot's Gateways that route to its
// application, the pods an Istio Gateway selects, the credential Secrets
// they name and cert-manager's view of them. The pods come first: they say
// where Istio reads an Istio Gateway's credentials. Then every Secret the
// snapshots name is read at once (fetchSecrets), and each snapshot takes
// its own from what was read.
func (r *reader) readGatewaySides(ctx context.Context, snapshots []*Snapshot) error {
	sides := make([]gatewaySide, len(snapshots))
	var named []string
	for i, s := range snapshots {
		v := newView(s)
		istioSecrets, err := readIstioGatewayPods(ctx, r.c, r.cache, v)
		if err != nil {
			return err
		}
		if err := readNamedEntryPorts(ctx, r.c.Kube, v); err != nil {
			return err
		}
		sides[i] = gatewaySide{v: v, istioSecrets: istioSecrets,
			secrets: &secretReader{kube: r.c.Kube, cache: r.cache, s: s, searched: map[string]bool{}}}
		named = append(named, sides[i].namedSecrets()...)
	}
	if err := r.cache.fetchSecrets(ctx, r.c.Kube, named); err != nil {
		return err
	}
	for _, side := range sides {
		if err := r.readCredentials(ctx, side); err != nil {
			return err
		}
	}
	return nil
}

// readCredentials reads the credential Secrets of one snapshot's Gateways,
// and the Certificates and Issuers where it looked for them.
func (r *reader) readCredentials(ctx context.Context, side gatewaySide) error {
	s := side.v.s
	if side.istioSecrets {
		if err := readSecrets(ctx, side.v, side.secrets); err != nil {
			return err
		}
	}
	if err := readListenerSecrets(ctx, side.v, side.secrets); err != nil {
		return err
	}
	if s.inherit(InputCertificates, InputSecrets) || s.APIs.CertManager == "" || len(side.secrets.searched) == 0 {
		return nil
	}
	return r.cache.readCertManager(ctx, r.c.Dynamic, sortedKeys(side.secrets.searched), s)
}

// namedSecrets are the "namespace/name" of the Secrets the snapshot's
// Gateways name where Istio reads them: those readSecrets and
// readListenerSecrets read first. (A Secret missing there is then looked
// for in the Istio Gateway's own namespace, one by one: a rare mistake.)
// Nothing is named for Istio Gateways whose pods could not be read.
func (side gatewaySide) namedSecrets() []string {
	var out []string
	for _, t := range side.v.tlsListeners() {
		switch {
		case t.api != nil:
			out = append(out, key(t.secretNamespaces[0], t.secretName))
		case side.istioSecrets:
			for _, ns := range t.secretNamespaces {
				out = append(out, key(ns, t.secretName))
			}
		}
	}
	return out
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

// readIstioGatewayPods reads, for each Istio Gateway that routes to the
// application, the pods it selects and whether their ServiceAccounts may
// read Secrets. What cannot be known without the Gateways,
// VirtualServices and istiod (which pods serve a Gateway) is not read, and
// is unread in their stead; so are the credential Secrets when the pods
// are. It reports whether the Istio Gateways' credentials are to be read.
func readIstioGatewayPods(ctx context.Context, c Clients, cache *readCache, v *view) (bool, error) {
	s := v.s
	if s.inherit(InputGatewayPods, InputVirtualServices, InputGateways, InputIstiod) {
		for _, in := range []Input{InputSecrets, InputSecretAccess, InputCertificates} {
			s.inherit(in, InputGatewayPods)
		}
		return false, nil
	}
	for _, gw := range v.gateways {
		if len(gw.Selector) == 0 {
			continue
		}
		got, err := cache.podsOf(ctx, c.Kube, labels.SelectorFromSet(gw.Selector).String())
		if err != nil {
			return false, fmt.Errorf("listing the pods of Gateway %s/%s: %w", gw.Namespace, gw.Name, err)
		}
		if got.refused {
			s.deny(InputGatewayPods, Access{Verb: "list", Resource: "pods", AllNamespaces: true})
			break // every other Gateway's list is refused alike
		}
		s.GatewayPods[key(gw.Namespace, gw.Name)] = append(s.GatewayPods[key(gw.Namespace, gw.Name)], got.pods...)
	}
	if s.inherit(InputSecrets, InputGatewayPods) {
		s.inherit(InputSecretAccess, InputGatewayPods)
		s.inherit(InputCertificates, InputGatewayPods)
		return false, nil
	}
	return true, readSecretAccess(ctx, c.Kube, cache, v, s)
}

// secretReader reads credential Secrets by name into the snapshot, each
// once, and notes the namespaces where it found one.
type secretReader struct {
	kube  clients.Kube
	cache *readCache
	s     *Snapshot
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
	got, err := r.cache.secret(ctx, r.kube, ns, name)
	switch {
	case err != nil:
		return false, err
	case got.refused:
		r.s.deny(InputSecrets, Access{Verb: "get", Resource: "secrets", Name: name, Namespace: ns})
		return false, nil
	}
	r.searched[ns] = true
	if got.secret == nil {
		return false, nil
	}
	r.s.Secrets[key(ns, name)] = got.secret
	return true, nil
}

// readSecrets reads each HTTPS server's credential Secret where Istio reads
// it, the gateway pods' namespaces, and only when it is missing there, in the
// Gateway's own namespace, where people often put it by mistake.
func readSecrets(ctx context.Context, v *view, r *secretReader) error {
	s := v.s
	for _, t := range v.tlsListeners() {
		if t.server == nil {
			continue
		}
		gs, name := *t.server, t.secretName
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

// readSecretAccess asks the API server, for each ServiceAccount of the
// pods that serve the application's HTTPS servers, the question istiod
// asks before it hands a gateway its credential (CredentialsController.
// Authorize): may this user list Secrets in its own namespace? Like istiod
// it names the user only, no groups. One review per ServiceAccount.
func readSecretAccess(ctx context.Context, kube clients.Kube, cache *readCache, v *view, s *Snapshot) error {
	s.SecretAccess = map[string]bool{}
	asked := map[string]bool{}
	for _, gs := range v.httpsServers() {
		for _, p := range v.gatewayPods(gs.gw) {
			k := p.serviceAccountKey()
			if asked[k] {
				continue
			}
			asked[k] = true
			allowed, err := cache.mayListSecrets(ctx, kube, k)
			if err != nil {
				return err
			}
			if cache.accessRefused {
				s.deny(InputSecretAccess, subjectAccessReview)
				return nil // every other review is refused alike
			}
			s.SecretAccess[k] = allowed
		}
	}
	return nil
}

// mayListSecrets asks, once per ServiceAccount "namespace/name", whether
// it may list Secrets in its namespace.
func (c *readCache) mayListSecrets(ctx context.Context, kube clients.Kube, serviceAccount string) (bool, error) {
	if allowed, ok := c.secretAccess[serviceAccount]; ok || c.accessRefused {
		return allowed, nil
	}
	ns, sa, _ := strings.Cut(serviceAccount, "/")
	review, err := kube.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
		Spec: authorizationv1.SubjectAccessReviewSpec{
			User:               "system:serviceaccount:" + ns + ":" + sa,
			ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: ns, Verb: "list", Resource: "secrets"},
		},
	}, metav1.CreateOptions{})
	if apierrors.IsForbidden(err) {
		c.accessRefused = true
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("asking whether ServiceAccount %s may list Secrets: %w", serviceAccount, err)
	}
	c.secretAccess[serviceAccount] = review.Status.Allowed
	return review.Status.Allowed, nil
}

// subjectAccessReview is the request that asks whether a gateway may read
// its credentials.
var subjectAccessReview = Access{Verb: "create", Group: "authorization.k8s.io", Resource: "subjectaccessreviews"}

// readNamedEntryPorts reads the container ports of one entry pod per entry
// Service port whose targetPort is a name: pods are listed as metadata, and
// ztunnel authorizes the port number the name resolves to in the pod. A pod
// that may not be read leaves the port undecided, as before.
func readNamedEntryPorts(ctx context.Context, kube clients.Kube, v *view) error {
	for _, t := range v.entryTargets() {
		if t.port.TargetName == "" {
			continue
		}
		for i := range v.s.Pods {
			pod := &v.s.Pods[i]
			if len(t.svc.Selector) == 0 || pod.ContainerPorts != nil || !labels.SelectorFromSet(t.svc.Selector).Matches(labels.Set(pod.Labels)) {
				continue
			}
			full, err := kube.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
			switch {
			case apierrors.IsForbidden(err) || apierrors.IsNotFound(err):
			case err != nil:
				return fmt.Errorf("reading pod %s/%s for the port its Service names: %w", pod.Namespace, pod.Name, err)
			default:
				pod.ContainerPorts = istio.ContainerPorts(full.Spec)
			}
			break
		}
	}
	return nil
}
