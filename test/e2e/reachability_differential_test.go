package e2e

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/opea-project/kubectl-opea/pkg/await"
	"github.com/opea-project/kubectl-opea/pkg/istio"
	"github.com/opea-project/kubectl-opea/pkg/reachability"
	"github.com/opea-project/kubectl-opea/test/controlplane"
	"github.com/opea-project/kubectl-opea/test/fixtures"
	"github.com/opea-project/kubectl-opea/test/xds"
)

var updateReachability = flag.Bool("update-reachability", false, "rewrite docs/reachability-differential.md from the reachability differential test")

// The callers of every setup: the ingress gateway and a monitoring
// workload are principals only (ztunnel judges the identity, not where it
// runs).
const (
	reachGatewayPrincipal = "cluster.local/ns/istio-ingress/sa/istio-ingress"
	reachExtraPrincipal   = "cluster.local/ns/monitoring/sa/prometheus"
)

// A reachability case is a setup of PeerAuthentications,
// AuthorizationPolicies and waypoints on a small application (reachApp):
// the matrix pkg/reachability computes from the objects as the API returns
// them must equal, cell by cell, what ztunnel would decide from what istiod
// sends it.
type reachabilityCase struct {
	name string
	// objects are YAML documents; NS stands for the application's
	// namespace.
	objects string
	// older objects are applied a second earlier (creationTimestamp has a
	// resolution of one second).
	older string
	// waypoint: the namespace uses waypoint "waypoint" (a Gateway among
	// objects), ingress included unless ingressDirect; its pods are made
	// to run.
	waypoint, ingressDirect bool
}

const (
	reachStrictNamespace = `
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: NS}
spec: {mtls: {mode: STRICT}}
`
	reachMeshStrict = `
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: mesh-NS, namespace: istio-system}
spec: {mtls: {mode: STRICT}}
`
	// reachLockdown is what secure --lockdown writes
	// (manifests/authorizationpolicies.yaml): allow-nothing, the gateway
	// to the entry's pod port, the app's accounts and a monitoring
	// principal everywhere.
	reachLockdown = `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: opea-allow-ingress, namespace: NS}
spec:
  selector: {matchLabels: {app: chatqna-nginx}}
  action: ALLOW
  rules:
  - from: [{source: {principals: ["cluster.local/ns/istio-ingress/sa/istio-ingress"]}}]
    to: [{operation: {ports: ["8080"]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: opea-allow-app, namespace: NS}
spec:
  action: ALLOW
  rules:
  - from: [{source: {principals: ["cluster.local/ns/NS/sa/chatqna-nginx", "cluster.local/ns/NS/sa/chatqna-tgi", "cluster.local/ns/NS/sa/chatqna-redis", "cluster.local/ns/monitoring/sa/prometheus"]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: opea-deny-by-default, namespace: NS}
spec: {}
`
	reachWaypoint = `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: waypoint, namespace: NS}
spec:
  gatewayClassName: istio-waypoint
  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
`
)

func reachJoin(docs ...string) string { return strings.Join(docs, "\n---\n") }

