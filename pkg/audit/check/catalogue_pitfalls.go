package check

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/pkg/istio"
)

// ---- Ambient pitfalls: what users keep hitting in ambient mode, each
// a setup that looks right and is not (Kiali's validations, Istio's issues).

// CategoryPitfalls gathers them.
const CategoryPitfalls = "Ambient pitfalls"

// What they read.
var (
	needNetworkPolicies = []snapshot.Input{snapshot.InputNetworkPolicies, snapshot.InputPods, snapshot.InputServices}
	needPrincipals      = []snapshot.Input{snapshot.InputAuthorizationPolicies, snapshot.InputServiceAccounts, snapshot.InputMeshConfig, snapshot.InputIstiod, snapshot.InputPods}
	needL7Policies      = []snapshot.Input{snapshot.InputAuthorizationPolicies, snapshot.InputRequestAuthentications, snapshot.InputMeshConfig, snapshot.InputIstiod,
		snapshot.InputPods, snapshot.InputServices, snapshot.InputNamespace, snapshot.InputGatewayAPIGateways}
	needWaypoints = []snapshot.Input{snapshot.InputNamespace, snapshot.InputServices, snapshot.InputPods, snapshot.InputGatewayAPIGateways,
		snapshot.InputAuthorizationPolicies, snapshot.InputRequestAuthentications, snapshot.InputMeshConfig, snapshot.InputIstiod}
)

// pitfallChecks are the catalogue's rows of the category, in report order.
var pitfallChecks = []Check{
	{ID: "pitfalls.networkpolicy-admits-hbone", Category: CategoryPitfalls, Ingress: AnyIngress, Description: "NetworkPolicies admit HBONE (TCP 15008) to the pods",
		Needs: needNetworkPolicies, Run: checkNetworkPolicyHBONE},
	{ID: "pitfalls.principals-exist", Category: CategoryPitfalls, Ingress: AnyIngress, Description: "AuthorizationPolicies name service accounts that exist",
		Needs: needPrincipals, Run: checkPrincipalsExist},
	{ID: "pitfalls.gateway-host-network", Category: CategoryPitfalls, Ingress: ClassicIngress, Description: "ingress gateway pods not on the host network",
		Needs: needGatewayPods, Requires: requireGateways, Run: checkGatewayHostNetwork},
	{ID: "pitfalls.l7-policy-enforced", Category: CategoryPitfalls, Ingress: AnyIngress, Description: "no HTTP policy on the pods, where nothing enforces it",
		Needs: needL7Policies, Run: checkL7PoliciesEnforced},
	{ID: "pitfalls.waypoint-exists", Category: CategoryPitfalls, Ingress: AnyIngress, Description: "the waypoints istio.io/use-waypoint names exist and take the traffic",
		Needs: needWaypoints, Run: checkWaypointsExist},
}

// workloadsOrSelectors are the application's pods; without any, the
// selectors of the namespace's Services stand for the pods they will
// pick, so that a policy is judged before the pods start.
func (v *checkView) workloadsOrSelectors() []snapshot.Object {
	pods, _ := v.AppPods()
	if len(pods) > 0 {
		return pods
	}
	var out []snapshot.Object
	for _, svc := range v.s.Services {
		if svc.Namespace == v.s.Namespace && len(svc.Selector) > 0 {
			out = append(out, snapshot.Object{Namespace: svc.Namespace, Name: "pods of Service " + svc.Name, Labels: svc.Selector})
		}
	}
	return out
}

// ---- NetworkPolicies and HBONE

