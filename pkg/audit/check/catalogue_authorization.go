package check

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/pkg/gatewayapi"
	"github.com/opea-project/kubectl-opea/pkg/istio"
	"github.com/opea-project/kubectl-opea/pkg/ownership"
)

// ---- Authorization

// entryPods are the application's pods svc selects. Without any (not yet
// running), the selector stands for them: every pod it will pick carries
// those labels.
func (v *checkView) entryPods(svc snapshot.Service) []snapshot.Object {
	if len(svc.Selector) == 0 {
		return nil
	}
	pods, _ := v.AppPods()
	var out []snapshot.Object
	for _, p := range pods {
		if labels.SelectorFromSet(svc.Selector).Matches(labels.Set(p.Labels)) {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		out = append(out, snapshot.Object{Namespace: svc.Namespace, Name: "pods of Service " + svc.Name, Labels: svc.Selector})
	}
	return out
}

func (v *checkView) trustDomain() string {
	if v.s.TrustDomain != "" {
		return v.s.TrustDomain
	}
	return istio.DefaultTrustDomain
}

// gatewayCallers are the ingress gateways of the application as ztunnel
// sees them at its pods, once each: for an Istio Gateway the ServiceAccount
// of each gateway pod; for a Gateway API Gateway the ServiceAccount Istio
// deploys it with (gatewayapi.ServiceAccountName). An unmanaged Gateway has
// no gateway of Istio's making: unidentifiedGateways names it.
func (v *checkView) gatewayCallers() []istio.Caller {
	seen := map[string]bool{}
	var out []istio.Caller
	add := func(ns, sa string) {
		c := istio.Caller{Principal: istio.Principal(v.trustDomain(), ns, sa), Namespace: ns, ServiceAccount: sa}
		if !seen[c.Principal] {
			seen[c.Principal] = true
			out = append(out, c)
		}
	}
	for _, gw := range v.Gateways {
		for _, p := range v.GatewayPods(gw) {
			ns, sa, _ := strings.Cut(p.ServiceAccountKey(), "/")
			add(ns, sa)
		}
	}
	for _, gw := range v.APIGateways {
		if gw.Managed() {
			add(gw.Namespace, gatewayapi.ServiceAccountName(gw))
		}
	}
	return out
}

// entryPort is the pod port ztunnel sees for Service port p at pod: a
// named targetPort resolved through the pod's container ports when they
// were read; 0 when unknown.
func entryPort(p snapshot.ServicePort, pod snapshot.Object) int32 {
	if p.TargetName == "" {
		return p.Target
	}
	port, _ := istio.FindTargetPort(p.Core(), pod.ContainerPorts)
	return port
}

// waypointCaller is waypoint wp as ztunnel sees it at the pods behind it:
// the ServiceAccount istiod deploys it with, from its Gateway when read.
func (v *checkView) waypointCaller(wp istio.Waypoint) istio.Caller {
	sa := istio.WaypointServiceAccount(wp.Name, "", nil)
	if gw := v.s.GatewayAPIGateway(wp.Namespace, wp.Name); gw != nil {
		sa = istio.WaypointServiceAccount(gw.Name, gw.ClassName, gw.Annotations)
	}
	return istio.Caller{Principal: istio.Principal(v.trustDomain(), wp.Namespace, sa), Namespace: wp.Namespace, ServiceAccount: sa}
}

// checkWaypointAdmitted evaluates, for each Service of the namespace whose
// traffic goes through a waypoint, whether ztunnel at the pods it selects
// admits the waypoint on the Service's target ports: every call to the
// Service, from the application's own workloads too, arrives from the
// waypoint, and istiod admits it only by a policy (its
// PILOT_AUTO_ALLOW_WAYPOINT_POLICY is off by default).
func checkWaypointAdmitted(v *checkView) Result {
	pods, _ := v.AppPods()
	var using []string
	for _, svc := range v.s.Services {
		if svc.Namespace != v.s.Namespace || len(svc.Selector) == 0 {
			continue
		}
		wp, ok := istio.ServiceWaypoint(svc.Namespace, svc.Labels, v.s.NamespaceLabels)
		if !ok {
			continue
		}
		c := v.waypointCaller(wp)
		using = append(using, fmt.Sprintf("%s through %s", svc.Name, snapshot.Key(wp.Namespace, wp.Name)))
		for _, pod := range pods {
			if !labels.SelectorFromSet(svc.Selector).Matches(labels.Set(pod.Labels)) {
				continue
			}
			for _, port := range svc.Ports {
				c.Port = entryPort(port, pod)
				d := istio.EvaluateAtZtunnel(v.s.AuthorizationPolicies, v.rootNamespace(), v.s.Namespace, pod.Labels, c)
				if d.Admitted != istio.No {
					continue
				}
				if d.Deny != nil {
					return fail(fmt.Sprintf("narrow DENY policy %s so that it does not match the waypoint", snapshot.Key(d.Deny.Namespace, d.Deny.Name)),
						"DENY policy %s refuses waypoint %s (%s) at %s %s: every call to Service %s is reset", snapshot.Key(d.Deny.Namespace, d.Deny.Name), snapshot.Key(wp.Namespace, wp.Name), c.Principal, pod.Name, portText(c.Port), svc.Name)
				}
				return fail(fmt.Sprintf(`admit the waypoint in an ALLOW policy of namespace %s: {from: [{source: {principals: ["%s"]}}]} (kubectl opea secure --lockdown does, for the waypoints its namespace's Services use)`, v.s.Namespace, c.Principal),
					"ALLOW policies %s apply to %s and none admits waypoint %s (%s) on %s: every call to Service %s, the application's own too, is reset", policyNames(d.Allows), pod.Name, snapshot.Key(wp.Namespace, wp.Name), c.Principal, portText(c.Port), svc.Name)
			}
		}
	}
	if len(using) == 0 {
		return pass("no Service of the namespace uses a waypoint")
	}
	sort.Strings(using)
	return pass("the pods admit their waypoints: %s", strings.Join(using, "; "))
}

// policyNames lists policies as namespace/name.
func policyNames(ps []istio.AuthorizationPolicy) string {
	names := make([]string, 0, len(ps))
	for _, p := range ps {
		names = append(names, snapshot.Key(p.Namespace, p.Name))
	}
	return strings.Join(names, ", ")
}

func portText(p int32) string {
	if p == 0 {
		return "its named target port"
	}
	return fmt.Sprintf("port %d", p)
}

// checkIngressAdmitted evaluates, for each entry pod and gateway, the
// policies ztunnel applies to the pod, in ztunnel's order (istio.EvaluateAtZtunnel).
// The port is the Service port's target port: ztunnel authorizes the
// connection to the pod.
func checkIngressAdmitted(v *checkView) Result {
	var admitted, undecided []string
	applied := false
	for _, t := range v.EntryTargets() {
		callers := v.gatewayCallers()
		// Ingress through the Service's waypoint reaches the pods from the
		// waypoint: ztunnel there sees its identity, not the gateway's.
		if wp, ok := istio.ServiceWaypoint(t.Service.Namespace, t.Service.Labels, v.s.NamespaceLabels); ok && istio.IngressUsesWaypoint(t.Service.Labels, v.s.NamespaceLabels) {
			callers = []istio.Caller{v.waypointCaller(wp)}
		}
		for _, pod := range v.entryPods(t.Service) {
			for _, c := range callers {
				c.Port = entryPort(t.Port, pod)
				d := istio.EvaluateAtZtunnel(v.s.AuthorizationPolicies, v.rootNamespace(), v.s.Namespace, pod.Labels, c)
				applied = applied || len(d.Applied) > 0
				switch d.Admitted {
				case istio.No:
					return ingressRefused(v, d, pod, c)
				case istio.Undecided:
					undecided = append(undecided, fmt.Sprintf("%s at %s %s (%s)", c.Principal, pod.Name, portText(c.Port), policyNames(d.Applied)))
				case istio.Yes:
					if d.Allow != nil {
						admitted = append(admitted, snapshot.Key(d.Allow.Namespace, d.Allow.Name))
					}
				}
			}
		}
	}
	switch {
	case len(v.UnidentifiedGateways()) > 0:
		return warn("check the AuthorizationPolicies of the entry pods against the service account of the proxies behind the Gateway's address",
			"%s: verify cannot tell who calls the entry pods", strings.Join(v.UnidentifiedGateways(), "; "))
	case len(undecided) > 0:
		sort.Strings(undecided)
		return warn("admit the gateway by its principal, not by IP block; a named target port is resolved through the entry pods, which verify must be able to get",
			"whether ztunnel admits the ingress gateway depends on its IP address, or on a named target port verify could not resolve: %s", strings.Join(undecided, "; "))
	case !applied:
		return pass("no AuthorizationPolicy applies to the entry pods: every caller admitted")
	case len(admitted) == 0:
		return pass("no ALLOW policy applies to the entry pods and no DENY matches the ingress gateway")
	}
	sort.Strings(admitted)
	return pass("the ingress gateway is admitted by %s", strings.Join(compact(admitted), ", "))
}

// ingressRefused says which policy shuts gateway c out of pod.
func ingressRefused(v *checkView, d istio.Decision, pod snapshot.Object, c istio.Caller) Result {
	where := fmt.Sprintf("%s %s", pod.Name, portText(c.Port))
	if d.Deny != nil {
		return fail(fmt.Sprintf("narrow DENY policy %s so that it does not match the gateway (kubectl get authorizationpolicy %s -n %s -o yaml)", snapshot.Key(d.Deny.Namespace, d.Deny.Name), d.Deny.Name, d.Deny.Namespace),
			"DENY policy %s refuses the ingress gateway (%s) at %s: every request through the gateway is reset", snapshot.Key(d.Deny.Namespace, d.Deny.Name), c.Principal, where)
	}
	var dropped []string
	for _, p := range d.Allows {
		if f := p.HTTPFields(); len(f) > 0 {
			dropped = append(dropped, fmt.Sprintf("%s (%s)", snapshot.Key(p.Namespace, p.Name), strings.Join(f, ", ")))
		}
	}
	note := ""
	if len(dropped) > 0 {
		note = "; ztunnel drops their rules with HTTP fields: " + strings.Join(dropped, "; ")
	}
	port := ""
	if c.Port != 0 {
		port = fmt.Sprintf(`, to: [{operation: {ports: ["%d"]}}]`, c.Port)
	}
	return fail(fmt.Sprintf(`add a rule admitting the gateway to an ALLOW policy of namespace %s: {from: [{source: {principals: ["%s"]}}]%s}`, v.s.Namespace, c.Principal, port),
		"ALLOW policies %s apply to %s and none admits the ingress gateway's principal %s on %s%s", policyNames(d.Allows), pod.Name, c.Principal, portText(c.Port), note)
}

// compact drops adjacent duplicates of a sorted list.
func compact(sorted []string) []string {
	var out []string
	for _, s := range sorted {
		if len(out) == 0 || out[len(out)-1] != s {
			out = append(out, s)
		}
	}
	return out
}

// appPolicies are the AuthorizationPolicies of the application namespace.
func (v *checkView) appPolicies() []istio.AuthorizationPolicy {
	var out []istio.AuthorizationPolicy
	for _, p := range v.s.AuthorizationPolicies {
		if p.Namespace == v.s.Namespace {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// istiodWritesPolicyStatus reports whether a running istiod writes
// ZtunnelAccepted: only in ambient mode, with AMBIENT_ENABLE_STATUS on (its
// default there; pilot/pkg/features/ambient.go).
func (v *checkView) istiodWritesPolicyStatus() bool {
	ready := false
	for _, w := range v.s.Istiod {
		ready = ready || w.Ready > 0
	}
	return ready && v.IstiodSetting("PILOT_ENABLE_AMBIENT") == "true" && v.IstiodSetting("AMBIENT_ENABLE_STATUS") != "false"
}

// checkZtunnelAccepted judges each policy of the namespace as istiod
// converts it for ztunnel (convertAuthorizationPolicy in
// pilot/pkg/serviceregistry/ambient/authorization.go), then by the
// ZtunnelAccepted condition istiod writes. A CUSTOM or AUDIT action is not
// converted (False, UnsupportedValue); HTTP fields are left out, the
// policy accepted with a warning (True, UnsupportedValue): an ALLOW rule
// with them never matches; in a DENY rule, an operation or source (or a
// when condition) of HTTP fields alone becomes an empty match, which
// ztunnel skips, so it denies nobody, while HTTP fields beside ports or
// sources are dropped, so the rest denies more than written
// (istio.AuthorizationPolicy.DenyHTTPAtZtunnel).
func checkZtunnelAccepted(v *checkView) Result {
	var fails, warns []string
	judged, aside := 0, 0
	for _, p := range v.appPolicies() {
		name := snapshot.Key(p.Namespace, p.Name)
		if p.Targeted() || p.DryRun() {
			aside++ // a waypoint's (WaypointAccepted), or never enforced
			continue
		}
		judged++
		fields := strings.Join(p.HTTPFields(), ", ")
		switch action := p.EffectiveAction(); {
		case action == "CUSTOM":
			fails = append(fails, name+": ztunnel does not enforce action CUSTOM: nothing is checked")
			continue
		case action == "AUDIT":
			warns = append(warns, name+": ztunnel does not enforce action AUDIT")
			continue
		case action == "ALLOW" && fields != "":
			fails = append(fails, fmt.Sprintf("%s: ztunnel drops its ALLOW rules with HTTP fields (%s): what they admit is refused", name, fields))
			continue
		case action == "DENY" && fields != "":
			// istiod's status says "more restrictive than requested"; that
			// holds only where HTTP fields sit beside ports or sources.
			skipped, widened := p.DenyHTTPAtZtunnel()
			if skipped {
				fails = append(fails, fmt.Sprintf("%s: ztunnel does not enforce what this DENY matches by HTTP fields alone (%s): istiod sends it as a match with no field, which ztunnel skips (istiod's ZtunnelAccepted says \"more restrictive than requested\": true only of HTTP fields beside ports or sources)", name, fields))
			}
			if widened {
				warns = append(warns, fmt.Sprintf("%s: ztunnel enforces this DENY without its HTTP fields (%s) where they sit beside ports or sources: it denies more than written", name, fields))
			}
			continue
		}
		if !v.istiodWritesPolicyStatus() {
			continue
		}
		c := p.Condition(istio.ZtunnelAccepted)
		switch {
		case c == nil:
			warns = append(warns, name+": istiod has not written ZtunnelAccepted yet")
		case c.ObservedGeneration < p.Generation:
			warns = append(warns, fmt.Sprintf("%s: ZtunnelAccepted is for generation %d, the policy is at %d: istiod has not caught up", name, c.ObservedGeneration, p.Generation))
		case c.Status != "True":
			fails = append(fails, fmt.Sprintf("%s: ZtunnelAccepted is False (%s: %s)", name, c.Reason, c.Message))
		case c.Reason != "Accepted":
			warns = append(warns, fmt.Sprintf("%s: ZtunnelAccepted %s: %s", name, c.Reason, c.Message))
		}
	}
	const hint = "bind policies with HTTP fields or CUSTOM to a waypoint (targetRefs) and keep ztunnel's to principals, namespaces and ports; kubectl describe authorizationpolicy <name> -n "
	switch {
	case len(fails) > 0:
		return fail(hint+v.s.Namespace, "%s", strings.Join(append(fails, warns...), "; "))
	case len(warns) > 0:
		return warn(hint+v.s.Namespace, "%s", strings.Join(warns, "; "))
	case judged == 0 && aside == 0:
		return pass("no AuthorizationPolicy in namespace %s", v.s.Namespace)
	}
	msg := fmt.Sprintf("%d policies accepted by ztunnel as written", judged)
	if aside > 0 {
		msg += fmt.Sprintf("; %d bound to waypoints or dry run left out", aside)
	}
	return pass("%s", msg)
}

// serviceWaypoint is the waypoint svc's traffic goes through, as
// namespace/name, "" for none.
func serviceWaypoint(svc snapshot.Service, nsLabels map[string]string) string {
	if wp, ok := istio.ServiceWaypoint(svc.Namespace, svc.Labels, nsLabels); ok {
		return snapshot.Key(wp.Namespace, wp.Name)
	}
	return ""
}

func ingressUsesWaypoint(svc snapshot.Service, nsLabels map[string]string) bool {
	return istio.IngressUsesWaypoint(svc.Labels, nsLabels)
}

func checkWaypointIngress(v *checkView) Result {
	seen := map[string]bool{}
	var skipping, using []string
	fix := ""
	for _, t := range v.EntryTargets() {
		if seen[t.Service.Name] {
			continue
		}
		seen[t.Service.Name] = true
		wp := serviceWaypoint(t.Service, v.s.NamespaceLabels)
		switch {
		case wp == "":
		case ingressUsesWaypoint(t.Service, v.s.NamespaceLabels):
			using = append(using, fmt.Sprintf("%s through %s", t.Service.Name, wp))
		default:
			skipping = append(skipping, fmt.Sprintf("Service %s uses waypoint %s", snapshot.Key(t.Service.Namespace, t.Service.Name), wp))
			if fix == "" {
				fix = fmt.Sprintf("kubectl label service %s -n %s %s=true (or label the namespace)", t.Service.Name, t.Service.Namespace, istio.IngressUseWaypointLabel)
			}
		}
	}
	if len(skipping) > 0 {
		return warn(fix, "%s, but without %s=true the ingress gateway sends to the pods directly: the waypoint's L7 policies do not apply to ingress traffic", strings.Join(skipping, "; "), istio.IngressUseWaypointLabel)
	}
	if len(using) > 0 {
		return pass("ingress traffic goes through the waypoint: %s", strings.Join(using, "; "))
	}
	return pass("no waypoint")
}

// portForwardVerbs are the verbs on pods/portforward that open a
// port-forward: create; before Kubernetes 1.35 get too, which a websocket
// port-forward needed (AuthorizePodWebsocketUpgradeCreatePermission, beta
// and on from 1.35, checks create).
func portForwardVerbs(serverVersion string) []string {
	var major, minor int
	if _, err := fmt.Sscanf(strings.TrimPrefix(serverVersion, "v"), "%d.%d", &major, &minor); err == nil && major == 1 && minor < 35 {
		return []string{"create", "get"}
	}
	return []string{"create"}
}

func contains(values []string, wanted ...string) bool {
	for _, v := range values {
		for _, a := range wanted {
			if v == a {
				return true
			}
		}
	}
	return false
}

// grantsPortForward reports whether a rule lets its subjects port-forward
// to pods, as RBAC matches it (pkg/apis/rbac/v1/evaluation_helpers.go):
// resource "*", "pods/portforward" or "*/portforward". A rule limited by
// resourceNames still grants it for those pods.
func grantsPortForward(rules []rbacv1.PolicyRule, verbs []string) bool {
	for _, r := range rules {
		if contains(r.APIGroups, "", "*") && contains(r.Resources, "*", "pods/portforward", "*/portforward") && contains(r.Verbs, append(verbs, "*")...) {
			return true
		}
	}
	return false
}

func subjectName(s rbacv1.Subject) string {
	if s.Kind == rbacv1.ServiceAccountKind {
		return "ServiceAccount " + snapshot.Key(s.Namespace, s.Name)
	}
	return s.Kind + " " + s.Name
}

// clusterAdmin is the ClusterRole whose subjects administer the cluster:
// they may do anything anyway, and are not listed.
const clusterAdmin = "cluster-admin"

func checkPortForward(v *checkView) Result {
	verbs := portForwardVerbs(v.s.ServerVersion)
	clusterRoles := map[string][]rbacv1.PolicyRule{}
	for _, r := range v.s.ClusterRoles {
		clusterRoles[r.Name] = r.Rules
	}
	roles := map[string][]rbacv1.PolicyRule{}
	for _, r := range v.s.Roles {
		roles[r.Name] = r.Rules
	}
	admins := map[string]bool{}
	may := map[string][]string{}
	bound := func(subjects []rbacv1.Subject, via string, rules []rbacv1.PolicyRule) {
		if !grantsPortForward(rules, verbs) {
			return
		}
		for _, s := range subjects {
			may[subjectName(s)] = append(may[subjectName(s)], via)
		}
	}
	for _, b := range v.s.ClusterRoleBindings {
		if b.RoleRef.Kind != "ClusterRole" {
			continue
		}
		if b.RoleRef.Name == clusterAdmin {
			for _, s := range b.Subjects {
				admins[subjectName(s)] = true
			}
			continue
		}
		bound(b.Subjects, fmt.Sprintf("ClusterRoleBinding %s, ClusterRole %s", b.Name, b.RoleRef.Name), clusterRoles[b.RoleRef.Name])
	}
	for _, b := range v.s.RoleBindings {
		rules := roles[b.RoleRef.Name]
		if b.RoleRef.Kind == "ClusterRole" {
			rules = clusterRoles[b.RoleRef.Name]
		}
		bound(b.Subjects, fmt.Sprintf("RoleBinding %s, %s %s", b.Name, b.RoleRef.Kind, b.RoleRef.Name), rules)
	}
	var who []string
	for s, via := range may {
		if !admins[s] {
			who = append(who, fmt.Sprintf("%s (%s)", s, strings.Join(via, "; ")))
		}
	}
	if len(who) == 0 {
		return pass("no one but the cluster's admins (subjects bound to ClusterRole %s, left out) may port-forward to the pods of %s", clusterAdmin, v.s.Namespace)
	}
	sort.Strings(who)
	if len(who) > 10 {
		who = append(who[:10], fmt.Sprintf("and %d more", len(who)-10))
	}
	return warn(fmt.Sprintf("grant %s on pods/portforward only to those who must reach the pods directly (kubectl auth can-i create pods/portforward -n %s --as <user>)", strings.Join(verbs, " or "), v.s.Namespace),
		"may port-forward to the pods of %s, reaching them without ztunnel's authorization: %s", v.s.Namespace, strings.Join(who, "; "))
}

func checkNoBypassService(v *checkView) Result {
	pods, _ := v.AppPods()
	var bypass []string
	hint := ""
	for _, svc := range v.s.Services {
		if svc.Namespace != v.s.Namespace || (svc.Type != "NodePort" && svc.Type != "LoadBalancer") || len(svc.Selector) == 0 {
			continue
		}
		// The Service Istio deploys for a Gateway API Gateway is the ingress.
		if svc.Labels[gatewayapi.GatewayNameLabel] != "" || svc.Labels[gatewayapi.ManagedLabel] != "" {
			continue
		}
		for _, p := range pods {
			if labels.SelectorFromSet(svc.Selector).Matches(labels.Set(p.Labels)) {
				bypass = append(bypass, fmt.Sprintf("%s (%s)", snapshot.Key(svc.Namespace, svc.Name), svc.Type))
				if hint == "" {
					hint = fmt.Sprintf(`kubectl patch service %s -n %s -p '{"spec":{"type":"ClusterIP"}}'`, svc.Name, svc.Namespace)
				}
				break
			}
		}
	}
	if len(bypass) > 0 {
		return warn(hint, "Services expose the application's pods on every node, around the ingress gateway and its TLS (only STRICT mTLS refuses their plaintext): %s", strings.Join(bypass, ", "))
	}
	return pass("no NodePort or LoadBalancer Service selects the application's pods")
}

// checkLockdownIntact judges the policies kubectl opea secure --lockdown
// writes, when it wrote any: all three in place and as written, and the
// application's policy admitting exactly whom secure would admit: the
// service accounts the application's pods run as and the extra callers it
// recorded, each valid as --allow-principal requires. Whether the gateway
// is still admitted is authorization.ingress-admitted's.
func checkLockdownIntact(v *checkView) Result {
	found := map[string]istio.AuthorizationPolicy{}
	for _, p := range v.appPolicies() {
		if v.madeBySecure(p.Labels) {
			found[p.Name] = p
		}
	}
	lockdown := []string{ownership.DenyByDefaultPolicy, ownership.AllowAppPolicy, ownership.AllowIngressPolicy}
	some := false
	for _, name := range lockdown {
		_, ok := found[name]
		some = some || ok
	}
	if !some {
		return v.fencedPods()
	}
	var problems []string
	for _, name := range lockdown {
		p, ok := found[name]
		if !ok {
			problems = append(problems, name+" is missing")
			continue
		}
		allow := p.EffectiveAction() == "ALLOW" && !p.Targeted() && !p.DryRun()
		switch {
		case name == ownership.DenyByDefaultPolicy && (!allow || p.Selector != nil || len(p.Rules) > 0):
			problems = append(problems, name+" is no longer a namespace-wide ALLOW of nothing: the namespace is not denied by default")
		case name == ownership.AllowAppPolicy && (!allow || p.Selector != nil || len(p.Rules) == 0):
			problems = append(problems, name+" is no longer a namespace-wide ALLOW of the application's own callers")
		case name == ownership.AllowIngressPolicy && (!allow || p.Selector == nil || len(p.Rules) == 0):
			problems = append(problems, name+" is no longer an ALLOW for the entry pods")
		}
	}
	for _, name := range []string{ownership.AllowAppPolicy, ownership.AllowIngressPolicy} {
		if p, ok := found[name]; ok {
			if wild := wildcardPrincipals(p); len(wild) > 0 {
				problems = append(problems, fmt.Sprintf("%s admits principals with a wildcard (%s): every identity they match may call the pods", name, strings.Join(wild, ", ")))
			}
		}
	}
	var recorded []string
	if p, ok := found[ownership.AllowAppPolicy]; ok {
		value := p.Annotations[ownership.AllowPrincipalsAnnotation]
		var err error
		if recorded, err = istio.ParsePrincipalList(value); err != nil {
			problems = append(problems, fmt.Sprintf("%s records callers --allow-principal would refuse (annotation %s=%q: %v): a plain kubectl opea secure refuses to render them", ownership.AllowAppPolicy, ownership.AllowPrincipalsAnnotation, value, err))
		}
		if r, ok := v.missing(snapshot.InputPods); !ok {
			if len(problems) == 0 {
				return r
			}
		} else {
			problems = append(problems, v.unrenderedPrincipals(p, recorded)...)
		}
	}
	if len(problems) > 0 {
		extra := []string{"--lockdown", "--force-conflicts"}
		for _, caller := range recorded {
			extra = append(extra, "--allow-principal "+caller)
		}
		return fail(fmt.Sprintf("%s (the valid callers recorded on %s given again; --force-conflicts takes back what another tool edited; a plain rerun keeps what is left, it does not restore it)", v.secureCommand(extra...), ownership.AllowAppPolicy),
			"the lockdown of namespace %s is not intact: %s", v.s.Namespace, strings.Join(problems, "; "))
	}
	return pass("%s, %s and %s in place; %s admits the service accounts of the application's pods (%d) and the callers secure recorded (%d)", ownership.DenyByDefaultPolicy, ownership.AllowAppPolicy, ownership.AllowIngressPolicy,
		ownership.AllowAppPolicy, len(v.s.AppServiceAccounts), len(recorded))
}

// wildcardPrincipals are the principals of p's rules that hold a wildcard,
// which secure never writes: ztunnel matches them as prefixes or suffixes.
func wildcardPrincipals(p istio.AuthorizationPolicy) []string {
	var out []string
	for _, r := range p.Rules {
		for _, f := range r.From {
			for _, principal := range f.Source.Principals {
				if strings.Contains(principal, "*") {
					out = append(out, principal)
				}
			}
		}
	}
	return out
}

// unrenderedPrincipals compares the rules of secure's opea-allow-app policy
// p with what secure renders: one rule, one source, of principals only,
// the application's service accounts' and the recorded callers', sorted.
func (v *checkView) unrenderedPrincipals(p istio.AuthorizationPolicy, recorded []string) []string {
	var want []string
	for _, sa := range v.s.AppServiceAccounts {
		want = append(want, istio.Principal(v.trustDomain(), v.s.Namespace, sa))
	}
	want = append(want, recorded...)
	waypoints := v.waypointPrincipals()
	want = append(want, waypoints...)
	sort.Strings(want)
	want = slices.Compact(want)
	rendered := []istio.AuthorizationRule{{From: []istio.RuleFrom{{Source: istio.Source{Principals: want}}}}}
	if reflect.DeepEqual(p.Rules, rendered) {
		return nil
	}
	var got []string
	principalsOnly := len(p.Rules) == 1 && len(p.Rules[0].From) == 1 && len(p.Rules[0].To) == 0 && len(p.Rules[0].When) == 0 &&
		reflect.DeepEqual(p.Rules[0].From[0].Source, istio.Source{Principals: p.Rules[0].From[0].Source.Principals})
	for _, r := range p.Rules {
		for _, f := range r.From {
			got = append(got, f.Source.Principals...)
		}
	}
	var out []string
	if extra := subtract(got, want); len(extra) > 0 {
		why := "neither the application's pods run as nor secure --lockdown recorded"
		if len(waypoints) > 0 {
			why = "neither the application's pods run as, nor secure --lockdown recorded, nor is a waypoint the namespace's Services use"
		}
		out = append(out, fmt.Sprintf("%s admits %s, which %s", ownership.AllowAppPolicy, strings.Join(extra, ", "), why))
	}
	if lacking := subtract(want, got); len(lacking) > 0 {
		why := "the application's pods run as or secure --lockdown recorded"
		if len(waypoints) > 0 {
			why = "the application's pods run as, secure --lockdown recorded, or is a waypoint the namespace's Services use"
		}
		out = append(out, fmt.Sprintf("%s does not admit %s, which %s: their calls are refused", ownership.AllowAppPolicy, strings.Join(lacking, ", "), why))
	}
	if !principalsOnly {
		out = append(out, ownership.AllowAppPolicy+" has other rules, sources or conditions than the one list of principals secure writes")
	}
	return out
}

// waypointPrincipals are the principals of the waypoints the namespace's
// Services use, as secure --lockdown admits them.
func (v *checkView) waypointPrincipals() []string {
	var out []string
	for _, svc := range v.s.Services {
		if svc.Namespace != v.s.Namespace {
			continue
		}
		if wp, ok := istio.ServiceWaypoint(svc.Namespace, svc.Labels, v.s.NamespaceLabels); ok {
			out = append(out, v.waypointCaller(wp).Principal)
		}
	}
	return out
}

// subtract lists the strings of a not in b, sorted, each once.
func subtract(a, b []string) []string {
	var out []string
	for _, s := range a {
		if !slices.Contains(b, s) && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}