var reachabilityCases = []reachabilityCase{
	{name: "no PeerAuthentication, no AuthorizationPolicy"},
	{name: "namespace STRICT", objects: reachStrictNamespace},
	{name: "mesh-wide STRICT in the root namespace", objects: reachMeshStrict},
	{name: "namespace PERMISSIVE", objects: strings.Replace(reachStrictNamespace, "STRICT", "PERMISSIVE", 1)},
	{name: "namespace DISABLE under a mesh-wide STRICT", objects: reachJoin(reachMeshStrict, strings.Replace(reachStrictNamespace, "STRICT", "DISABLE", 1))},
	{name: "namespace STRICT, the entry's named pod port 8080 PERMISSIVE", objects: reachJoin(reachStrictNamespace, `
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: nginx-carve-out, namespace: NS}
spec:
  selector: {matchLabels: {app: chatqna-nginx}}
  portLevelMtls: {"8080": {mode: PERMISSIVE}}
`)},
	{name: "namespace STRICT, portLevelMtls keyed by the Service port (80), not the pod port", objects: reachJoin(reachStrictNamespace, `
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: nginx-carve-out, namespace: NS}
spec:
  selector: {matchLabels: {app: chatqna-nginx}}
  portLevelMtls: {"80": {mode: PERMISSIVE}}
`)},
	{name: "workload STRICT with the named port 8001 DISABLE (Enterprise-RAG-style carve-out)", objects: `
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: redis, namespace: NS}
spec:
  selector: {matchLabels: {app: chatqna-redis}}
  mtls: {mode: STRICT}
  portLevelMtls: {"8001": {mode: DISABLE}}
`},
	{name: "namespace PERMISSIVE, workload with port 6379 STRICT", objects: reachJoin(strings.Replace(reachStrictNamespace, "STRICT", "PERMISSIVE", 1), `
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: redis, namespace: NS}
spec:
  selector: {matchLabels: {app: chatqna-redis}}
  portLevelMtls: {"6379": {mode: STRICT}}
`)},
	{name: "mesh-wide STRICT, workload PERMISSIVE with port 6379 STRICT", objects: reachJoin(reachMeshStrict, `
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: redis, namespace: NS}
spec:
  selector: {matchLabels: {app: chatqna-redis}}
  mtls: {mode: PERMISSIVE}
  portLevelMtls: {"6379": {mode: STRICT}}
`)},
	{name: "mesh-wide STRICT, namespace policy with mode unset, workload port 8001 PERMISSIVE", objects: reachJoin(reachMeshStrict, `
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: NS}
spec: {}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: redis, namespace: NS}
spec:
  selector: {matchLabels: {app: chatqna-redis}}
  portLevelMtls: {"8001": {mode: PERMISSIVE}}
`)},
	{name: "an older namespace PERMISSIVE next to default STRICT", older: `
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: zzz-older, namespace: NS}
spec: {mtls: {mode: PERMISSIVE}}
`, objects: reachStrictNamespace},
	{name: "namespace STRICT, workload PERMISSIVE for the entry", objects: reachJoin(reachStrictNamespace, `
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: nginx-permissive, namespace: NS}
spec:
  selector: {matchLabels: {app: chatqna-nginx}}
  mtls: {mode: PERMISSIVE}
`)},
	{name: "secure's lockdown under namespace STRICT", objects: reachJoin(reachStrictNamespace, reachLockdown)},
	{name: "user ALLOW of the app's own namespace", objects: `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: same-namespace, namespace: NS}
spec:
  rules: [{from: [{source: {namespaces: [NS]}}]}]
`},
	{name: "user ALLOW by serviceAccounts (bare and namespaced) on the redis pods", objects: `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: redis-clients, namespace: NS}
spec:
  selector: {matchLabels: {app: chatqna-redis}}
  rules:
  - from: [{source: {serviceAccounts: [chatqna-tgi, "monitoring/prometheus"]}}]
    to: [{operation: {ports: ["6379"]}}]
`},
	{name: "user DENY of other namespaces", objects: `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: no-strangers, namespace: NS}
spec:
  action: DENY
  rules: [{from: [{source: {notNamespaces: [NS, istio-ingress]}}]}]
`},
	{name: "user DENY with only paths (ztunnel skips the empty match)", objects: `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-admin, namespace: NS}
spec:
  action: DENY
  rules: [{to: [{operation: {paths: ["/admin"]}}]}]
`},
	{name: "user DENY on port 6379 and a path (enforced on the port)", objects: `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-redis-port, namespace: NS}
spec:
  action: DENY
  rules: [{to: [{operation: {ports: ["6379"], paths: ["/admin"]}}]}]
`},
	{name: "user ALLOW with methods (dropped: admits nobody)", objects: `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: get-only, namespace: NS}
spec:
  rules: [{to: [{operation: {methods: ["GET"]}}]}]
`},
	{name: "user ALLOW with when conditions (source.namespace, destination.port)", objects: `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: when-monitoring-6379, namespace: NS}
spec:
  rules:
  - when:
    - {key: source.namespace, values: [monitoring, NS]}
    - {key: destination.port, notValues: ["8001"]}
`},
	{name: "AuthorizationPolicy bound by targetRefs to a Service, no waypoint (not sent to ztunnel)", objects: `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: tgi-service-deny, namespace: NS}
spec:
  targetRefs: [{kind: Service, group: "", name: chatqna-tgi}]
  action: DENY
  rules: [{}]
`},
	{name: "root-namespace ALLOW (GLOBAL scope) of the gateway and monitoring", objects: `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: mesh-allow-NS, namespace: istio-system}
spec:
  rules: [{from: [{source: {principals: ["cluster.local/ns/istio-ingress/sa/istio-ingress", "cluster.local/ns/monitoring/sa/prometheus"]}}]}]
`},
	{name: "Enterprise-RAG-style fences: per-workload DENY with notPrincipals, STRICT", objects: reachJoin(reachStrictNamespace, `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: tgi-fence, namespace: NS}
spec:
  selector: {matchLabels: {app: chatqna-tgi}}
  action: DENY
  rules: [{from: [{source: {notPrincipals: ["cluster.local/ns/NS/sa/chatqna-nginx"]}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: redis-fence, namespace: NS}
spec:
  selector: {matchLabels: {app: chatqna-redis}}
  action: DENY
  rules: [{from: [{source: {notPrincipals: ["cluster.local/ns/NS/sa/chatqna-tgi", "cluster.local/ns/monitoring/*"]}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: nginx-fence, namespace: NS}
spec:
  selector: {matchLabels: {app: chatqna-nginx}}
  action: DENY
  rules: [{from: [{source: {notPrincipals: ["cluster.local/ns/istio-ingress/sa/istio-ingress"]}}]}]
`)},
	{name: "AuthorizationPolicy selector: {} (selects nothing) and selector: {matchLabels: {}} (selects all)", objects: `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: empty-selector, namespace: NS}
spec:
  selector: {}
  rules: [{from: [{source: {namespaces: [NS]}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: empty-match-labels, namespace: NS}
spec:
  selector: {matchLabels: {}}
  rules: [{from: [{source: {principals: ["cluster.local/ns/istio-ingress/sa/istio-ingress"]}}]}]
`},
	{name: "waypoint for the namespace, ingress through it, an ALLOW admitting the waypoint at tgi", waypoint: true, objects: reachJoin(reachStrictNamespace, reachWaypoint, `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: tgi-from-waypoint, namespace: NS}
spec:
  selector: {matchLabels: {app: chatqna-tgi}}
  rules: [{from: [{source: {principals: ["cluster.local/ns/NS/sa/waypoint"]}}]}]
`)},
	{name: "waypoint for the namespace, an ALLOW admitting only the app's accounts (all calls arrive as the waypoint)", waypoint: true, objects: reachJoin(reachStrictNamespace, reachWaypoint, `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: app-only, namespace: NS}
spec:
  rules: [{from: [{source: {principals: ["cluster.local/ns/NS/sa/chatqna-nginx", "cluster.local/ns/NS/sa/chatqna-tgi", "cluster.local/ns/NS/sa/chatqna-redis"]}}]}]
`)},
	{name: "waypoint for the namespace, not for ingress, an ALLOW at tgi admitting the waypoint only", waypoint: true, ingressDirect: true,
		objects: reachJoin(reachWaypoint, `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: tgi-from-waypoint, namespace: NS}
spec:
  selector: {matchLabels: {app: chatqna-tgi}}
  rules: [{from: [{source: {principals: ["cluster.local/ns/NS/sa/waypoint"]}}]}]
`)},
}