// checkNetworkPolicyHBONE: in ambient mode every connection from the mesh
// (another pod's ztunnel, a waypoint, the ingress gateway) reaches a pod on
// ztunnel's HBONE port 15008, inside the pod's network namespace, where
// the CNI enforces the pod's NetworkPolicies. A policy that isolates the
// pod without admitting TCP 15008 resets all of it (istio/istio#52742).
func checkNetworkPolicyHBONE(v *checkView) Result {
	if len(v.s.NetworkPolicies) == 0 {
		return pass("no NetworkPolicy in namespace %s", v.s.Namespace)
	}
	var blocked, restricted, admitted []snapshot.Object
	blockers := map[string]bool{}
	var from []string
	for _, p := range v.workloadsOrSelectors() {
		h := hboneFor(v.s.NetworkPolicies, p.Labels)
		switch {
		case len(h.isolating) == 0:
		case !h.admitted:
			blocked = append(blocked, p)
			for _, name := range h.isolating {
				blockers[name] = true
			}
		case !slices.Contains(h.from, ""):
			restricted = append(restricted, p)
			from = append(from, h.from...)
		default:
			admitted = append(admitted, p)
		}
	}
	if len(blocked) > 0 {
		names := sortedKeys(blockers)
		return fail(hbonePatch(v, names[0]),
			"NetworkPolicies %s isolate %s and admit no TCP %d: HBONE, the port every mesh connection to the pods arrives on (from the ingress gateway, other pods, waypoints), is refused",
			strings.Join(names, ", "), podNames(blocked), HBONEPort)
	}
	if len(restricted) > 0 {
		sort.Strings(from)
		return pass("TCP %d admitted to %d pods; to %s only from %s: the ingress gateway's and the callers' pods must be among them",
			HBONEPort, len(admitted)+len(restricted), podNames(restricted), strings.Join(slices.Compact(from), "; "))
	}
	if len(admitted) == 0 {
		return pass("no NetworkPolicy of namespace %s isolates the application's pods", v.s.Namespace)
	}
	return pass("TCP %d admitted to the %d pods NetworkPolicies isolate", HBONEPort, len(admitted))
}

// hbonePatch is the command that adds to NetworkPolicy name a rule
// admitting TCP 15008 from anyone: ztunnel authorizes the connection.
func hbonePatch(v *checkView, name string) string {
	op := `{"op":"add","path":"/spec/ingress/-","value":{"ports":[{"protocol":"TCP","port":15008}]}}`
	for _, np := range v.s.NetworkPolicies {
		if np.Name == name && len(np.Spec.Ingress) == 0 {
			op = `{"op":"add","path":"/spec/ingress","value":[{"ports":[{"protocol":"TCP","port":15008}]}]}`
		}
	}
	return fmt.Sprintf("kubectl patch networkpolicy %s -n %s --type json -p '[%s]' (ztunnel still authorizes each connection)", name, v.s.Namespace, op)
}

// ---- Principals naming service accounts

// policiesOnApp are the AuthorizationPolicies that act on the application:
// those of its namespace, and those of the root namespace that apply to one
// of its pods (the mesh-wide ones, and the selector ones that match).
func (v *checkView) policiesOnApp() []istio.AuthorizationPolicy {
	var out []istio.AuthorizationPolicy
	for _, p := range v.s.AuthorizationPolicies {
		switch {
		case p.Namespace == v.s.Namespace:
			out = append(out, p)
		case p.Namespace == v.rootNamespace():
			for _, pod := range v.workloadsOrSelectors() {
				if p.AppliesTo(v.rootNamespace(), v.s.Namespace, pod.Labels) {
					out = append(out, p)
					break
				}
			}
		}
	}
	return out
}

// namedAccounts are the service accounts the sources of p's rules name,
// each as "<field> <value>" with the namespace and account it names:
// principals and notPrincipals, source.principal conditions, and
// serviceAccounts and notServiceAccounts (a bare name is of the policy's
// namespace). Wildcards and values of another form name no one account.
type namedAccount struct {
	field, value, namespace, account string
}

