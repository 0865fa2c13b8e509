package read

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/pkg/discover"
	"github.com/opea-project/kubectl-opea/pkg/gatewayapi"
	"github.com/opea-project/kubectl-opea/pkg/istio"
	"github.com/opea-project/kubectl-opea/pkg/ownership"
)

// entrySuffix ends the name of an OPEA application's entry Service: every
// OPEA chart fronts its megaservice with <release>-nginx.
const entrySuffix = "-nginx"

// AppNamespaces are the namespaces of s's cluster-wide inputs that hold an
// OPEA application, by name: those kubectl opea secure wrote objects for
// (its labels on Gateways and HTTPRoutes); those with an OPEA release's entry
// Service, <release>-nginx next to Service <release>, its megaservice; and
// those an ingress leads to a <release>-nginx Service of (a VirtualService
// bound to a Gateway, or an HTTPRoute attached to one), whatever the other
// Services' names. Another application behind the same ingress, or an
// nginx of another chart, is not one.
func AppNamespaces(s *snapshot.Snapshot) []string {
	found := map[string]bool{}
	managed := func(l map[string]string) {
		if ns := ownership.AppNamespace(l); ns != "" {
			found[ns] = true
		}
	}
	for _, gw := range s.Gateways {
		managed(gw.Labels)
	}
	for _, gw := range s.GatewayAPIGateways {
		managed(gw.Labels)
	}
	for _, r := range s.HTTPRoutes {
		managed(r.Labels)
	}
	for _, svc := range s.Services {
		if isOPEAEntry(s, svc) {
			found[svc.Namespace] = true
		}
	}
	for _, vs := range s.VirtualServices {
		if !boundToAGateway(vs) {
			continue
		}
		for _, h := range vs.HTTP {
			for _, r := range h.Route {
				if ns, name := snapshot.DestinationService(vs.Namespace, r.Destination.Host); ns != "" && isEntryName(name) {
					found[ns] = true
				}
			}
		}
	}
	for _, r := range s.HTTPRoutes {
		if !r.GatewayParent() {
			continue
		}
		for _, rule := range r.Rules {
			for _, b := range rule.BackendRefs {
				if b.IsService() && isEntryName(b.Name) {
					found[b.ServiceNamespace(r.Namespace)] = true
				}
			}
		}
	}
	out := make([]string, 0, len(found))
	for ns := range found {
		out = append(out, ns)
	}
	sort.Strings(out)
	return out
}

// isEntryName reports whether name is shaped as an OPEA entry Service's:
// <release>-nginx.
func isEntryName(name string) bool {
	release, ok := strings.CutSuffix(name, entrySuffix)
	return ok && release != ""
}

// isOPEAEntry reports whether svc is an OPEA release's <release>-nginx:
// Service <release>, the megaservice, stands next to it. (An nginx chart's
// release web makes web-nginx, but no Service web.)
func isOPEAEntry(s *snapshot.Snapshot, svc snapshot.Service) bool {
	release, ok := strings.CutSuffix(svc.Name, entrySuffix)
	return ok && release != "" && s.Service(svc.Namespace, release) != nil
}

// boundToAGateway reports whether vs serves an ingress: it names a Gateway
// other than the reserved "mesh" (the sidecars and waypoints).
func boundToAGateway(vs istio.VirtualService) bool {
	for _, g := range vs.Gateways {
		if g != "mesh" {
			return true
		}
	}
	return false
}

// appNamespaces are the namespaces to audit: those holding an OPEA
// application, among those the namespace selector matches when the
// namespaces could be listed with it.
func (r *reader) appNamespaces() []string {
	all := AppNamespaces(r.base)
	if r.namespaceLabels == nil {
		return all
	}
	var out []string
	for _, ns := range all {
		if _, ok := r.namespaceLabels[ns]; ok {
			out = append(out, ns)
		}
	}
	return out
}