// reachApp is the application of every setup: an entry whose Service port
// 80 targets the pods' port named "http" (8080), a model server, and a
// database with a named second port.
var reachApp = []struct {
	name  string
	ports []corev1.ContainerPort
	svc   []corev1.ServicePort
}{
	{"chatqna-nginx", []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
		[]corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
	{"chatqna-tgi", []corev1.ContainerPort{{ContainerPort: 80}},
		[]corev1.ServicePort{{Name: "tgi", Port: 80, TargetPort: intstr.FromInt32(80)}}},
	{"chatqna-redis", []corev1.ContainerPort{{Name: "redis", ContainerPort: 6379}, {Name: "insight", ContainerPort: 8001}},
		[]corev1.ServicePort{{Name: "redis", Port: 6379, TargetPort: intstr.FromInt32(6379)}, {Name: "insight", Port: 8001, TargetPort: intstr.FromString("insight")}}},
}

// runReachPod waits for kwok to run pod (Running, with an address: istiod
// keys workloads by address) and marks it captured by ztunnel, as istio-cni
// would (it does not run here).
func runReachPod(ctx context.Context, t *testing.T, pod *corev1.Pod) {
	t.Helper()
	kube := adminKube(t)
	reachPoll(t, 60*time.Second, "kwok to run pod "+pod.Namespace+"/"+pod.Name, func(ctx context.Context) error {
		got, err := kube.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if got.Status.Phase != corev1.PodRunning || got.Status.PodIP == "" {
			return fmt.Errorf("phase %q, address %q", got.Status.Phase, got.Status.PodIP)
		}
		*pod = *got
		return nil
	})
	if pod.Labels[istio.DataplaneModeLabel] == "none" {
		return
	}
	patch := []byte(`{"metadata":{"annotations":{"ambient.istio.io/redirection":"enabled"}}}`)
	if _, err := kube.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, "application/merge-patch+json", patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// createReachApp creates reachApp in ns: its service accounts, Services
// and one running, captured pod each.
func createReachApp(ctx context.Context, t *testing.T, ns string) {
	t.Helper()
	kube := adminKube(t)
	for _, a := range reachApp {
		if _, err := kube.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: a.name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		labels := map[string]string{"app": a.name}
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: a.name}, Spec: corev1.ServiceSpec{Selector: labels, Ports: a.svc}}
		if _, err := kube.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: a.name + "-0", Labels: labels}, Spec: corev1.PodSpec{
			ServiceAccountName: a.name,
			Containers:         []corev1.Container{{Name: "app", Image: "opea/" + a.name, Ports: a.ports}},
		}}
		created, err := kube.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		runReachPod(ctx, t, created)
	}
}