func namedAccounts(p istio.AuthorizationPolicy, trustDomain string) (named []namedAccount, otherDomain int) {
	principal := func(field, value string) {
		td, ns, sa, err := istio.ParsePrincipal(value)
		switch {
		case err != nil:
		case td != trustDomain:
			otherDomain++
		default:
			named = append(named, namedAccount{field, value, ns, sa})
		}
	}
	account := func(field, value string) {
		if strings.Contains(value, "*") {
			return
		}
		ns, sa, ok := strings.Cut(value, "/")
		if !ok {
			ns, sa = p.Namespace, value
		}
		named = append(named, namedAccount{field, value, ns, sa})
	}
	for _, r := range p.Rules {
		for _, f := range r.From {
			for _, v := range f.Source.Principals {
				principal("principals", v)
			}
			for _, v := range f.Source.NotPrincipals {
				principal("notPrincipals", v)
			}
			for _, v := range f.Source.ServiceAccounts {
				account("serviceAccounts", v)
			}
			for _, v := range f.Source.NotServiceAccounts {
				account("notServiceAccounts", v)
			}
		}
		for _, w := range r.When {
			if w.Key != "source.principal" {
				continue
			}
			for _, v := range w.Values {
				principal("when source.principal", v)
			}
			for _, v := range w.NotValues {
				principal("when source.principal notValues", v)
			}
		}
	}
	return named, otherDomain
}

// checkPrincipalsExist: a principal or service account of a policy that
// names an account the namespace does not have matches no one (Kiali's
// KIA0106): an ALLOW admits no caller by it, a DENY refuses none, a fence
// of notPrincipals refuses the caller it meant to let through; and whoever
// later creates an account of that name gains what the policy says. Only
// the application namespace's accounts are read: names in other
// namespaces are counted, not judged.
func checkPrincipalsExist(v *checkView) Result {
	var missing []string
	foreign, otherDomain := 0, 0
	hint := ""
	for _, p := range v.policiesOnApp() {
		named, other := namedAccounts(p, v.trustDomain())
		otherDomain += other
		for _, n := range named {
			switch {
			case n.namespace != v.s.Namespace:
				foreign++
			case !slices.Contains(v.s.ServiceAccounts, n.account):
				missing = append(missing, fmt.Sprintf("%s %s %s (no ServiceAccount %s in namespace %s)", snapshot.Key(p.Namespace, p.Name), n.field, n.value, n.account, n.namespace))
				if hint == "" {
					hint = fmt.Sprintf("correct the name in AuthorizationPolicy %s (kubectl edit authorizationpolicy %s -n %s), or create the account the pods should run as (kubectl create serviceaccount %s -n %s)",
						snapshot.Key(p.Namespace, p.Name), p.Name, p.Namespace, n.account, n.namespace)
				}
			}
		}
	}
	notJudged := ""
	if foreign > 0 {
		notJudged += fmt.Sprintf("; %d naming other namespaces not judged (verify reads the ServiceAccounts of namespace %s only)", foreign, v.s.Namespace)
	}
	if otherDomain > 0 {
		notJudged += fmt.Sprintf("; %d of another trust domain than %s not judged", otherDomain, v.trustDomain())
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return warn(hint, "policies name service accounts that do not exist, and match no caller by them: %s%s", strings.Join(missing, "; "), notJudged)
	}
	accounts := fmt.Sprintf("%d accounts", len(v.s.ServiceAccounts))
	if len(v.s.ServiceAccounts) == 1 {
		accounts = "1 account"
	}
	return pass("every service account the policies name in namespace %s exists (%s there)%s", v.s.Namespace, accounts, notJudged)
}

// ---- Gateway pods on the host network

// checkGatewayHostNetwork: a gateway pod on the host network has its
// node's address. istiod marks such a workload HOST_NETWORK and ztunnel
// cannot tell its connections from the node's own or from other host
// network pods' (istio/ztunnel#1901): what the application's policies
// grant the gateway's identity may not reach it.
func checkGatewayHostNetwork(v *checkView) Result {
	var onHost []snapshot.Object
	seen := map[string]bool{}
	for _, gw := range v.Gateways {
		for _, p := range v.GatewayPods(gw) {
			if p.HostNetwork && !seen[snapshot.Key(p.Namespace, p.Name)] {
				seen[snapshot.Key(p.Namespace, p.Name)] = true
				onHost = append(onHost, p)
			}
		}
	}
	if len(onHost) > 0 {
		ns := onHost[0].Namespace
		return warn(fmt.Sprintf("run the gateway off the host network (remove hostNetwork: true from its Deployment: kubectl edit deployment -n %s) and expose it through its Service", ns),
			"gateway pods run on the host network, with their node's address: ztunnel cannot tell their connections from the node's (istio/ztunnel#1901), so the identity the application's policies admit may not be theirs: %s",
			podKeys(onHost))
	}
	return pass("no gateway pod of the application's Gateways on the host network")
}