// Entry names the application's entry Service in s: the Service of its
// namespace the ingress routes to, else its <release>-nginx; "" when
// neither is found.
func Entry(s *snapshot.Snapshot) string {
	if s.EntryService != "" {
		return s.EntryService
	}
	v := s.Scope()
	var routed []string
	for _, vs := range v.Routes {
		for _, h := range vs.HTTP {
			for _, r := range h.Route {
				if ns, name := snapshot.DestinationService(vs.Namespace, r.Destination.Host); ns == s.Namespace {
					routed = append(routed, name)
				}
			}
		}
	}
	for _, r := range v.APIRoutes {
		for _, b := range r.ServiceBackends(s.Namespace) {
			routed = append(routed, b.Name)
		}
	}
	if len(routed) > 0 {
		sort.Strings(routed)
		return routed[0]
	}
	for _, svc := range s.Services {
		if svc.Namespace == s.Namespace && isOPEAEntry(s, svc) {
			return svc.Name
		}
	}
	return ""
}

// FindAppNamespaces reads what AppNamespaces looks in, and nothing else
// (Services, Istio Gateways and VirtualServices, Gateway API Gateways and
// HTTPRoutes, in every namespace), and returns the namespaces holding an
// OPEA application: for a command told a namespace that holds none, to
// name those that do. A refused list leaves its applications out.
func FindAppNamespaces(ctx context.Context, c Clients) ([]string, error) {
	s := &snapshot.Snapshot{}
	s.Guard()
	var err error
	if s.APIs, err = discover.ServedAPIs(c.Discovery); err != nil {
		return nil, err
	}
	reads := []func() error{func() error { return readServices(ctx, c.Kube, s) }}
	if s.APIs.Networking != "" {
		reads = append(reads, func() error { return readIstioRouting(ctx, c.Dynamic, s) })
	}
	if v := s.APIs.GatewayAPI; v != "" {
		reads = append(reads, func() error {
			var err error
			if s.GatewayAPIGateways, err = listObjects(ctx, c.Dynamic, s, snapshot.InputGatewayAPIGateways, gatewayapi.Gateways(v), gatewayapi.DecodeGateway); err != nil {
				return err
			}
			s.HTTPRoutes, err = listObjects(ctx, c.Dynamic, s, snapshot.InputHTTPRoutes, gatewayapi.HTTPRoutes(v), gatewayapi.DecodeHTTPRoute)
			return err
		})
	}
	if err := concurrently(reads); err != nil {
		return nil, err
	}
	return AppNamespaces(s), nil
}

// HoldsNoApplication reports whether s's namespace holds nothing to audit:
// no OPEA application as AppNamespaces finds them, no ingress route into
// it, and no entry Service named. It is false when a read that finding
// applications needs was refused: an application may then be there.
func HoldsNoApplication(s *snapshot.Snapshot) bool {
	if s.EntryService != "" || len(s.Unsearched()) > 0 {
		return false
	}
	return !slices.Contains(AppNamespaces(s), s.Namespace) && Entry(s) == ""
}

// SuggestNamespace is the fix's opening for a namespace asked for that
// holds no OPEA application: "did you mean -n <ns>?" with the namespace of
// found most like asked, and the others when there are several; "" when
// found is empty.
func SuggestNamespace(asked string, found []string) string {
	if len(found) == 0 {
		return ""
	}
	best := found[0]
	for _, ns := range found[1:] {
		if editDistance(asked, ns) < editDistance(asked, best) {
			best = ns
		}
	}
	if len(found) == 1 {
		return fmt.Sprintf("did you mean -n %s? (the namespace holding an OPEA application)", best)
	}
	return fmt.Sprintf("did you mean -n %s? (namespaces holding an OPEA application: %s)", best, strings.Join(found, ", "))
}

// editDistance is the Levenshtein distance between a and b: how many
// letters to insert, delete or change to make one the other.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			change := prev[j-1]
			if a[i-1] != b[j-1] {
				change++
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, change)
		}
		prev = cur
	}
	return prev[len(b)]
}