// runWaypoint waits for the waypoint istiod deploys as ns/name: its pods
// run on kwok's node, captured as istio-cni would mark them, and its
// Service's EndpointSlice lists them.
func runWaypoint(ctx context.Context, t *testing.T, ns, name string) {
	t.Helper()
	kube := adminKube(t)
	var pods []corev1.Pod
	reachPoll(t, 30*time.Second, "istiod to deploy waypoint "+ns+"/"+name+" and its pods to be created", func(ctx context.Context) error {
		list, err := kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "gateway.networking.k8s.io/gateway-name=" + name})
		if err != nil {
			return err
		}
		if len(list.Items) == 0 {
			return fmt.Errorf("no pod yet")
		}
		pods = list.Items
		return nil
	})
	for i := range pods {
		runReachPod(ctx, t, &pods[i])
	}
	if err := fixtures.WaitEndpointSlice(ctx, kube, ns, name); err != nil {
		t.Fatal(err)
	}
}

// reachPoll calls check until it returns nil, failing the test with its
// last complaint after timeout.
func reachPoll(t *testing.T, timeout time.Duration, what string, check func(context.Context) error) {
	t.Helper()
	err := await.Until(context.Background(), timeout, 250*time.Millisecond, what, func(ctx context.Context) (bool, string, error) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		err := check(ctx)
		return err == nil, fmt.Sprint(err), nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// reachApply applies the YAML documents of text, NS standing for ns, and
// deletes them when the test ends.
func reachApply(ctx context.Context, t *testing.T, text, ns string) {
	t.Helper()
	if strings.TrimSpace(text) == "" {
		return
	}
	objs, err := controlplane.DecodeManifests([]byte(strings.ReplaceAll(text, "NS", ns)))
	if err != nil {
		t.Fatal(err)
	}
	if err := controlplane.ApplyManifests(ctx, cluster.AdminConfig(), objs); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		deleteObjects(t, objs)
	})
}

