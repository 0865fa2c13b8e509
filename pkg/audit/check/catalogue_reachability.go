package check

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/pkg/gatewayapi"
	"github.com/opea-project/kubectl-opea/pkg/istio"
	"github.com/opea-project/kubectl-opea/pkg/reachability"
)

// ---- Reachability

// ReachabilityInput is what pkg/reachability computes the application's
// matrix from, built from the snapshot alone: the namespace's Services
// and running pods (the named ports their EndpointSlices resolve), every
// PeerAuthentication and AuthorizationPolicy, the gateway's identities and
// the application's service accounts where known. extra are the
// principals that get a column of their own.
func ReachabilityInput(s *snapshot.Snapshot, extra []string) reachability.Input {
	v := &checkView{Scope: s.Scope(), s: s}
	return v.reachabilityInput(extra)
}

// ReachabilityMatrix is the matrix of s's application, with a column for
// each of extra's principals: what verify --reachability prints.
func ReachabilityMatrix(s *snapshot.Snapshot, extra []string) (reachability.Matrix, error) {
	return reachability.Compute(ReachabilityInput(s, extra))
}

func (v *checkView) reachabilityInput(extra []string) reachability.Input {
	s := v.s
	in := reachability.Input{
		Namespace:             s.Namespace,
		RootNamespace:         s.RootNamespace,
		TrustDomain:           s.TrustDomain,
		NamespaceLabels:       s.NamespaceLabels,
		PeerAuthentications:   v.podPeerAuthentications(),
		AuthorizationPolicies: s.AuthorizationPolicies,
		AppServiceAccounts:    s.AppServiceAccounts,
		ExtraPrincipals:       extra,
	}
	for _, svc := range s.Services {
		if svc.Namespace == s.Namespace && !v.gatewayService(svc) {
			in.Services = append(in.Services, reachabilityService(svc))
		}
	}
	pods, _ := v.AppPods()
	for _, p := range pods {
		sa := p.ServiceAccount
		if sa == "" {
			sa = "default"
		}
		in.Pods = append(in.Pods, reachability.Pod{Name: p.Name, Labels: p.Labels, ServiceAccount: sa, ContainerPorts: p.ContainerPorts})
	}
	for _, c := range v.gatewayCallers() {
		in.GatewayPrincipals = append(in.GatewayPrincipals, c.Principal)
	}
	for _, gw := range s.GatewayAPIGateways {
		in.Waypoints = append(in.Waypoints, reachability.WaypointGateway{Namespace: gw.Namespace, Name: gw.Name, Class: gw.ClassName, Annotations: gw.Annotations})
	}
	return in
}

// gatewayService reports whether svc is the Service of a Gateway API
// Gateway's deployment (it selects by the Gateway's name, or the pods
// Istio deployed for a Gateway of the namespace): the gateway's, not the
// application's.
func (v *checkView) gatewayService(svc snapshot.Service) bool {
	if len(svc.Selector) == 0 {
		return false
	}
	if _, ok := svc.Selector[gatewayapi.GatewayNameLabel]; ok {
		return true
	}
	sel := labels.SelectorFromSet(svc.Selector)
	for _, p := range v.s.Pods {
		if p.Namespace == svc.Namespace && v.DeployedGatewayPod(p) && sel.Matches(labels.Set(p.Labels)) {
			return true
		}
	}
	return false
}

func reachabilityService(svc snapshot.Service) reachability.Service {
	out := reachability.Service{Name: svc.Name, Labels: svc.Labels, Selector: svc.Selector}
	for _, p := range svc.Ports {
		target := intstr.FromInt32(p.Target)
		if p.TargetName != "" {
			target = intstr.FromString(p.TargetName)
		}
		out.Ports = append(out.Ports, corev1.ServicePort{Name: p.Name, Port: p.Port, TargetPort: target, Protocol: corev1.Protocol(p.Protocol)})
	}
	return out
}

// matrix is the application's reachability matrix. The input is the
// snapshot's, so an error is a principal the snapshot holds that is no
// principal: the checks say so rather than pass.
func (v *checkView) matrix() (reachability.Matrix, error) {
	return reachability.Compute(v.reachabilityInput(nil))
}

// cellOf is the cell of column key in row r.
func cellOf(m reachability.Matrix, r reachability.Row, key string) reachability.Cell {
	for i, c := range m.Columns {
		if c.Key == key && i < len(r.Cells) {
			return r.Cells[i]
		}
	}
	return reachability.Cell{Verdict: reachability.Unknown}
}

