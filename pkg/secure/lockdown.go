package secure

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/opea-project/kubectl-opea/pkg/clients"
	"github.com/opea-project/kubectl-opea/pkg/desired"
	"github.com/opea-project/kubectl-opea/pkg/discover"
	"github.com/opea-project/kubectl-opea/pkg/gatewayapi"
	"github.com/opea-project/kubectl-opea/pkg/istio"
	"github.com/opea-project/kubectl-opea/pkg/owned"
	"github.com/opea-project/kubectl-opea/pkg/ownership"
	"github.com/opea-project/kubectl-opea/pkg/problems"
)

// lockdownState decides whether the plan holds the lockdown's policies:
// with --lockdown, yes; without the flag, when an earlier secure --lockdown
// left them (the extra callers it recorded admitted again); with
// --lockdown=false, no, and unlock lists the policies to remove.
func (p *planner) lockdownState(ctx context.Context, apis discover.APIs) (on bool, unlock *owned.Found, err error) {
	if p.Lockdown == LockdownOn {
		if apis.AuthorizationPolicies == "" {
			return false, nil, problems.New(
				"--lockdown: the Istio API security.istio.io does not serve AuthorizationPolicy (v1 or v1beta1): Istio's CRDs are not installed",
				"install Istio in ambient mode with its CRDs (istioctl install --set profile=ambient, or the istio/base Helm chart), or leave out --lockdown")
		}
		return true, nil, nil
	}
	if apis.AuthorizationPolicies == "" {
		return false, nil, nil // none can exist
	}
	dyn, err := p.clients.Dynamic()
	if err != nil {
		return false, nil, err
	}
	found, err := owned.FindLockdown(ctx, dyn, owned.Options{AppNamespace: p.Namespace, FieldManager: p.fieldManager(), APIs: apis})
	if err != nil {
		// Unread is not absent: a plain rerun would leave the lockdown
		// without the application's new service accounts.
		what := fmt.Sprintf("for a lockdown an earlier secure --lockdown made in namespace %s", p.Namespace)
		request := "list authorizationpolicies.security.istio.io in namespace " + p.Namespace
		var refused *problems.Problem
		if errors.As(err, &refused) { // the list was forbidden
			return false, nil, notAllowedToCheck(what, request)
		}
		return false, nil, couldNotCheck(what, request, err)
	}
	if found.Nothing() {
		return false, nil, nil
	}
	if p.Lockdown == LockdownOff {
		return false, found, nil
	}
	recorded, err := recordedPrincipals(p.Namespace, found, p.rerunWithLockdown())
	if err != nil {
		return false, nil, err
	}
	p.AllowPrincipals = recorded
	fmt.Fprintf(p.notices, "Keeping the lockdown an earlier secure --lockdown made in namespace %s (--lockdown=false removes it).\n", p.Namespace)
	return true, nil, nil
}

// recordedPrincipals are the extra callers an earlier secure --lockdown
// recorded on its AllowApp policy, validated as --allow-principal is: the
// annotation can be edited by anyone who may patch the policy, and a plain
// rerun must not admit what the flag would have refused.
func recordedPrincipals(namespace string, found *owned.Found, rerun string) ([]string, error) {
	allowApp := ownership.NamesFor(namespace).AllowApp
	for _, u := range slices.Concat(found.Remove, found.Keep) {
		v, ok := u.GetAnnotations()[ownership.AllowPrincipalsAnnotation]
		if u.GetName() != allowApp || !ok {
			continue
		}
		principals, err := istio.ParsePrincipalList(v)
		if err != nil {
			return nil, problems.New(
				fmt.Sprintf("AuthorizationPolicy %s/%s: annotation %s=%q is not what secure --lockdown records: %v", namespace, allowApp, ownership.AllowPrincipalsAnnotation, v, err),
				fmt.Sprintf("run %s --allow-principal <caller> for each caller you mean to admit (it rewrites the annotation; --force-conflicts takes it back from whoever edited it), or remove the lockdown with --lockdown=false", rerun))
		}
		return principals, nil
	}
	return nil, nil
}

// rerunWithLockdown is this secure command with --lockdown and
// --force-conflicts, for a fix.
func (p *planner) rerunWithLockdown() string {
	args := []string{"kubectl opea secure -n " + p.Namespace}
	for _, h := range p.Hosts {
		args = append(args, "--host "+h)
	}
	if p.GatewayAPI {
		args = append(args, "--gateway-api")
	}
	return strings.Join(append(args, "--lockdown", "--force-conflicts"), " ")
}

func (p *planner) fieldManager() string {
	if p.FieldManager == "" {
		return ownership.ManagedByValue
	}
	return p.FieldManager
}