// reachRead reads the model's input back from the API, as verify would:
// the namespace's Services, pods, labels, waypoint Gateways, and the
// Istio policies of it and the root namespace.
func reachRead(ctx context.Context, t *testing.T, ns string) reachability.Input {
	t.Helper()
	kube, dyn := adminKube(t), adminDynamic(t)
	in := reachability.Input{Namespace: ns, GatewayPrincipals: []string{reachGatewayPrincipal}, ExtraPrincipals: []string{reachExtraPrincipal}}
	nsObj, err := kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	in.NamespaceLabels = nsObj.Labels
	svcs, err := kube.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range svcs.Items {
		in.Services = append(in.Services, reachability.ServiceFrom(s))
	}
	pods, err := kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	accounts := map[string]bool{}
	for _, p := range pods.Items {
		in.Pods = append(in.Pods, reachability.PodFrom(p))
		if p.Labels["gateway.networking.k8s.io/gateway-name"] == "" {
			accounts[p.Spec.ServiceAccountName] = true
		}
	}
	for sa := range accounts {
		in.AppServiceAccounts = append(in.AppServiceAccounts, sa)
	}
	sort.Strings(in.AppServiceAccounts)
	for _, n := range []string{istio.DefaultRootNamespace, ns} {
		pas, err := dyn.Resource(istio.PeerAuthentications("v1")).Namespace(n).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for i := range pas.Items {
			pa, err := istio.DecodePeerAuthentication(&pas.Items[i])
			if err != nil {
				t.Fatal(err)
			}
			in.PeerAuthentications = append(in.PeerAuthentications, pa)
		}
		aps, err := dyn.Resource(istio.AuthorizationPolicies("v1")).Namespace(n).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for i := range aps.Items {
			ap, err := istio.DecodeAuthorizationPolicy(&aps.Items[i])
			if err != nil {
				t.Fatal(err)
			}
			in.AuthorizationPolicies = append(in.AuthorizationPolicies, ap)
		}
	}
	gws, err := dyn.Resource(schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "gateways"}).Namespace(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range gws.Items {
		class, _, _ := unstructured.NestedString(g.Object, "spec", "gatewayClassName")
		in.Waypoints = append(in.Waypoints, reachability.WaypointGateway{Namespace: g.GetNamespace(), Name: g.GetName(), Class: class, Annotations: g.GetAnnotations()})
	}
	return in
}

// reachSettled is nil once istiod knows every pod of ns as a captured
// workload and sends every AuthorizationPolicy ztunnel enforces; and,
// with a waypoint, names it on every Service of the application.
func reachSettled(v *xds.ZtunnelView, in reachability.Input, waypoint bool) error {
	for _, p := range in.Pods {
		w := v.Workload(in.Namespace, p.Name)
		if w == nil {
			return fmt.Errorf("istiod has no workload %s/%s yet", in.Namespace, p.Name)
		}
	}
	keys := map[string]bool{}
	for _, p := range v.Policies {
		keys[p.Key()] = true
	}
	for _, p := range in.AuthorizationPolicies {
		if p.ForZtunnel() && !keys[p.Namespace+"/"+p.Name] {
			return fmt.Errorf("istiod does not send policy %s/%s yet", p.Namespace, p.Name)
		}
	}
	if len(in.PeerAuthentications) > 0 && !keys[istio.DefaultRootNamespace+"/"+istio.StaticStrictPolicyName] {
		return fmt.Errorf("istiod does not send %s yet", istio.StaticStrictPolicyName)
	}
	if waypoint {
		for _, a := range reachApp {
			s := v.Service(in.Namespace, a.name)
			if s == nil || len(v.WaypointIdentities(*s)) == 0 {
				return fmt.Errorf("istiod names no running waypoint for Service %s yet", a.name)
			}
		}
	}
	return nil
}