// rowName is "service:port (pod port)" as the matrix's table shows it.
func rowName(r reachability.Row) string {
	name := fmt.Sprintf("%s:%d", r.Service, r.Port)
	if len(r.PodPorts) == 1 && r.PodPorts[0] == r.Port {
		return name
	}
	var ports []string
	for _, p := range r.PodPorts {
		ports = append(ports, fmt.Sprint(p))
	}
	if len(ports) == 0 {
		return name
	}
	return name + " (" + strings.Join(ports, ", ") + ")"
}

// judged counts the rows some running pod was found to serve; unjudged
// names the others: their cells say nothing, and the checks do not count
// them as refusing. A named target port resolves through the namespace's
// EndpointSlices, so a pod they do not list yet is among them.
func judged(rows []reachability.Row) int {
	n := 0
	for _, r := range rows {
		if len(r.PodPorts) > 0 {
			n++
		}
	}
	return n
}

func unjudged(rows []reachability.Row) string {
	var out []string
	for _, r := range rows {
		if len(r.PodPorts) == 0 {
			out = append(out, rowName(r))
		}
	}
	if len(out) == 0 {
		return ""
	}
	return "; not judged, no running pod found to serve them: " + strings.Join(out, ", ")
}

// checkPlaintextRefused fails when some Service port of the application
// accepts plaintext, that is a caller outside the mesh, at a pod whose
// workload is STRICT: a port-level exception (portLevelMtls, as istiod
// converts it) opens it, and the policy that decides is named. A port open
// because its pods' workload is not STRICT at all is
// mtls.namespace-strict's finding, named once, there: such ports are
// listed but not failed again.
func checkPlaintextRefused(v *checkView) Result {
	m, err := v.matrix()
	if err != nil {
		return fail(v.hintPlaintext(), "could not compute who reaches the application: %v", err)
	}
	var open, notStrict []string
	for _, r := range m.Rows {
		cell := cellOf(m, r, reachability.ColumnPlaintext)
		switch cell.Verdict {
		case reachability.Allowed, reachability.Partly, reachability.Depends:
			if v.openByWorkloadMode(cell) {
				notStrict = append(notStrict, rowName(r))
				continue
			}
			open = append(open, fmt.Sprintf("%s (decided by %s%s)", rowName(r), r.PlaintextDecider, v.modeSources(cell)))
		}
	}
	switch {
	case len(open) > 0:
		return fail(v.hintPlaintext(), "plaintext from outside the mesh is accepted at %s%s", strings.Join(open, ", "), notStrictNote(notStrict))
	case len(notStrict) > 0:
		return skip("plaintext reaches %s, served by workloads that are not STRICT: mtls.namespace-strict names them and their policies", strings.Join(notStrict, ", "))
	case judged(m.Rows) == 0:
		return skip("no running pod found to serve any port of the application's Services")
	}
	return pass("every port of the application refuses plaintext (%s)%s", portCount(judged(m.Rows)), unjudged(m.Rows))
}

// openByWorkloadMode reports whether every pod at which plaintext is not
// refused in cell runs a workload whose effective mode is not STRICT:
// mtls.namespace-strict reports those pods.
func (v *checkView) openByWorkloadMode(cell reachability.Cell) bool {
	pods, _ := v.AppPods()
	labelsOf := map[string]map[string]string{}
	for _, p := range pods {
		labelsOf[p.Name] = p.Labels
	}
	for _, o := range cell.Outcomes {
		if o.Verdict == reachability.Refused {
			continue
		}
		podLabels, ok := labelsOf[o.Pod]
		if !ok || istio.EffectiveMode(v.podPeerAuthentications(), v.rootNamespace(), v.s.Namespace, podLabels).Mode == "STRICT" {
			return false
		}
	}
	return true
}

func notStrictNote(rows []string) string {
	if len(rows) == 0 {
		return ""
	}
	return "; and at " + strings.Join(rows, ", ") + ", whose workloads are not STRICT (mtls.namespace-strict)"
}

