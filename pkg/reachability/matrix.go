package reachability

import (
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/opea-project/kubectl-opea/pkg/istio"
)

// Verdict is what a cell says of its callers.
type Verdict string

const (
	Allowed Verdict = "allowed"
	Refused Verdict = "refused"
	// Depends: the answer turns on what the model does not know (the
	// caller's address, an HTTP request a waypoint judges).
	Depends Verdict = "depends"
	// Partly: some of the cell's callers or pods are allowed, others
	// refused.
	Partly Verdict = "partly"
	// Unknown: the cell has no caller (no gateway identified, no service
	// account given) or the row no pod.
	Unknown Verdict = "unknown"
)

// Column keys of the fixed columns; an extra principal's column is keyed
// by the principal.
const (
	ColumnPlaintext      = "plaintext"
	ColumnGateway        = "gateway"
	ColumnApp            = "app"
	ColumnOtherNamespace = "other-namespace"
)

// Deciders that name no policy.
const (
	NoPolicy       = "(no policy: any mesh identity)"
	NoAllowPolicy  = "(no ALLOW policy; no DENY matches)"
	NoStrict       = "(no STRICT PeerAuthentication: PERMISSIVE)"
	NoPodSelected  = "(no pod serves this port)"
	NoCallerKnown  = "(no such caller known)"
	deciderJoiner  = ", "
	policyKeyJoint = "/"
)

// Column is one kind of caller.
type Column struct {
	Key   string
	Title string
	// Callers are who the column stands for: one caller without a
	// principal for plaintext; none when not known.
	Callers []istio.Caller
}

// Outcome is what ztunnel (and the waypoint, where the Service has one)
// decides for one caller at one pod.
type Outcome struct {
	Pod     string
	PodPort int32
	// Caller is the principal that calls, "" for plaintext; Arrives the
	// one ztunnel sees at the pod (a waypoint's, through one).
	Caller, Arrives string
	Verdict         Verdict
	Decider         string
}

// Cell is one caller kind at one Service port.
type Cell struct {
	Verdict  Verdict
	Decider  string
	Outcomes []Outcome
}

// Row is one Service port.
type Row struct {
	Service  string
	Port     int32
	PortName string
	// PodPorts are the pod ports the Service port reaches, in order.
	PodPorts []int32
	// Waypoint is namespace/name of the waypoint the Service's traffic
	// goes through, "" for none.
	Waypoint string
	// Cells are in the order of the matrix's columns.
	Cells []Cell
	// Decider names the policies that decide the mesh callers' cells;
	// PlaintextDecider the plaintext cell's.
	Decider, PlaintextDecider string
}

// Matrix is the whole picture.
type Matrix struct {
	Columns []Column
	Rows    []Row
}

// ManagedLabel marks the Services istiod deploys for Gateways and
// waypoints: they are not the application's.
const ManagedLabel = "gateway.istio.io/managed"

// Compute builds the matrix: for every port of every Service with a
// selector (but those istiod deploys), sorted by Service name and port,
// every column's callers at every pod the port reaches.
func Compute(in Input) (Matrix, error) {
	if err := in.validate(); err != nil {
		return Matrix{}, err
	}
	m := newModel(in)
	out := Matrix{Columns: m.columns()}
	services := append([]Service(nil), in.Services...)
	sort.Slice(services, func(i, j int) bool { return services[i].Name < services[j].Name })
	for _, svc := range services {
		if len(svc.Selector) == 0 || svc.Labels[ManagedLabel] != "" {
			continue
		}
		ports := append([]corev1.ServicePort(nil), svc.Ports...)
		sort.SliceStable(ports, func(i, j int) bool { return ports[i].Port < ports[j].Port })
		for _, port := range ports {
			out.Rows = append(out.Rows, m.row(svc, port, out.Columns))
		}
	}
	return out, nil
}

// model holds the input with its policies in a fixed order, so that
// where several policies decide alike the first by namespace/name is
// named.
type model struct {
	in       Input
	policies []istio.AuthorizationPolicy
}

func newModel(in Input) *model {
	policies := append([]istio.AuthorizationPolicy(nil), in.AuthorizationPolicies...)
	sort.SliceStable(policies, func(i, j int) bool { return policyKey(policies[i]) < policyKey(policies[j]) })
	return &model{in: in, policies: policies}
}

func policyKey(p istio.AuthorizationPolicy) string { return p.Namespace + policyKeyJoint + p.Name }