func podKeys(pods []snapshot.Object) string {
	var keys []string
	for _, p := range pods {
		keys = append(keys, snapshot.Key(p.Namespace, p.Name))
	}
	sort.Strings(keys)
	return strings.Join(keys, ", ")
}

// ---- HTTP policies on the pods

// selectedPods are the application's pods (or Service selectors standing
// for them) a selector policy of namespace ns picks, as istiod picks for
// an Envoy (WorkloadPolicyMatcher.isSelected): nil selector, or
// matchLabels that are a subset of the pod's.
func (v *checkView) selectedPods(ns string, sel *istio.WorkloadSelector) []snapshot.Object {
	var out []snapshot.Object
	for _, p := range v.workloadsOrSelectors() {
		if sel == nil || labels.SelectorFromSet(sel.MatchLabels).Matches(labels.Set(p.Labels)) {
			out = append(out, p)
		}
	}
	return out
}

// enforcedElsewhere reports whether a policy of namespace ns without
// targetRefs or selector has an Envoy to act on: one of the root namespace
// applies mesh-wide, gateways included; one of the application namespace
// applies to the gateway pods running there.
func (v *checkView) enforcedElsewhere(ns string, sel *istio.WorkloadSelector) bool {
	if sel != nil {
		return false
	}
	if ns == v.rootNamespace() {
		return true
	}
	_, gateways := v.AppPods()
	return gateways > 0
}

// waypointServices are the Services of the namespace that select one of
// pods and send their traffic through a waypoint.
func (v *checkView) waypointServices(pods []snapshot.Object) []string {
	var out []string
	for _, svc := range v.s.Services {
		if svc.Namespace != v.s.Namespace || len(svc.Selector) == 0 {
			continue
		}
		if _, ok := istio.ServiceWaypoint(svc.Namespace, svc.Labels, v.s.NamespaceLabels); !ok {
			continue
		}
		for _, p := range pods {
			if labels.SelectorFromSet(svc.Selector).Matches(labels.Set(p.Labels)) {
				out = append(out, svc.Name)
				break
			}
		}
	}
	sort.Strings(out)
	return out
}

// l7Finding is one policy that only an Envoy at the pods could enforce.
type l7Finding struct {
	text string
	pods []snapshot.Object
}

