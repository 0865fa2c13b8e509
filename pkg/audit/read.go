package audit

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

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
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"sigs.k8s.io/yaml"

	"github.com/opea-project/kubectl-opea/pkg/discover"
	"github.com/opea-project/kubectl-opea/pkg/istio"
)

// Clients are what Read needs.
type Clients struct {
	Kube      kubernetes.Interface
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
// does not grow with pods or Services.
func Read(ctx context.Context, c Clients, o ReadOptions) (*Snapshot, error) {
	s := &Snapshot{
		Namespace:     o.Namespace,
		EntryService:  o.EntryService,
		EntryPort:     o.EntryPort,
		MinValidity:   o.MinValidity,
		Now:           time.Now(),
		RootNamespace: istio.DefaultRootNamespace,
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
	if apierrors.IsNotFound(err) {
		return nil, &NamespaceMissingError{Namespace: o.Namespace}
	}
	if err != nil {
		return nil, err
	}
	s.NamespaceLabels = ns.Labels

	// Completed pods are left out: istio-cni removes them from the mesh, and
	// their redirection annotation with them.
	pods, err := c.Metadata.Resource(podsGVR).Namespace(o.Namespace).List(ctx, metav1.ListOptions{FieldSelector: RunningPodsSelector})
	if err != nil {
		return nil, fmt.Errorf("listing pods: %w", err)
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			s.Pods = append(s.Pods, Object{Namespace: p.Namespace, Name: p.Name, Labels: p.Labels, Annotations: p.Annotations})
		}
	}

	if err := readIstioInfrastructure(ctx, c.Kube, s); err != nil {
		return nil, err
	}
	if err := readIstioConfig(ctx, c.Dynamic, s); err != nil {
		return nil, err
	}
	services, err := c.Kube.CoreV1().Services("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing Services: %w", err)
	}
	for _, svc := range services.Items {
		out := Service{Namespace: svc.Namespace, Name: svc.Name, Labels: svc.Labels, Selector: svc.Spec.Selector}
		for _, p := range svc.Spec.Ports {
			sp := ServicePort{Name: p.Name, Port: p.Port, Protocol: string(p.Protocol)}
			if p.TargetPort.Type == intstr.String && p.TargetPort.StrVal != "" {
				sp.TargetName = p.TargetPort.StrVal
			} else {
				sp.Target, _ = istio.FindTargetPort(p, nil)
			}
			out.Ports = append(out.Ports, sp)
		}
		if lb := svc.Status.LoadBalancer.Ingress; len(lb) > 0 {
			out.Address = lb[0].IP
			if out.Address == "" {
				out.Address = lb[0].Hostname
			}
		}
		s.Services = append(s.Services, out)
	}
	return s, readGatewaySide(ctx, c, s)
}