func (m *model) columns() []Column {
	in := m.in
	cols := []Column{{Key: ColumnPlaintext, Title: "PLAINTEXT", Callers: []istio.Caller{{}}}}
	gw := Column{Key: ColumnGateway, Title: "GATEWAY"}
	for _, p := range in.GatewayPrincipals {
		c, _ := callerOf(p)
		gw.Callers = append(gw.Callers, c)
	}
	app := Column{Key: ColumnApp, Title: "APP"}
	for _, sa := range in.AppServiceAccounts {
		app.Callers = append(app.Callers, in.caller(in.Namespace, sa))
	}
	other := Column{Key: ColumnOtherNamespace, Title: "OTHER NAMESPACE", Callers: []istio.Caller{in.caller(in.otherNamespace(), "default")}}
	cols = append(cols, gw, app, other)
	for _, p := range in.ExtraPrincipals {
		c, _ := callerOf(p)
		cols = append(cols, Column{Key: p, Title: p, Callers: []istio.Caller{c}})
	}
	return cols
}

// target is one pod a Service port reaches, at its pod port.
type target struct {
	pod  Pod
	port int32
}

// targets are the pods svc selects that serve port, as istiod resolves a
// named targetPort: a pod without a container port of that name does not
// serve it.
func (m *model) targets(svc Service, port corev1.ServicePort) []target {
	var out []target
	sel := labels.SelectorFromSet(svc.Selector)
	for _, pod := range m.in.Pods {
		if !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		if p, ok := istio.FindTargetPort(port, pod.ContainerPorts); ok {
			out = append(out, target{pod, p})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].pod.Name < out[j].pod.Name })
	return out
}

func (m *model) row(svc Service, port corev1.ServicePort, cols []Column) Row {
	r := Row{Service: svc.Name, Port: port.Port, PortName: port.Name}
	targets := m.targets(svc, port)
	for _, t := range targets {
		if !containsPort(r.PodPorts, t.port) {
			r.PodPorts = append(r.PodPorts, t.port)
		}
	}
	sort.Slice(r.PodPorts, func(i, j int) bool { return r.PodPorts[i] < r.PodPorts[j] })
	wp, hasWaypoint := istio.ServiceWaypoint(m.in.Namespace, svc.Labels, m.in.NamespaceLabels)
	if hasWaypoint {
		r.Waypoint = wp.Namespace + policyKeyJoint + wp.Name
	}
	var meshDeciders []string
	for _, col := range cols {
		// Mesh callers reach a Service with a waypoint through it; the
		// ingress gateway only when the Service says so.
		through := hasWaypoint && col.Key != ColumnPlaintext &&
			(col.Key != ColumnGateway || istio.IngressUsesWaypoint(svc.Labels, m.in.NamespaceLabels))
		cell := Cell{}
		for _, t := range targets {
			for _, c := range col.Callers {
				var o Outcome
				if through {
					o = m.throughWaypoint(wp, svc, port.Port, t, c)
				} else {
					o = m.atPod(t, c)
				}
				cell.Outcomes = append(cell.Outcomes, o)
			}
		}
		var deciders []string
		cell.Verdict, deciders = summarize(cell.Outcomes)
		cell.Decider = strings.Join(deciders, deciderJoiner)
		switch {
		case len(targets) == 0:
			cell.Decider = NoPodSelected
		case len(col.Callers) == 0:
			cell.Decider = NoCallerKnown
		}
		if col.Key == ColumnPlaintext {
			r.PlaintextDecider = cell.Decider
		} else if len(cell.Outcomes) > 0 {
			meshDeciders = append(meshDeciders, deciders...)
		}
		r.Cells = append(r.Cells, cell)
	}
	r.Decider = strings.Join(distinct(meshDeciders), deciderJoiner)
	return r
}

func containsPort(ports []int32, p int32) bool {
	for _, q := range ports {
		if q == p {
			return true
		}
	}
	return false
}

// summarize is a cell's verdict over its outcomes, and its distinct
// deciders, sorted.
func summarize(outcomes []Outcome) (Verdict, []string) {
	if len(outcomes) == 0 {
		return Unknown, nil
	}
	seen := map[Verdict]bool{}
	var deciders []string
	for _, o := range outcomes {
		seen[o.Verdict] = true
		deciders = append(deciders, o.Decider)
	}
	v := outcomes[0].Verdict
	switch {
	case len(seen) == 1:
	case seen[Allowed] && seen[Refused]:
		v = Partly
	default:
		v = Depends
	}
	return v, distinct(deciders)
}

// distinct are the distinct non-empty values, sorted. A decider may itself
// name several policies (the ALLOW policies none of which admits): it is
// kept whole.
func distinct(values []string) []string {
	set := map[string]bool{}
	var out []string
	for _, v := range values {
		if v != "" && !set[v] {
			set[v] = true
			out = append(out, v)
		}
	}
	sort.Strings(out)
	return out
}