// istiodCell is what ztunnel decides, from istiod's resources, for every
// caller of column col at every pod that istiod says serves Service svc's
// port, in the model's order (pods by name, then callers).
func istiodCell(v *xds.ZtunnelView, ns string, row reachability.Row, col reachability.Column) ([]reachability.Outcome, error) {
	svc := v.Service(ns, row.Service)
	if svc == nil {
		return nil, fmt.Errorf("istiod has no Service %s/%s", ns, row.Service)
	}
	var workloads []xds.ZWorkload
	for _, w := range v.Workloads {
		if _, ok := w.TargetPort(*svc, uint32(row.Port)); ok && w.Namespace == ns {
			workloads = append(workloads, w)
		}
	}
	sort.Slice(workloads, func(i, j int) bool { return workloads[i].Name < workloads[j].Name })
	through := svc.Waypoint != nil && col.Key != reachability.ColumnPlaintext && (col.Key != reachability.ColumnGateway || svc.IngressUseWaypoint)
	var out []reachability.Outcome
	for _, w := range workloads {
		port, _ := w.TargetPort(*svc, uint32(row.Port))
		for _, c := range col.Callers {
			peer, err := xds.ParseIdentity(c.Principal)
			if err != nil {
				return nil, err
			}
			if through {
				ids := v.WaypointIdentities(*svc)
				if len(ids) != 1 {
					return nil, fmt.Errorf("Service %s's waypoint has %d identities", row.Service, len(ids))
				}
				peer = ids[0]
			}
			a := v.Authorize(w, peer, port)
			o := reachability.Outcome{Pod: w.Name, PodPort: int32(port), Caller: c.Principal, Arrives: peer.Principal(),
				Verdict: reachability.Refused, Decider: istiodDecider(a, peer.Principal() == "")}
			if a.Allowed {
				o.Verdict = reachability.Allowed
			}
			out = append(out, o)
		}
	}
	return out, nil
}

// istiodDecider names what decided, in the words of the matrix.
func istiodDecider(a xds.Authorization, plaintext bool) string {
	switch {
	case a.DeniedBy != "":
		return a.DeniedBy
	case !a.Allowed:
		return strings.Join(a.Allows, ", ")
	case a.AllowedBy != "":
		return a.AllowedBy
	case plaintext && len(a.PeerAuthn) > 0:
		return a.PeerAuthn[0]
	case plaintext:
		return reachability.NoStrict
	case a.Others == 0:
		return reachability.NoPolicy
	}
	return reachability.NoAllowPolicy
}

// istiodSummary is a cell's verdict over istiod's outcomes: one verdict
// when all agree, partly when some are allowed and others refused.
func istiodSummary(outcomes []reachability.Outcome) reachability.Verdict {
	if len(outcomes) == 0 {
		return reachability.Unknown
	}
	v := outcomes[0].Verdict
	for _, o := range outcomes[1:] {
		if o.Verdict != v {
			return reachability.Partly
		}
	}
	return v
}

