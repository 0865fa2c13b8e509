package xds

import (
	"encoding/json"
	"testing"
)

// What istiod's /debug/ambientz prints, in its shape: a selector ALLOW
// admitting one principal on port 80; a namespace DENY of another
// namespace; the DENY istiod makes of `to: [{operation: {paths:
// ["/admin"]}}]` (one empty match, which ztunnel skips); a policy of the
// root namespace without selector, whose scope GLOBAL is the proto's
// default and so absent; and another namespace's ALLOW.
const ambientzPolicies = `{
 "workloads": [
  {"name": "chatqna-nginx", "namespace": "chatqna", "authorizationPolicies": ["chatqna/allow-ingress"]},
  {"name": "app", "namespace": "quiet"}
 ],
 "policies": [
  {"name": "allow-ingress", "namespace": "chatqna", "scope": "WORKLOAD_SELECTOR",
   "groups": [{"rules": [
     {"matches": [{"destinationPorts": [80]}]},
     {"matches": [{"principals": [{"exact": "cluster.local/ns/istio-ingress/sa/istio-ingress"}]}]}]}]},
  {"name": "deny-other", "namespace": "chatqna", "scope": "NAMESPACE", "action": "DENY",
   "groups": [{"rules": [{"matches": [{"namespaces": [{"exact": "other"}]}]}]}]},
  {"name": "deny-admin", "namespace": "chatqna", "scope": "NAMESPACE", "action": "DENY",
   "groups": [{"rules": [{"matches": [{}]}]}]},
  {"name": "mesh-deny-legacy", "namespace": "istio-system", "action": "DENY",
   "groups": [{"rules": [{"matches": [{"namespaces": [{"exact": "legacy"}]}]}]}]},
  {"name": "allow-everyone-elsewhere", "namespace": "elsewhere", "scope": "NAMESPACE",
   "groups": [{"rules": [{"matches": [{"principals": [{"presence": {}}]}]}]}]}
 ]
}`

func TestAdmitsEvaluatesAsZtunnel(t *testing.T) {
	var st AmbientState
	if err := json.Unmarshal([]byte(ambientzPolicies), &st); err != nil {
		t.Fatal(err)
	}
	nginx, quiet := st.Workload("chatqna", "chatqna-nginx"), st.Workload("quiet", "app")
	if nginx == nil || quiet == nil {
		t.Fatal("workload missing")
	}
	gateway := "cluster.local/ns/istio-ingress/sa/istio-ingress"
	for _, c := range []struct {
		name   string
		w      *Workload
		caller Caller
		want   bool
	}{
		{"the gateway on 80: the DENY of paths denies nobody", nginx, Caller{Principal: gateway, Namespace: "istio-ingress", Port: 80}, true},
		{"the gateway on another port", nginx, Caller{Principal: gateway, Namespace: "istio-ingress", Port: 8080}, false},
		{"another principal", nginx, Caller{Principal: "cluster.local/ns/chatqna/sa/default", Namespace: "chatqna", Port: 80}, false},
		{"the namespace's DENY", nginx, Caller{Principal: "cluster.local/ns/other/sa/istio-ingress", Namespace: "other", Port: 80}, false},
		{"the global DENY, no scope written", quiet, Caller{Principal: "cluster.local/ns/legacy/sa/default", Namespace: "legacy", Port: 80}, false},
		{"nothing else applies there", quiet, Caller{Principal: "cluster.local/ns/chatqna/sa/default", Namespace: "chatqna", Port: 80}, true},
	} {
		if got := st.Admits(*c.w, c.caller); got != c.want {
			t.Errorf("%s: Admits(%s, %+v) = %v, want %v", c.name, c.w.Name, c.caller, got, c.want)
		}
	}
}