// checkBackendsInternal warns when a backend, any Service port of the
// application but the entry ports, admits a mesh workload of another
// namespace.
func checkBackendsInternal(v *checkView) Result {
	m, err := v.matrix()
	if err != nil {
		return fail(v.hintBackends(), "could not compute who reaches the application: %v", err)
	}
	entry := map[string]bool{}
	for _, t := range v.EntryTargets() {
		entry[t.Service.Name] = true
	}
	var open []string
	var backends []reachability.Row
	for _, r := range m.Rows {
		if entry[r.Service] {
			continue
		}
		backends = append(backends, r)
		switch cellOf(m, r, reachability.ColumnOtherNamespace).Verdict {
		case reachability.Allowed, reachability.Partly, reachability.Depends:
			open = append(open, fmt.Sprintf("%s (decided by %s)", rowName(r), r.Decider))
		}
	}
	sort.Strings(open)
	if len(open) > 0 {
		return warn(v.hintBackends(), "a mesh workload of another namespace reaches %s", strings.Join(open, ", "))
	}
	if len(backends) == 0 {
		return pass("the application has no backend port: only its entry Services")
	}
	if judged(backends) == 0 {
		return skip("no running pod found to serve a backend port")
	}
	return pass("no backend port is reachable from another namespace (%s)%s", portCount(judged(backends)), unjudged(backends))
}

// modeSources names, for the pods of a cell that plaintext reaches with no
// STRICT policy deciding, the PeerAuthentication that sets their mode:
// istiod sends ztunnel nothing for PERMISSIVE, so the matrix's decider
// cannot name it.
func (v *checkView) modeSources(cell reachability.Cell) string {
	pods, _ := v.AppPods()
	byName := map[string]snapshot.Object{}
	for _, p := range pods {
		byName[p.Name] = p
	}
	var out []string
	for _, o := range cell.Outcomes {
		p, ok := byName[o.Pod]
		if o.Verdict == reachability.Refused || o.Decider != reachability.NoStrict || !ok {
			continue
		}
		eff := istio.EffectiveMode(v.podPeerAuthentications(), v.rootNamespace(), v.s.Namespace, p.Labels)
		source := "no PeerAuthentication applies"
		if eff.Source != "" {
			source = "set by " + eff.Source
		}
		if s := fmt.Sprintf("%s: %s, %s", p.Name, eff.Mode, source); !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return ""
	}
	return "; " + strings.Join(out, "; ")
}

func (v *checkView) hintPlaintext() string {
	return "set the named PeerAuthentications' mode (and portLevelMtls) to STRICT, or make the namespace STRICT: " + v.secureCommand()
}

func (v *checkView) hintBackends() string {
	return "admit only the application's own callers to its backends: " + v.secureCommand("--lockdown")
}

// checkEntryAdmitsGateway passes when the ingress gateway reaches every
// entry port, as the matrix has it: at every pod, through the Service's
// waypoint where the ingress uses one.
func checkEntryAdmitsGateway(v *checkView) Result {
	m, err := v.matrix()
	if err != nil {
		return fail(v.hintGateway(), "could not compute who reaches the application: %v", err)
	}
	entry := map[string]bool{}
	for _, t := range v.EntryTargets() {
		entry[fmt.Sprintf("%s:%d", t.Service.Name, t.Port.Port)] = true
	}
	var admitted, refused, unjudgedRows []string
	for _, r := range m.Rows {
		if !entry[fmt.Sprintf("%s:%d", r.Service, r.Port)] {
			continue
		}
		cell := cellOf(m, r, reachability.ColumnGateway)
		switch cell.Verdict {
		case reachability.Allowed:
			admitted = append(admitted, fmt.Sprintf("%s (decided by %s)", rowName(r), cell.Decider))
		case reachability.Unknown:
			unjudgedRows = append(unjudgedRows, rowName(r))
		default:
			refused = append(refused, fmt.Sprintf("%s: %s (decided by %s)", rowName(r), cell.Verdict, cell.Decider))
		}
	}
	switch {
	case len(refused) > 0:
		return fail(v.hintGateway(), "the ingress gateway is not admitted at %s", strings.Join(refused, ", "))
	case len(admitted) == 0:
		return skip("no running pod found to serve the entry ports %s", strings.Join(unjudgedRows, ", "))
	}
	msg := "the ingress gateway reaches " + strings.Join(admitted, ", ")
	if len(unjudgedRows) > 0 {
		msg += "; not judged, no running pod found to serve them: " + strings.Join(unjudgedRows, ", ")
	}
	return pass("%s", msg)
}

func (v *checkView) hintGateway() string {
	return "admit the ingress gateway's principal to the entry pods: " + v.secureCommand("--lockdown")
}

// portCount words a number of ports: "1 port", "9 ports".
func portCount(n int) string {
	if n == 1 {
		return "1 port"
	}
	return fmt.Sprintf("%d ports", n)
}