// reachDifferences lists where the matrix and istiod's resources disagree.
func reachDifferences(v *xds.ZtunnelView, ns string, m reachability.Matrix) []string {
	var diffs []string
	for _, row := range m.Rows {
		for i, col := range m.Columns {
			cell := row.Cells[i]
			want, err := istiodCell(v, ns, row, col)
			if err != nil {
				diffs = append(diffs, err.Error())
				continue
			}
			where := fmt.Sprintf("%s:%d %s", row.Service, row.Port, col.Key)
			if got := istiodSummary(want); got != cell.Verdict {
				diffs = append(diffs, fmt.Sprintf("%s: matrix %s, istiod %s", where, cell.Verdict, got))
			}
			if len(want) != len(cell.Outcomes) {
				diffs = append(diffs, fmt.Sprintf("%s: matrix has %d outcomes, istiod %d (%+v vs %+v)", where, len(cell.Outcomes), len(want), cell.Outcomes, want))
				continue
			}
			for j := range want {
				if want[j] != cell.Outcomes[j] {
					diffs = append(diffs, fmt.Sprintf("%s: matrix %+v, istiod %+v", where, cell.Outcomes[j], want[j]))
				}
			}
		}
	}
	return diffs
}

// reachRow is one line of the published table.
type reachRow struct {
	setup, namespace string
	row              reachability.Row
}

// TestReachabilityAgreesWithIstiod applies each setup to the local control
// plane, computes the matrix from the objects the API returns, and
// compares every cell, caller by caller and pod by pod, with what ztunnel
// decides from the Workload, Service and Authorization resources the
// running istiod sends it. The table is published in
// docs/reachability-differential.md (-update-reachability rewrites it).
func TestReachabilityAgreesWithIstiod(t *testing.T) {
	var rows []reachRow
	var columns []reachability.Column
	outcomes := 0
	for _, c := range reachabilityCases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			ns := createNamespace(t, namespaceName(t))
			labels := map[string]string{istio.DataplaneModeLabel: "ambient"}
			if c.waypoint {
				labels[istio.UseWaypointLabel] = "waypoint"
				if !c.ingressDirect {
					labels[istio.IngressUseWaypointLabel] = "true"
				}
			}
			labelNamespace(t, ns, labels)
			createReachApp(ctx, t, ns)
			if c.older != "" {
				reachApply(ctx, t, c.older, ns)
				time.Sleep(1100 * time.Millisecond)
			}
			reachApply(ctx, t, c.objects, ns)
			if c.waypoint {
				runWaypoint(ctx, t, ns, "waypoint")
			}
			in := reachRead(ctx, t, ns)
			m, err := reachability.Compute(in)
			if err != nil {
				t.Fatal(err)
			}
			var last []string
			reachPoll(t, 30*time.Second, "istiod to settle", func(ctx context.Context) error {
				v, err := xds.FetchZtunnelView(ctx, cluster.Istio.Debug)
				if err != nil {
					return err
				}
				return reachSettled(v, in, c.waypoint)
			})
			// The differences left after 20s are the test's failures.
			err = await.Until(ctx, 20*time.Second, 250*time.Millisecond, "ztunnel's view to match", func(ctx context.Context) (bool, string, error) {
				v, err := xds.FetchZtunnelView(ctx, cluster.Istio.Debug)
				if err != nil {
					return false, "", err
				}
				last = reachDifferences(v, ns, m)
				return len(last) == 0, "", nil
			})
			var timedOut *await.TimeoutError
			if err != nil && !errors.As(err, &timedOut) {
				t.Fatal(err)
			}
			for _, d := range last {
				t.Error(d)
			}
			columns = m.Columns
			for _, r := range m.Rows {
				rows = append(rows, reachRow{setup: c.name, namespace: ns, row: r})
				for _, cell := range r.Cells {
					outcomes += len(cell.Outcomes)
				}
			}
		})
	}
	if t.Failed() {
		return
	}
	checkReachabilityTable(t, columns, rows, outcomes)
}

const reachabilityDoc = "docs/reachability-differential.md"