// lockdown reads what the lockdown's policies admit: the trust domain, the
// service accounts of the application's pods, the entry workload's pod
// ports and the ingress gateway's identity (the classic gateway gw, or the
// one Istio deploys for secure's Gateway API Gateway). Every read the user
// may not make is reported in one problem.
func (p *planner) lockdown(ctx context.Context, kube clients.Kube, apis discover.APIs, entry discover.Entry, gw discover.Gateway) (*desired.Lockdown, []error) {
	version := apis.AuthorizationPolicies
	l := &desired.Lockdown{Version: version, AllowPrincipals: p.AllowPrincipals, EntrySelector: entry.Selector}
	var errs []error
	var missing []string
	mesh, err := p.meshSettings(ctx, kube)
	td := mesh.TrustDomain
	var forbidden *discover.Forbidden
	switch {
	case errors.As(err, &forbidden):
		missing = append(missing, forbidden.Permission)
	case err != nil:
		errs = append(errs, err)
	}
	l.TrustDomain = td
	// A caller of another trust domain is admitted only if the mesh trusts
	// that domain (trust domain aliases): most often it is a typo.
	for _, caller := range p.AllowPrincipals {
		if other, _, _, err := istio.ParsePrincipal(caller); err == nil && other != td {
			fmt.Fprintf(p.notices, "--allow-principal %s is of trust domain %s, the mesh's is %s: it is admitted only if the mesh trusts %s too.\n", caller, other, td, other)
		}
	}

	pods, err := kube.CoreV1().Pods(p.Namespace).List(ctx, metav1.ListOptions{})
	switch {
	case apierrors.IsForbidden(err):
		missing = append(missing, "list pods in namespace "+p.Namespace)
	case err != nil:
		errs = append(errs, fmt.Errorf("listing the pods of namespace %s: %w", p.Namespace, err))
	default:
		if l.ServiceAccounts = discover.AppServiceAccounts(pods.Items); len(l.ServiceAccounts) == 0 {
			errs = append(errs, problems.New(
				fmt.Sprintf("namespace %s has no pods of the application: the lockdown admits the service accounts its pods run as, and would admit none", p.Namespace),
				fmt.Sprintf("install or start the application first (kubectl get pods -n %s), then run secure again; or %s", p.Namespace, p.withoutLockdown())))
		}
		if len(entry.Selector) > 0 {
			ports, err := entryPorts(p.Namespace, entry, pods.Items)
			if err != nil {
				errs = append(errs, err)
			}
			l.EntryPorts = ports
		}
	}
	waypoints, more, err := p.waypointPrincipals(ctx, kube, apis.GatewayAPI, td)
	missing = append(missing, more...)
	if err != nil {
		errs = append(errs, err)
	}
	l.Waypoints = waypoints
	if len(entry.Selector) == 0 {
		errs = append(errs, problems.New(
			fmt.Sprintf("Service %s/%s selects no pods by labels: the lockdown cannot name the entry workload the ingress gateway may reach", p.Namespace, entry.Service),
			fmt.Sprintf("pass the entry Service that selects the application's entry pods with --service; or %s", p.withoutLockdown())))
	}

	if p.GatewayAPI {
		more, err := p.checkGatewayClients(ctx, version, mesh.RootNamespace)
		missing = append(missing, more...)
		if err != nil {
			errs = append(errs, err)
		}
		account := gatewayapi.ServiceAccountName(gatewayapi.Gateway{Name: ownership.NamesFor(p.Namespace).Gateway, ClassName: p.GatewayClass})
		l.GatewayPrincipal = istio.Principal(td, p.Namespace, account)
	} else {
		l.GatewayPrincipal = istio.Principal(td, gw.Namespace, gw.ServiceAccount)
	}
	if len(missing) > 0 {
		errs = append([]error{problems.New(
			"you lack permissions it needs: "+strings.Join(missing, "; "),
			"ask a cluster admin for a Role (or ClusterRole) granting them, or use --context/--as with an identity that has them; or "+p.withoutLockdown())}, errs...)
	}
	return l, errs
}

// withoutLockdown says how to go on without the lockdown: leave out the
// flag, or turn off the lockdown that is on.
func (p *planner) withoutLockdown() string {
	if p.Lockdown == LockdownOn {
		return "leave out --lockdown"
	}
	return "remove the lockdown with --lockdown=false"
}

