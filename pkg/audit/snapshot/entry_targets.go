package snapshot

import "fmt"

// EntryTarget is a Service port of the namespace that the application's
// ingress routes to.
type EntryTarget struct {
	Service Service
	Port    ServicePort
}

// EntryTargets are the Service ports the application's routes lead to (as
// --service and --port narrow them), once each. A route to a Service or
// port that does not exist is the routing checks' finding.
func (v *Scope) EntryTargets() []EntryTarget {
	seen := map[string]bool{}
	var out []EntryTarget
	add := func(name string, port int32) {
		svc := v.s.Service(v.s.Namespace, name)
		if svc == nil || (v.s.EntryService != "" && name != v.s.EntryService) {
			return
		}
		if port == 0 && len(svc.Ports) == 1 {
			port = svc.Ports[0].Port
		}
		for _, p := range svc.Ports {
			k := fmt.Sprintf("%s:%d", name, p.Port)
			if p.Port == port && (v.s.EntryPort == 0 || port == v.s.EntryPort) && !seen[k] {
				seen[k] = true
				out = append(out, EntryTarget{*svc, p})
			}
		}
	}
	for _, vs := range v.Routes {
		for _, h := range vs.HTTP {
			for _, r := range h.Route {
				if ns, name := DestinationService(vs.Namespace, r.Destination.Host); ns == v.s.Namespace {
					add(name, r.Destination.PortNumber())
				}
			}
		}
	}
	for _, r := range v.APIRoutes {
		for _, b := range r.ServiceBackends(v.s.Namespace) {
			port := int32(0)
			if b.Port != nil {
				port = *b.Port
			}
			add(b.Name, port)
		}
	}
	return out
}
