package xds

import (
	"encoding/json"
	"testing"
)

// An ambientz answer in the shape istiod writes it: scope GLOBAL and
// action ALLOW are the protos' defaults and absent; the waypoint is named by
// hostname.
const ztunnelView = `{
 "workloads": [
  {"name": "tgi-1", "namespace": "app", "serviceAccount": "tgi", "tunnelProtocol": "HBONE",
   "services": {"app/tgi.app.svc.cluster.local": {"ports": [{"servicePort": 80, "targetPort": 8080}]}},
   "authorizationPolicies": ["istio-system/istio_converted_static_strict", "app/fence"]},
  {"name": "waypoint-1", "namespace": "app", "serviceAccount": "waypoint",
   "services": {"app/waypoint.app.svc.cluster.local": {"ports": [{"servicePort": 15008, "targetPort": 15008}]}}}
 ],
 "services": [
  {"name": "tgi", "namespace": "app", "hostname": "tgi.app.svc.cluster.local",
   "waypoint": {"hostname": {"namespace": "app", "hostname": "waypoint.app.svc.cluster.local"}, "hboneMtlsPort": 15008}},
  {"name": "waypoint", "namespace": "app", "hostname": "waypoint.app.svc.cluster.local"}
 ],
 "policies": [
  {"name": "istio_converted_static_strict", "namespace": "istio-system", "scope": "WORKLOAD_SELECTOR", "action": "DENY",
   "groups": [{"rules": [{"matches": [{"notPrincipals": [{"presence": {}}]}]}]}]},
  {"name": "fence", "namespace": "app", "scope": "WORKLOAD_SELECTOR", "action": "DENY",
   "groups": [{"rules": [{"matches": [{"notServiceAccounts": [{"namespace": "app", "serviceAccount": "nginx"}, {"namespace": "app", "serviceAccount": "waypoint"}]}]}]}]},
  {"name": "deny-paths", "namespace": "app", "scope": "NAMESPACE", "action": "DENY",
   "groups": [{"rules": [{"matches": [{}]}]}]},
  {"name": "mesh-allow", "namespace": "istio-system",
   "groups": [{"rules": [{"matches": [{"namespaces": [{"exact": "app"}]}]}, {"matches": [{"destinationPorts": [8080]}]}]}]},
  {"name": "unrelated", "namespace": "other", "scope": "NAMESPACE", "action": "DENY", "groups": [{}]}
 ]
}`

func TestAuthorizeReadsZtunnelsRules(t *testing.T) {
	var v ZtunnelView
	if err := json.Unmarshal([]byte(ztunnelView), &v); err != nil {
		t.Fatal(err)
	}
	w := v.Workload("app", "tgi-1")
	svc := v.Service("app", "tgi")
	if w == nil || svc == nil {
		t.Fatal("workload or service missing")
	}
	if p, ok := w.TargetPort(*svc, 80); !ok || p != 8080 {
		t.Errorf("target port %d %v", p, ok)
	}
	if got := len(v.PoliciesFor(*w)); got != 4 {
		t.Errorf("%d policies apply, want the two listed, the namespace's and the global one", got)
	}
	wp := v.WaypointIdentities(*svc)
	if len(wp) != 1 || wp[0].Principal() != "cluster.local/ns/app/sa/waypoint" {
		t.Fatalf("waypoint identities %+v", wp)
	}
	nginx, _ := ParseIdentity("cluster.local/ns/app/sa/nginx")
	stranger, _ := ParseIdentity("cluster.local/ns/app/sa/stranger")
	for _, c := range []struct {
		name        string
		peer        Identity
		port        uint32
		allowed     bool
		by          string
		allowedByIt string
	}{
		{"plaintext", Identity{}, 8080, false, "istio-system/istio_converted_static_strict", ""},
		{"the fence's exception", nginx, 8080, true, "", "istio-system/mesh-allow"},
		{"the waypoint", wp[0], 8080, true, "", "istio-system/mesh-allow"},
		{"fenced out", stranger, 8080, false, "app/fence", ""},
		{"another port: the global ALLOW does not match", nginx, 9090, false, "", ""},
	} {
		a := v.Authorize(*w, c.peer, c.port)
		if a.Allowed != c.allowed || a.DeniedBy != c.by || a.AllowedBy != c.allowedByIt {
			t.Errorf("%s: %+v", c.name, a)
		}
	}
	if a := v.Authorize(*w, nginx, 9090); len(a.Allows) != 1 || len(a.PeerAuthn) != 1 || a.Others != 3 {
		t.Errorf("policies counted %+v", a)
	}
}