// meshSettings are the mesh's trust domain and root namespace, from the
// mesh config of the default revision's istiod, found as verify finds it
// (discover.ReadMeshConfig); Istio's defaults when there is none.
func (p *planner) meshSettings(ctx context.Context, kube clients.Kube) (istio.MeshSettings, error) {
	mesh, err := discover.ReadMeshConfig(ctx, kube)
	if err != nil {
		var forbidden *discover.Forbidden
		if errors.As(err, &forbidden) {
			return istio.DefaultMeshSettings(), err
		}
		return istio.DefaultMeshSettings(), problems.New(err.Error(),
			fmt.Sprintf("fix Istio's mesh config (kubectl edit configmap %s -n %s); istiod cannot read it either", mesh.Name, mesh.Namespace))
	}
	if !mesh.Found {
		where := "no istiod (kubectl get deployments -A -l " + discover.IstiodSelector + ")"
		if mesh.Name != "" {
			where = fmt.Sprintf("no ConfigMap %s/%s", mesh.Namespace, mesh.Name)
		}
		fmt.Fprintf(p.notices, "Istio's mesh config not found (%s): using Istio's default trust domain %s in the lockdown's principals.\n", where, istio.DefaultTrustDomain)
	}
	return mesh.MeshSettings, nil
}

// entryPorts are the pod ports the entry Service port sends traffic to,
// where ztunnel sees it: a numeric targetPort as it is, a named one
// resolved through the container ports of the pods the Service selects, as
// istiod does (all of them, sorted, when pods differ, as during a rollout).
func entryPorts(ns string, entry discover.Entry, pods []corev1.Pod) ([]int32, error) {
	sp := entry.ServicePort
	if sp.TargetPort.Type != intstr.String || sp.TargetPort.StrVal == "" {
		port, _ := istio.FindTargetPort(sp, nil)
		return []int32{port}, nil
	}
	selector := labels.SelectorFromSet(entry.Selector)
	var ports []int32
	selected := 0
	for _, pod := range pods {
		if !selector.Matches(labels.Set(pod.Labels)) {
			continue
		}
		selected++
		if port, ok := istio.FindTargetPort(sp, istio.ContainerPorts(pod.Spec)); ok && !slices.Contains(ports, port) {
			ports = append(ports, port)
		}
	}
	slices.Sort(ports)
	if len(ports) > 0 {
		return ports, nil
	}
	why := fmt.Sprintf("none of the %d pods it selects (%s) declares a container port of that name", selected, labels.Set(entry.Selector))
	fix := fmt.Sprintf("name the port %q in the entry pods' containers (kubectl get pods -n %s -l %s -o yaml), or give the Service port a numeric targetPort", sp.TargetPort.StrVal, ns, labels.Set(entry.Selector))
	if selected == 0 {
		why = fmt.Sprintf("it selects no pod (%s) to resolve it in", labels.Set(entry.Selector))
		fix = fmt.Sprintf("start the entry pods (kubectl get pods -n %s -l %s), or give the Service port a numeric targetPort", ns, labels.Set(entry.Selector))
	}
	return nil, problems.New(
		fmt.Sprintf("Service %s/%s port %d targets the port named %q, and %s: the lockdown cannot name the port the ingress gateway may reach", ns, entry.Service, sp.Port, sp.TargetPort.StrVal, why),
		fix)
}

// checkGatewayClients refuses a Gateway API lockdown when a policy of the
// user's would still make the gateway turn clients away: the lockdown
// admits every client at its Gateway (AllowGatewayClients), but a DENY of
// the namespace or the root namespace that matches a plain request, or a
// mesh-wide policy, is evaluated there too. The policies are read from
// both namespaces (root is the mesh config's root namespace); a read that
// fails refuses, since what it would have shown is unknown.
func (p *planner) checkGatewayClients(ctx context.Context, version, root string) (missing []string, err error) {
	dyn, err := p.clients.Dynamic()
	if err != nil {
		return nil, err
	}
	names := ownership.NamesFor(p.Namespace)
	gvr := istio.AuthorizationPolicies(version)
	policies := []istio.AuthorizationPolicy{{
		Namespace: p.Namespace, Name: names.AllowGatewayClients, Action: "ALLOW", Rules: []istio.AuthorizationRule{{}},
		TargetRefs: []istio.PolicyTargetReference{{Group: "gateway.networking.k8s.io", Kind: "Gateway", Name: names.Gateway}},
	}}
	for _, ns := range []string{p.Namespace, root} {
		list, err := dyn.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{})
		switch {
		case apierrors.IsForbidden(err):
			missing = append(missing, "list authorizationpolicies.security.istio.io in namespace "+ns)
			continue
		case err != nil:
			return missing, fmt.Errorf("could not check the AuthorizationPolicies of namespace %s that apply to the gateway: %w", ns, err)
		}
		for i := range list.Items {
			ap, err := istio.DecodeAuthorizationPolicy(&list.Items[i])
			if err != nil {
				return missing, fmt.Errorf("reading AuthorizationPolicy %s/%s: %w", ns, list.Items[i].GetName(), err)
			}
			if ownership.Ours(list.Items[i].GetLabels(), p.Namespace) {
				continue // secure's own, rendered anew
			}
			policies = append(policies, ap)
		}
	}
	if len(missing) > 0 {
		return missing, nil
	}
	proxy := istio.GatewayProxy{Namespace: p.Namespace, GatewayName: names.Gateway, Labels: map[string]string{
		gatewayapi.GatewayNameLabel: names.Gateway, "gateway.networking.k8s.io/gateway-class-name": p.GatewayClass,
		gatewayapi.ManagedLabel: "istio.io-gateway-controller",
	}}
	ports := []int32{443}
	if p.HTTPRedirect {
		ports = append(ports, 80)
	}
	for _, host := range p.Hosts {
		for _, port := range ports {
			req := istio.ClientRequest{Host: istio.ExampleHost(host, p.Namespace), Port: port, Method: "GET", Path: "/"}
			d := istio.EvaluateAtGateway(policies, root, proxy, req)
			if d.Admitted == istio.No && d.Deny != nil {
				return nil, problems.New(
					fmt.Sprintf("DENY policy %s/%s applies to the gateway Istio deploys for Gateway %s/%s and matches GET / for %s on port %d: with the lockdown, clients would still get 403", d.Deny.Namespace, d.Deny.Name, p.Namespace, names.Gateway, req.Host, port),
					fmt.Sprintf("narrow that policy so that it leaves the application's clients alone (kubectl get authorizationpolicy %s -n %s -o yaml), or %s", d.Deny.Name, d.Deny.Namespace, p.withoutLockdown()))
			}
		}
	}
	return nil, nil
}