// checkL7PoliciesEnforced: in ambient mode the application's pods have no
// Envoy. ztunnel reads no HTTP: it never sees a RequestAuthentication,
// drops the HTTP rules of an AuthorizationPolicy and does not call a
// CUSTOM provider; a waypoint takes only policies bound to it by
// targetRefs (ShouldAttachPolicy: "waypoints never use selector"). A
// RequestAuthentication, or an AuthorizationPolicy with HTTP fields or
// CUSTOM, that selects the pods is therefore not enforced as written,
// waypoint or not (Kiali's KIA0109/KIA0110/KIA1110). OPEA's authN-authZ
// add-on, written for sidecars, is this: its token check does nothing and
// its ALLOW on claims, left without rules at ztunnel, refuses every
// connection to the pods.
//
// What ztunnel makes of the namespace's own AuthorizationPolicies is
// authorization.ztunnel-accepted's finding: this check fails for the
// RequestAuthentications, and for the root namespace's policies, that
// select the pods, and names the namespace's HTTP policies beside them.
func checkL7PoliciesEnforced(v *checkView) Result {
	var findings, beside []l7Finding
	var issuer, jwks string
	var deletes []string
	for _, ra := range v.s.RequestAuthentications {
		if ra.Targeted() || (ra.Namespace != v.s.Namespace && ra.Namespace != v.rootNamespace()) || v.enforcedElsewhere(ra.Namespace, ra.Selector) {
			continue
		}
		pods := v.selectedPods(ra.Namespace, ra.Selector)
		if len(pods) == 0 {
			continue
		}
		var issuers []string
		for _, r := range ra.JWTRules {
			issuers = append(issuers, r.Issuer)
			if issuer == "" {
				issuer, jwks = r.Issuer, r.JWKSURI
			}
		}
		findings = append(findings, l7Finding{fmt.Sprintf("RequestAuthentication %s (issuer %s) validates no token: no proxy at the pods reads HTTP", snapshot.Key(ra.Namespace, ra.Name), strings.Join(issuers, ", ")), pods})
		deletes = append(deletes, fmt.Sprintf("requestauthentication %s -n %s", ra.Name, ra.Namespace))
	}
	for _, p := range v.s.AuthorizationPolicies {
		if p.Targeted() || p.DryRun() || (p.Namespace != v.s.Namespace && p.Namespace != v.rootNamespace()) || v.enforcedElsewhere(p.Namespace, p.Selector) {
			continue
		}
		fields := p.HTTPFields()
		if len(fields) == 0 && p.EffectiveAction() != "CUSTOM" {
			continue
		}
		pods := v.selectedPods(p.Namespace, p.Selector)
		if len(pods) == 0 {
			continue
		}
		f := l7Finding{l7PolicyText(p, fields), pods}
		if p.Namespace == v.s.Namespace {
			beside = append(beside, f)
		} else {
			findings = append(findings, f)
		}
		deletes = append(deletes, fmt.Sprintf("authorizationpolicy %s -n %s", p.Name, p.Namespace))
	}
	if len(findings) == 0 {
		if len(beside) > 0 {
			return pass("no RequestAuthentication selects the application's pods; the HTTP rules of the namespace's AuthorizationPolicies are authorization.ztunnel-accepted's finding")
		}
		return pass("no RequestAuthentication, and no AuthorizationPolicy with HTTP fields or CUSTOM, selects the application's pods")
	}
	var parts []string
	var all []snapshot.Object
	for _, f := range append(findings, beside...) {
		parts = append(parts, fmt.Sprintf("%s (selects %s)", f.text, podNames(f.pods)))
		all = append(all, f.pods...)
	}
	sort.Strings(parts)
	return fail(l7Hint(v, issuer, jwks, deletes, v.waypointServices(all)),
		"the application's pods have no Envoy in ambient mode, and a waypoint takes only policies bound to it by targetRefs: %s", strings.Join(parts, "; "))
}

// l7PolicyText says what ztunnel makes of AuthorizationPolicy p, whose
// HTTP fields are fields (convertAuthorizationPolicy, handleRule).
func l7PolicyText(p istio.AuthorizationPolicy, fields []string) string {
	name := "AuthorizationPolicy " + snapshot.Key(p.Namespace, p.Name)
	switch p.EffectiveAction() {
	case "CUSTOM":
		return name + " (CUSTOM) calls no provider: ztunnel does not support the CUSTOM action"
	case "AUDIT":
		return name + " (AUDIT) is not enforced: ztunnel does not support the AUDIT action"
	case "DENY":
		return fmt.Sprintf("%s (DENY on %s) is enforced without its HTTP fields: it denies other callers than written", name, strings.Join(fields, ", "))
	}
	kept := 0
	for _, r := range p.Rules {
		if len(r.HTTPFields()) == 0 {
			kept++
		}
	}
	if kept == 0 {
		return fmt.Sprintf("%s (ALLOW on %s) keeps no rule at ztunnel: an ALLOW of nothing, every connection to the pods is refused", name, strings.Join(fields, ", "))
	}
	return fmt.Sprintf("%s (ALLOW on %s) loses its rules with HTTP fields at ztunnel: what they admit is refused", name, strings.Join(fields, ", "))
}

