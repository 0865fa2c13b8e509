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
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/opea-project/kubectl-opea/pkg/clients"
	"github.com/opea-project/kubectl-opea/pkg/desired"
	"github.com/opea-project/kubectl-opea/pkg/discover"
	"github.com/opea-project/kubectl-opea/pkg/gatewayapi"
	"github.com/opea-project/kubectl-opea/pkg/istio"
	"github.com/opea-project/kubectl-opea/pkg/owned"
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
	var prob *problems.Problem
	if errors.As(err, &prob) && p.Lockdown == LockdownAsIs {
		fmt.Fprintf(p.notices, "Could not check for a lockdown an earlier secure --lockdown made in namespace %s (you may not list AuthorizationPolicies there): if there is one, it is left as it is.\n", p.Namespace)
		return false, nil, nil
	}
	if err != nil {
		return false, nil, err
	}
	if found.Nothing() {
		return false, nil, nil
	}
	if p.Lockdown == LockdownOff {
		return false, found, nil
	}
	allowApp := desired.NamesFor(p.Namespace).AllowApp
	for _, u := range slices.Concat(found.Remove, found.Keep) {
		if v := u.GetAnnotations()[desired.AllowPrincipalsAnnotation]; u.GetName() == allowApp && v != "" {
			p.AllowPrincipals = strings.Split(v, ",")
		}
	}
	fmt.Fprintf(p.notices, "Keeping the lockdown an earlier secure --lockdown made in namespace %s (--lockdown=false removes it).\n", p.Namespace)
	return true, nil, nil
}

func (p *planner) fieldManager() string {
	if p.FieldManager == "" {
		return desired.ManagedByValue
	}
	return p.FieldManager
}

// lockdown reads what the lockdown's policies admit: the trust domain, the
// service accounts of the application's pods, the entry workload's pod
// ports and the ingress gateway's identity (the classic gateway gw, or the
// one Istio deploys for secure's Gateway API Gateway). Every read the user
// may not make is reported in one problem.
func (p *planner) lockdown(ctx context.Context, kube clients.Kube, version string, entry discover.Entry, gw discover.Gateway) (*desired.Lockdown, []error) {
	l := &desired.Lockdown{Version: version, AllowPrincipals: p.AllowPrincipals, EntrySelector: entry.Selector}
	var errs []error
	var missing []string
	td, err := p.trustDomain(ctx, kube)
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
		if l.ServiceAccounts = appServiceAccounts(pods.Items); len(l.ServiceAccounts) == 0 {
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
	if len(entry.Selector) == 0 {
		errs = append(errs, problems.New(
			fmt.Sprintf("Service %s/%s selects no pods by labels: the lockdown cannot name the entry workload the ingress gateway may reach", p.Namespace, entry.Service),
			fmt.Sprintf("pass the entry Service that selects the application's entry pods with --service; or %s", p.withoutLockdown())))
	}

	if p.GatewayAPI {
		account := gatewayapi.ServiceAccountName(gatewayapi.Gateway{Name: desired.NamesFor(p.Namespace).Gateway, ClassName: p.GatewayClass})
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

// trustDomain is the mesh's trust domain, from the mesh config of the
// default revision's istiod, found as verify finds it
// (discover.ReadMeshConfig); Istio's default when there is none.
func (p *planner) trustDomain(ctx context.Context, kube clients.Kube) (string, error) {
	mesh, err := discover.ReadMeshConfig(ctx, kube)
	if err != nil {
		var forbidden *discover.Forbidden
		if errors.As(err, &forbidden) {
			return istio.DefaultTrustDomain, err
		}
		return istio.DefaultTrustDomain, problems.New(err.Error(),
			fmt.Sprintf("fix Istio's mesh config (kubectl edit configmap %s -n %s); istiod cannot read it either", mesh.Name, mesh.Namespace))
	}
	if !mesh.Found {
		where := "no istiod (kubectl get deployments -A -l " + discover.IstiodSelector + ")"
		if mesh.Name != "" {
			where = fmt.Sprintf("no ConfigMap %s/%s", mesh.Namespace, mesh.Name)
		}
		fmt.Fprintf(p.notices, "Istio's mesh config not found (%s): using Istio's default trust domain %s in the lockdown's principals.\n", where, istio.DefaultTrustDomain)
	}
	return mesh.TrustDomain, nil
}

// appServiceAccounts are the service accounts the application's pods run
// as, sorted, each once. Pods of a Gateway API gateway (one Istio deployed
// for a Gateway, labelled with its name) are not the application's.
func appServiceAccounts(pods []corev1.Pod) []string {
	var out []string
	for _, pod := range pods {
		if _, gateway := pod.Labels[gatewayapi.GatewayNameLabel]; gateway {
			continue
		}
		out = append(out, discover.ServiceAccountOf(pod.Spec))
	}
	slices.Sort(out)
	return slices.Compact(out)
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
	if selected == 0 {
		why = fmt.Sprintf("it selects no pod (%s) to resolve it in", labels.Set(entry.Selector))
	}
	return nil, problems.New(
		fmt.Sprintf("Service %s/%s port %d targets the port named %q, and %s: the lockdown cannot name the port the ingress gateway may reach", ns, entry.Service, sp.Port, sp.TargetPort.StrVal, why),
		fmt.Sprintf("start the entry pods (kubectl get pods -n %s -l %s), or give the Service port a numeric targetPort", ns, labels.Set(entry.Selector)))
}
