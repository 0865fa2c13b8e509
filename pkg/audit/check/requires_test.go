package check

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/pkg/gatewayapi"
)

// requirementBreaks each make one requirement of the catalogue fail in a
// healthy snapshot, while those before it in every list that names it hold.
var requirementBreaks = map[string]func(t *testing.T, s *snapshot.Snapshot){
	"istiodFound":          func(t *testing.T, s *snapshot.Snapshot) { s.Istiod = nil },
	"virtualServicesRoute": func(t *testing.T, s *snapshot.Snapshot) { s.VirtualServices = nil },
	"gatewaysRoute":        func(t *testing.T, s *snapshot.Snapshot) { s.VirtualServices[0].Gateways = []string{"mesh"} },
	"httpsServer":          func(t *testing.T, s *snapshot.Snapshot) { s.Gateways[0].Servers = s.Gateways[0].Servers[1:] },
	"httpsServerToProbe":   func(t *testing.T, s *snapshot.Snapshot) { s.Gateways[0].Servers = s.Gateways[0].Servers[1:] },
	"credentialsPresent":   func(t *testing.T, s *snapshot.Snapshot) { s.Secrets = map[string]*snapshot.Secret{} },
	"credentialsReadable": func(t *testing.T, s *snapshot.Snapshot) {
		s.Secrets["istio-ingress/opea-chatqna-tls"].Data["tls.key"] = nil
	},
	"credentialsUsable": func(t *testing.T, s *snapshot.Snapshot) {
		s.Secrets["istio-ingress/opea-chatqna-tls"].Data["tls.key"] = issue(t, []string{"x.example.com"}, now, now.Add(time.Hour)).KeyPEM
	},
	"certManagerManaged": func(t *testing.T, s *snapshot.Snapshot) { s.Certificates = nil },
	"handshakesSucceeded": func(t *testing.T, s *snapshot.Snapshot) {
		s.Probe.Hosts[0] = snapshot.HostProbe{Host: "chatqna.example.com", HandshakeErr: "x509: certificate signed by unknown authority"}
	},
	"secretCertificateUsable": func(t *testing.T, s *snapshot.Snapshot) {
		s.Secrets["istio-ingress/opea-chatqna-tls"].Data["tls.key"] = issue(t, []string{"x.example.com"}, now, now.Add(time.Hour)).KeyPEM
	},
	"probeReachedGateway": func(t *testing.T, s *snapshot.Snapshot) {
		s.Probe.Skipped = "you may not create pods/portforward in namespace istio-ingress"
	},
	"servedNotStale":    earlierServed,
	"meshRootFound":     func(t *testing.T, s *snapshot.Snapshot) { s.MeshRoot = snapshot.MeshRoot{} },
	"httpProbeAddress":  func(t *testing.T, s *snapshot.Snapshot) { s.Probe.HTTPAddress = "" },
	"entryRouted":       func(t *testing.T, s *snapshot.Snapshot) { s.Services = s.Services[1:] },
	"gatewayIdentified": func(t *testing.T, s *snapshot.Snapshot) { s.GatewayPods = nil },

	// The Authentication checks', on a snapshot with authentication.
	"noAuthentication":       func(t *testing.T, s *snapshot.Snapshot) { withJWT(s) },
	"requestAuthentications": func(t *testing.T, s *snapshot.Snapshot) { withExtAuthz(s) },
	"credentialPolicies": func(t *testing.T, s *snapshot.Snapshot) {
		withJWT(s)
		s.AuthorizationPolicies = nil
	},

	// The Gateway API's, on a healthy Gateway API snapshot.
	"apiGatewaysRoute": func(t *testing.T, s *snapshot.Snapshot) {
		*s = *healthyGatewayAPI(t)
		s.HTTPRoutes[0].ParentRefs[0].Name = "gone"
	},
	"apiClassAccepted": func(t *testing.T, s *snapshot.Snapshot) {
		*s = *healthyGatewayAPI(t)
		s.GatewayClasses = nil
	},
	"apiGatewayAccepted": func(t *testing.T, s *snapshot.Snapshot) {
		*s = *healthyGatewayAPI(t)
		setCondition(s.GatewayAPIGateways[0].Status.Conditions, gatewayapi.Condition{Type: "Accepted", Status: "False", Reason: "InvalidParameters", ObservedGeneration: 2})
	},
	"apiHostnamesMatch": func(t *testing.T, s *snapshot.Snapshot) {
		*s = *healthyGatewayAPI(t)
		s.HTTPRoutes[0].Hostnames = []string{"other.example.com"}
	},
	"apiBackendsExist": func(t *testing.T, s *snapshot.Snapshot) {
		*s = *healthyGatewayAPI(t)
		s.Services = s.Services[1:]
	},
	"apiRoutesAttach": func(t *testing.T, s *snapshot.Snapshot) {
		*s = *healthyGatewayAPI(t)
		s.HTTPRoutes[0].ParentRefs[0].SectionName = "nope"
	},
	"apiHTTPSListener": func(t *testing.T, s *snapshot.Snapshot) {
		*s = *healthyGatewayAPI(t)
		s.GatewayAPIGateways[0].Listeners[0].TLS.Mode = "Passthrough"
	},
	"apiRefsGranted": func(t *testing.T, s *snapshot.Snapshot) {
		*s = *healthyGatewayAPI(t)
		moveSecret(s)
	},
	"listenerRefsResolved": func(t *testing.T, s *snapshot.Snapshot) {
		*s = *healthyGatewayAPI(t)
		s.Secrets = map[string]*snapshot.Secret{}
	},
}