// l7Hint says where such policies belong: token checks at the ingress
// (kubectl opea secure --auth jwt, with the issuer found), per-path rules
// on a waypoint the Services use, bound by targetRefs.
func l7Hint(v *checkView, issuer, jwks string, deletes, waypointServices []string) string {
	var steps []string
	if issuer != "" {
		flags := []string{"--auth jwt", "--jwt-issuer " + issuer}
		if jwks != "" {
			flags = append(flags, "--jwks-uri "+jwks)
		}
		steps = append(steps, "check tokens at the ingress: "+v.secureCommand(flags...))
	}
	if len(waypointServices) > 0 {
		steps = append(steps, fmt.Sprintf("bind HTTP rules to the waypoint of Service %s with targetRefs: [{kind: Service, group: \"\", name: %s}] instead of a selector", waypointServices[0], waypointServices[0]))
	} else {
		steps = append(steps, fmt.Sprintf("for HTTP rules inside the application, deploy a waypoint (istioctl waypoint apply -n %s --enroll-namespace) and bind them to it with targetRefs", v.s.Namespace))
	}
	steps = append(steps, "then kubectl delete "+strings.Join(deletes, "; kubectl delete "))
	return strings.Join(steps, "; ")
}

// ---- Waypoints named by istio.io/use-waypoint

// waypointForLabel on a waypoint Gateway says which traffic it takes:
// service (the default), workload, all or none.
const waypointForLabel = "istio.io/waypoint-for"

func waypointTakes(gwLabels map[string]string, traffic string) bool {
	takes := gwLabels[waypointForLabel]
	if takes == "" {
		takes = "service"
	}
	return takes == traffic || takes == "all"
}