// waypointPrincipals are the principals of the waypoints the namespace's
// Services use (their istio.io/use-waypoint label, or the namespace's):
// every call to such a Service, the application's own and, with
// istio.io/ingress-use-waypoint, the ingress gateway's, reaches the pods
// from the waypoint, and istiod does not admit it by itself
// (PILOT_AUTO_ALLOW_WAYPOINT_POLICY is off by default). The account is the
// one the waypoint's Gateway names, read when the Gateway API is served.
func (p *planner) waypointPrincipals(ctx context.Context, kube clients.Kube, gatewayAPI, trustDomain string) (principals, missing []string, err error) {
	ns, err := kube.CoreV1().Namespaces().Get(ctx, p.Namespace, metav1.GetOptions{})
	switch {
	case apierrors.IsForbidden(err):
		return nil, []string{"get namespaces " + p.Namespace}, nil
	case err != nil:
		return nil, nil, fmt.Errorf("could not check which waypoints namespace %s uses: %w", p.Namespace, err)
	}
	svcs, err := kube.CoreV1().Services(p.Namespace).List(ctx, metav1.ListOptions{})
	switch {
	case apierrors.IsForbidden(err):
		return nil, []string{"list services in namespace " + p.Namespace}, nil
	case err != nil:
		return nil, nil, fmt.Errorf("could not check which waypoints the Services of namespace %s use: %w", p.Namespace, err)
	}
	seen := map[istio.Waypoint]bool{}
	for _, svc := range svcs.Items {
		wp, ok := istio.ServiceWaypoint(svc.Namespace, svc.Labels, ns.Labels)
		if !ok || seen[wp] {
			continue
		}
		seen[wp] = true
		sa, err := p.waypointAccount(ctx, gatewayAPI, wp)
		if err != nil {
			return nil, nil, err
		}
		principals = append(principals, istio.Principal(trustDomain, wp.Namespace, sa))
	}
	slices.Sort(principals)
	return principals, nil, nil
}

// waypointAccount is the ServiceAccount waypoint wp runs as: what its
// Gateway names, or istiod's default when there is no Gateway (yet) or the
// Gateway API is not served.
func (p *planner) waypointAccount(ctx context.Context, gatewayAPI string, wp istio.Waypoint) (string, error) {
	if gatewayAPI == "" {
		return istio.WaypointServiceAccount(wp.Name, "", nil), nil
	}
	dyn, err := p.clients.Dynamic()
	if err != nil {
		return "", err
	}
	u, err := dyn.Resource(gatewayapi.Gateways(gatewayAPI)).Namespace(wp.Namespace).Get(ctx, wp.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return istio.WaypointServiceAccount(wp.Name, "", nil), nil
	case err != nil:
		return "", fmt.Errorf("could not read waypoint Gateway %s/%s, whose identity the lockdown must admit: %w", wp.Namespace, wp.Name, err)
	}
	class, _, _ := unstructured.NestedString(u.Object, "spec", "gatewayClassName")
	return istio.WaypointServiceAccount(wp.Name, class, u.GetAnnotations()), nil
}