// Every requirement the catalogue names is exercised: where it does not
// hold, exactly the checks that require it are skipped, with its reason.
func TestEveryRequirementSkipsItsChecks(t *testing.T) {
	requirements := map[string]Requirement{}
	requiredBy := map[string][]string{}
	for _, c := range Catalogue {
		for _, req := range c.Requires {
			if seen, ok := requirements[req.Name]; ok && seen.Reason != req.Reason {
				t.Errorf("requirement %s has two reasons: %q and %q", req.Name, seen.Reason, req.Reason)
			}
			requirements[req.Name] = req
			requiredBy[req.Name] = append(requiredBy[req.Name], c.ID)
		}
	}
	reasons := map[string]string{}
	for name, req := range requirements {
		if other, ok := reasons[req.Reason]; ok {
			t.Errorf("requirements %s and %s share the reason %q", name, other, req.Reason)
		}
		reasons[req.Reason] = name
	}
	for name := range requirementBreaks {
		if _, ok := requirements[name]; !ok {
			t.Errorf("requirementBreaks names %s, which no check requires", name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(requirements)) {
		req := requirements[name]
		t.Run(name, func(t *testing.T) {
			breakIt, ok := requirementBreaks[name]
			if !ok {
				t.Fatalf("requirement %s is not exercised: add it to requirementBreaks", name)
			}
			s := healthy(t)
			breakIt(t, s)
			reason := req.Reason
			if req.why != nil {
				reason = req.why(&checkView{Scope: s.Scope(), s: s})
			}
			var skipped, reported []string
			for _, o := range Run(s) {
				reported = append(reported, o.ID)
				if o.Status == Skip && o.Message == reason {
					skipped = append(skipped, o.ID)
				}
			}
			// A check reported only under a condition (ReportedOnly) is
			// wanted where it is reported.
			var want []string
			for _, id := range requiredBy[name] {
				if slices.Contains(reported, id) || !reportedOnly(id) {
					want = append(want, id)
				}
			}
			slices.Sort(skipped)
			slices.Sort(want)
			if !slices.Equal(skipped, want) {
				t.Errorf("skipped with %q: %v, want the checks that require %s: %v", req.Reason, skipped, name, want)
			}
		})
	}
}

// reportedOnly reports whether the check with id is reported only under a
// condition.
func reportedOnly(id string) bool {
	for _, c := range Catalogue {
		if c.ID == id {
			return c.ReportedOnly != nil
		}
	}
	return false
}