// checkReachabilityTable compares the published table with this run's.
func checkReachabilityTable(t *testing.T, columns []reachability.Column, rows []reachRow, outcomes int) {
	var b strings.Builder
	setups := map[string]bool{}
	for _, r := range rows {
		setups[r.setup] = true
	}
	cells := len(rows) * len(columns)
	b.WriteString(`# Reachability matrix and istiod, side by side

Generated by ` + "`go test ./test/e2e -run TestReachabilityAgreesWithIstiod -update-reachability`" + `; the
test fails when this file and the code drift apart.

Each setup is applied to the local control plane on a small application
(` + "`chatqna-nginx`" + ` port 80 targeting the pods' port named ` + "`http`" + `, 8080;
` + "`chatqna-tgi`" + ` port 80; ` + "`chatqna-redis`" + ` ports 6379 and 8001, the latter
targeting the port named ` + "`insight`" + `), each workload running as its own service
account, the namespace enrolled in ambient mode. pkg/reachability computes the
matrix from the objects as the API returns them; the test then reads the
Workload, Service and Authorization resources the running istiod sends ztunnel
(` + "`/debug/ambientz`" + `) and decides every cell with its own evaluator of
ztunnel's rules (test/xds/ztunnel.go): the pods istiod says serve the Service
port and the pod port it resolves, the identity that arrives (a waypoint's,
found through the Service's waypoint address), the verdict and the deciding
policy, for every caller at every pod. Every cell below agreed.

Columns: PLAINTEXT is a caller outside the mesh; GATEWAY the ingress gateway
(` + "`" + reachGatewayPrincipal + "`" + `); APP the application's own service accounts
(partly: some are refused); OTHER NAMESPACE a mesh workload of another namespace
(` + "`" + istio.Principal(istio.DefaultTrustDomain, reachability.DefaultOtherNamespace, "default") + "`" + `); the last an extra principal
(` + "`" + reachExtraPrincipal + "`" + `). Policies a waypoint itself enforces (bound by
targetRefs) are not sent to ztunnel and are not part of these setups.

`)
	fmt.Fprintf(&b, "%d setups, %d matrix rows, %d cells, %d caller-at-pod outcomes compared.\n", len(setups), len(rows), cells, outcomes)
	setup := ""
	for _, r := range rows {
		if r.setup != setup {
			setup = r.setup
			b.WriteString("\n## " + setup + "\n\n| SERVICE:PORT (pod port) |")
			for _, c := range columns {
				b.WriteString(" " + c.Title + " |")
			}
			b.WriteString(" decided by (plaintext) | decided by (mesh callers) |\n|---|")
			for range columns {
				b.WriteString("---|")
			}
			b.WriteString("---|---|\n")
		}
		fmt.Fprintf(&b, "| %s:%d (%s)", r.row.Service, r.row.Port, podPorts(r.row.PodPorts))
		if r.row.Waypoint != "" {
			b.WriteString(" via waypoint")
		}
		b.WriteString(" |")
		for _, cell := range r.row.Cells {
			b.WriteString(" " + string(cell.Verdict) + " |")
		}
		fmt.Fprintf(&b, " %s | %s |\n", anonymize(r.row.PlaintextDecider, r.namespace), anonymize(r.row.Decider, r.namespace))
	}
	path := filepath.Join(controlplane.RepoRoot(), reachabilityDoc)
	if *updateReachability {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	have, err := os.ReadFile(path)
	if err != nil || string(have) != b.String() {
		t.Errorf("%s is out of date: run go test ./test/e2e -run TestReachabilityAgreesWithIstiod -update-reachability\n--- want:\n%s", reachabilityDoc, b.String())
	}
}

func podPorts(ports []int32) string {
	if len(ports) == 0 {
		return "none"
	}
	var s []string
	for _, p := range ports {
		s = append(s, fmt.Sprint(p))
	}
	return strings.Join(s, ", ")
}

// anonymize writes each setup's own namespace (named after the test and a
// counter) as "app" in policy names, so that the table does not change
// from run to run.
func anonymize(deciders, ns string) string {
	return strings.ReplaceAll(deciders, ns, "app")
}