// checkWaypointsExist: a Service, namespace or pod labelled
// istio.io/use-waypoint names a waypoint Gateway. Where it does not exist,
// istiod binds no waypoint (the Service's istio.io/WaypointBound condition
// says WaypointIsNotReady) and the traffic goes straight to the pods: no
// policy bound to the waypoint applies (Kiali's KIA1313). A waypoint takes
// Service traffic only unless labelled istio.io/waypoint-for workload or
// all: a pod labelled for one that takes only Service traffic is not bound
// (UnsupportedTrafficType), and traffic to the pod's own address bypasses
// it (istio/istio#57764).
func checkWaypointsExist(v *checkView) Result {
	var problems, bound, bypassed []string
	hint, bypassHint := "", ""
	for _, svc := range v.s.Services {
		if svc.Namespace != v.s.Namespace {
			continue
		}
		wp, ok := istio.ServiceWaypoint(svc.Namespace, svc.Labels, v.s.NamespaceLabels)
		if !ok {
			continue
		}
		where := "Service " + svc.Name
		if _, own := svc.Labels[istio.UseWaypointLabel]; !own {
			where = fmt.Sprintf("Service %s (from namespace %s's label)", svc.Name, svc.Namespace)
		}
		switch p, fix := v.waypointProblem(where, wp, "service"); {
		case p != "":
			problems = append(problems, p)
			if hint == "" {
				hint = fix
			}
		default:
			bound = append(bound, fmt.Sprintf("Service %s through %s", svc.Name, snapshot.Key(wp.Namespace, wp.Name)))
			if b := v.waypointBypass(svc, wp); b != "" {
				bypassed = append(bypassed, b)
				if bypassHint == "" {
					bypassHint = fmt.Sprintf(`admit only the waypoint at the pods: an ALLOW policy selecting them with {from: [{source: {principals: ["%s"]}}]}; or label the pods %s=%s and the waypoint %s=all`,
						v.waypointCaller(wp).Principal, istio.UseWaypointLabel, wp.Name, waypointForLabel)
				}
			}
		}
	}
	pods, _ := v.AppPods()
	for _, pod := range pods {
		name, ok := pod.Labels[istio.UseWaypointLabel]
		if !ok || name == "none" || name == "" {
			continue
		}
		wp := istio.Waypoint{Namespace: pod.Namespace, Name: name}
		if ns, ok := pod.Labels[istio.UseWaypointNamespaceLabel]; ok {
			wp.Namespace = ns
		}
		if p, fix := v.waypointProblem("pod "+pod.Name, wp, "workload"); p != "" {
			problems = append(problems, p)
			if hint == "" {
				hint = fix
			}
		} else {
			bound = append(bound, fmt.Sprintf("pod %s through %s", pod.Name, snapshot.Key(wp.Namespace, wp.Name)))
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return fail(hint, "%s", strings.Join(compact(problems), "; "))
	}
	if len(bypassed) > 0 {
		sort.Strings(bypassed)
		return warn(bypassHint, "%s", strings.Join(bypassed, "; "))
	}
	if len(bound) == 0 {
		return pass("no Service or pod of the namespace names a waypoint")
	}
	sort.Strings(bound)
	return pass("the waypoints exist and take the traffic: %s", strings.Join(bound, "; "))
}

// waypointProblem says what is wrong with waypoint wp that `where` names
// for traffic of kind traffic ("service" or "workload"), and the fix; ""
// when it exists and takes that traffic.
func (v *checkView) waypointProblem(where string, wp istio.Waypoint, traffic string) (problem, fix string) {
	key := snapshot.Key(wp.Namespace, wp.Name)
	gw := v.s.GatewayAPIGateway(wp.Namespace, wp.Name)
	if gw == nil {
		return fmt.Sprintf("%s names waypoint %s, which does not exist: istiod binds no waypoint (WaypointIsNotReady) and the traffic goes straight to the pods, past every policy bound to the waypoint", where, key),
			fmt.Sprintf("deploy the waypoint (istioctl waypoint apply -n %s --name %s), or correct the %s label", wp.Namespace, wp.Name, istio.UseWaypointLabel)
	}
	if waypointTakes(gw.Labels, traffic) {
		return "", ""
	}
	takes := gw.Labels[waypointForLabel]
	if takes == "" {
		takes = "service"
	}
	if traffic == "workload" {
		return fmt.Sprintf("%s names waypoint %s, which takes %s traffic only (%s=%s): istiod does not bind it to the pod (UnsupportedTrafficType), and connections to the pod's own address bypass it", where, key, takes, waypointForLabel, takes),
			fmt.Sprintf("kubectl label gateway %s -n %s %s=all --overwrite, or remove %s from the pods and label their Service", wp.Name, wp.Namespace, waypointForLabel, istio.UseWaypointLabel)
	}
	return fmt.Sprintf("%s names waypoint %s, which takes %s traffic only (%s=%s): istiod binds no waypoint to the Service (UnsupportedTrafficType)", where, key, takes, waypointForLabel, takes),
		fmt.Sprintf("kubectl label gateway %s -n %s %s=service --overwrite (or all)", wp.Name, wp.Namespace, waypointForLabel)
}

// ---- Lockdowns of other tools' making

// fencedPods judges a namespace without secure's lockdown for the other
// layout that locks pods down: per-workload DENY policies whose sources
// are notPrincipals (or notNamespaces) alone, which deny every caller but
// those listed (Enterprise-RAG's). It passes either way and says which
// pods are fenced, by which policies, and which are not.
func (v *checkView) fencedPods() Result {
	const none = "not locked down: no AuthorizationPolicy of kubectl opea secure --lockdown"
	pods := v.workloadsOrSelectors()
	var fenced, open []snapshot.Object
	by := map[string]bool{}
	for _, p := range pods {
		fences := istio.Fences(v.s.AuthorizationPolicies, v.rootNamespace(), v.s.Namespace, p.Labels)
		if len(fences) == 0 {
			open = append(open, p)
			continue
		}
		fenced = append(fenced, p)
		for _, f := range fences {
			by[snapshot.Key(f.Namespace, f.Name)] = true
		}
	}
	switch {
	case len(fenced) == 0:
		return pass("%s", none)
	case len(open) == 0:
		return pass("locked down by per-workload DENY fences (notPrincipals: every caller but those listed is denied): %s fence all %d pods", strings.Join(sortedKeys(by), ", "), len(fenced))
	}
	return pass("partly locked down by per-workload DENY fences %s: %s fenced; not fenced: %s",
		strings.Join(sortedKeys(by), ", "), podNames(fenced), podNames(open))
}

// boundToWaypoint names the policies bound by targetRefs to Service svc or
// to its waypoint wp: what the waypoint enforces for the Service.
func (v *checkView) boundToWaypoint(svc snapshot.Service, wp istio.Waypoint) []string {
	binds := func(ns string, refs []istio.PolicyTargetReference) bool {
		for _, r := range refs {
			if (r.Kind == "Service" && ns == svc.Namespace && r.Name == svc.Name) || (r.Kind == "Gateway" && ns == wp.Namespace && r.Name == wp.Name) {
				return true
			}
		}
		return false
	}
	var out []string
	for _, p := range v.s.AuthorizationPolicies {
		refs := p.TargetRefs
		if p.TargetRef != nil {
			refs = append(refs, *p.TargetRef)
		}
		if binds(p.Namespace, refs) {
			out = append(out, "AuthorizationPolicy "+snapshot.Key(p.Namespace, p.Name))
		}
	}
	for _, r := range v.s.RequestAuthentications {
		refs := r.TargetRefs
		if r.TargetRef != nil {
			refs = append(refs, *r.TargetRef)
		}
		if binds(r.Namespace, refs) {
			out = append(out, "RequestAuthentication "+snapshot.Key(r.Namespace, r.Name))
		}
	}
	sort.Strings(out)
	return out
}

// waypointBypass says how the policies a waypoint enforces for Service svc
// are bypassed, "" when they are not: a waypoint of Service traffic sees
// only connections addressed to the Service, and a caller that connects to
// a pod's own address (a pod IP, a headless lookup, a scrape) reaches the
// pod through ztunnel alone (istio/istio#57764). They are bypassed where
// ztunnel at a pod behind the Service, not itself bound to the waypoint,
// admits another caller than the waypoint: one of the application's
// namespace or of another.
func (v *checkView) waypointBypass(svc snapshot.Service, wp istio.Waypoint) string {
	policies := v.boundToWaypoint(svc, wp)
	if len(policies) == 0 || len(svc.Selector) == 0 {
		return ""
	}
	gw := v.s.GatewayAPIGateway(wp.Namespace, wp.Name)
	others := []istio.Caller{
		{Principal: istio.Principal(v.trustDomain(), v.s.Namespace, "default"), Namespace: v.s.Namespace, ServiceAccount: "default"},
		{Principal: istio.Principal(v.trustDomain(), otherNamespace, "default"), Namespace: otherNamespace, ServiceAccount: "default"},
	}
	pods, _ := v.AppPods()
	for _, pod := range pods {
		if !labels.SelectorFromSet(svc.Selector).Matches(labels.Set(pod.Labels)) {
			continue
		}
		if pod.Labels[istio.UseWaypointLabel] == wp.Name && gw != nil && waypointTakes(gw.Labels, "workload") {
			continue // its own address goes through the waypoint too
		}
		for _, port := range svc.Ports {
			for _, c := range others {
				c.Port = entryPort(port, pod)
				d := istio.EvaluateAtZtunnel(v.s.AuthorizationPolicies, v.rootNamespace(), v.s.Namespace, pod.Labels, c)
				if d.Admitted != istio.No {
					return fmt.Sprintf("%s bound to waypoint %s for Service %s see only connections addressed to the Service: ztunnel at pod %s admits %s on %s straight to the pod's address, past the waypoint",
						strings.Join(policies, ", "), snapshot.Key(wp.Namespace, wp.Name), svc.Name, pod.Name, c.Principal, portText(c.Port))
				}
			}
		}
	}
	return ""
}

// otherNamespace stands for a mesh workload of another namespace.
const otherNamespace = "elsewhere"