func readIstioInfrastructure(ctx context.Context, kube kubernetes.Interface, s *Snapshot) error {
	istiod, err := kube.AppsV1().Deployments("").List(ctx, metav1.ListOptions{LabelSelector: "app=istiod"})
	if err != nil {
		return fmt.Errorf("listing istiod: %w", err)
	}
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
	daemonSets, err := kube.AppsV1().DaemonSets("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing DaemonSets: %w", err)
	}
	for _, d := range daemonSets.Items {
		switch {
		case daemonSetLabelled(d, "app", "ztunnel"):
			s.ZTunnel = append(s.ZTunnel, daemonSetWorkload(d))
		case daemonSetLabelled(d, "k8s-app", "istio-cni-node"):
			s.CNI = append(s.CNI, daemonSetWorkload(d))
		}
	}
	configs, err := kube.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=istio-cni-config"})
	if err != nil {
		return fmt.Errorf("listing ConfigMap istio-cni-config: %w", err)
	}
	if len(configs.Items) > 0 {
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

// readMeshConfig reads meshConfig.rootNamespace from the ConfigMap of the
// default revision's istiod (istio, or istio-<rev> for a revision), data key
// mesh, in istiod's namespace: one call. Without it, Istio's default stays.
func readMeshConfig(ctx context.Context, kube kubernetes.Interface, istiods []appsv1.Deployment, s *Snapshot) error {
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
	return nil
}

func daemonSetWorkload(d appsv1.DaemonSet) Workload {
	return Workload{Namespace: d.Namespace, Name: d.Name, Desired: d.Status.DesiredNumberScheduled, Ready: d.Status.NumberReady}
}

// listAll lists a resource in every namespace and decodes each spec into T.
func listAll[T any](ctx context.Context, dyn dynamic.Interface, gvr schema.GroupVersionResource, set func(*T, *unstructured.Unstructured)) ([]T, error) {
	list, err := dyn.Resource(gvr).List(ctx, metav1.ListOptions{})
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
	if s.PeerAuthentications, err = listAll(ctx, dyn, schema.GroupVersionResource{Group: "security.istio.io", Version: s.APIs.Security, Resource: "peerauthentications"},
		func(p *istio.PeerAuthentication, u *unstructured.Unstructured) {
			p.Namespace, p.Name, p.CreationTimestamp = u.GetNamespace(), u.GetName(), u.GetCreationTimestamp().Time
		}); err != nil {
		return err
	}
	if s.DestinationRules, err = listAll(ctx, dyn, networking("destinationrules"),
		func(d *istio.DestinationRule, u *unstructured.Unstructured) {
			d.Namespace, d.Name = u.GetNamespace(), u.GetName()
		}); err != nil {
		return err
	}
	if s.Gateways, err = listAll(ctx, dyn, networking("gateways"),
		func(g *istio.Gateway, u *unstructured.Unstructured) {
			g.Namespace, g.Name, g.Labels = u.GetNamespace(), u.GetName(), u.GetLabels()
			g.CreationTimestamp = u.GetCreationTimestamp().Time
		}); err != nil {
		return err
	}
	s.VirtualServices, err = listAll(ctx, dyn, networking("virtualservices"),
		func(v *istio.VirtualService, u *unstructured.Unstructured) {
			v.Namespace, v.Name = u.GetNamespace(), u.GetName()
		})
	return err
}

var (
	certificatesGVR   = schema.GroupVersionResource{Group: "cert-manager.io", Version: "v1", Resource: "certificates"}
	issuersGVR        = schema.GroupVersionResource{Group: "cert-manager.io", Version: "v1", Resource: "issuers"}
	clusterIssuersGVR = schema.GroupVersionResource{Group: "cert-manager.io", Version: "v1", Resource: "clusterissuers"}
)

// readGatewaySide reads, for each Gateway that routes to the application,
// the pods it selects, its credential Secrets and cert-manager's view of them.
func readGatewaySide(ctx context.Context, c Clients, s *Snapshot) error {
	v := newView(s)
	secretNamespaces := map[string]bool{}
	for _, gw := range v.gateways {
		if len(gw.Selector) == 0 {
			continue
		}
		// Whole pods, not metadata: a named targetPort of the gateway
		// Service resolves through their container ports.
		pods, err := c.Kube.CoreV1().Pods("").List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(gw.Selector).String()})
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
	if err := readSecretAccess(ctx, c.Kube, v, s); err != nil {
		return err
	}
	for _, gs := range v.httpsServers() {
		// Where Istio reads it, and the Gateway's own namespace, where
		// people often put it by mistake.
		namespaces := append(v.gatewayPodNamespaces(gs.gw), gs.gw.Namespace)
		for _, ns := range namespaces {
			name := gs.server.TLS.CredentialName
			if _, done := s.Secrets[key(ns, name)]; done {
				continue
			}
			sec, err := c.Kube.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				continue
			}
			if err != nil {
				return fmt.Errorf("reading Secret %s/%s: %w", ns, name, err)
			}
			s.Secrets[key(ns, name)] = &Secret{Namespace: ns, Name: name, Type: string(sec.Type), Data: sec.Data, Annotations: sec.Annotations}
			secretNamespaces[ns] = true
		}
	}
	if s.APIs.CertManager == "" || len(secretNamespaces) == 0 {
		return nil
	}
	namespaces := make([]string, 0, len(secretNamespaces))
	for ns := range secretNamespaces {
		namespaces = append(namespaces, ns)
	}
	sort.Strings(namespaces)
	for _, ns := range namespaces {
		certs, err := c.Dynamic.Resource(certificatesGVR).Namespace(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return fmt.Errorf("listing Certificates in %s: %w", ns, err)
		}
		for _, u := range certs.Items {
			ready, message := ReadyCondition(&u)
			cert := Certificate{Namespace: u.GetNamespace(), Name: u.GetName(), Ready: ready, Message: message}
			cert.SecretName, _, _ = unstructured.NestedString(u.Object, "spec", "secretName")
			cert.IssuerName, _, _ = unstructured.NestedString(u.Object, "spec", "issuerRef", "name")
			cert.IssuerKind, _, _ = unstructured.NestedString(u.Object, "spec", "issuerRef", "kind")
			s.Certificates = append(s.Certificates, cert)
		}
		issuers, err := c.Dynamic.Resource(issuersGVR).Namespace(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return fmt.Errorf("listing Issuers in %s: %w", ns, err)
		}
		for _, u := range issuers.Items {
			ready, _ := ReadyCondition(&u)
			s.IssuerReady["Issuer/"+key(u.GetNamespace(), u.GetName())] = ready
		}
	}
	clusterIssuers, err := c.Dynamic.Resource(clusterIssuersGVR).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing ClusterIssuers: %w", err)
	}
	for _, u := range clusterIssuers.Items {
		ready, _ := ReadyCondition(&u)
		s.IssuerReady["ClusterIssuer/"+u.GetName()] = ready
	}
	return nil
}

// readSecretAccess asks the API server, for each ServiceAccount of the
// pods that serve the application's HTTPS servers, the question istiod
// asks before it hands a gateway its credential (CredentialsController.
// Authorize): may this user list Secrets in its own namespace? Like istiod
// it names the user only, no groups. One review per ServiceAccount.
func readSecretAccess(ctx context.Context, kube kubernetes.Interface, v *view, s *Snapshot) error {
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
				continue // reported by the check as unknown
			}
			if err != nil {
				return fmt.Errorf("asking whether ServiceAccount %s may list Secrets: %w", k, err)
			}
			s.SecretAccess[k] = review.Status.Allowed
		}
	}
	return nil
}

// ReadyCondition reads the Ready condition cert-manager sets on Certificates
// and issuers: whether it is True, and its message. A condition written for
// an older generation of the object (observedGeneration below
// metadata.generation) says nothing about its current spec: it is not Ready.
func ReadyCondition(u *unstructured.Unstructured) (bool, string) {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		cond, _ := c.(map[string]interface{})
		if cond["type"] != "Ready" {
			continue
		}
		msg, _ := cond["message"].(string)
		if observed, found, _ := unstructured.NestedInt64(cond, "observedGeneration"); found && observed != u.GetGeneration() {
			return false, fmt.Sprintf("the Ready condition is for generation %d, the object is at %d: cert-manager has not processed the change yet", observed, u.GetGeneration())
		}
		return cond["status"] == "True", strings.TrimSpace(msg)
	}
	return false, "no Ready condition"
}
