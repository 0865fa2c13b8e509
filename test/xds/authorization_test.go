package xds

import (
	"encoding/json"
	"testing"
)

// What istiod's /debug/ambientz printed for a selector ALLOW policy admitting
// one principal on port 80, a namespace-wide ALLOW whose only rule held HTTP
// fields (istiod omits such rules), and a DENY.
const ambientzPolicies = `{
 "workloads": [{"name": "chatqna-nginx", "namespace": "chatqna", "authorizationPolicies": ["chatqna/allow-ingress"]}],
 "policies": [
  {"name": "allow-ingress", "namespace": "chatqna", "scope": "WORKLOAD_SELECTOR",
   "groups": [{"rules": [
     {"matches": [{"destinationPorts": [80]}]},
     {"matches": [{"principals": [{"exact": "cluster.local/ns/istio-ingress/sa/istio-ingress"}]}]}]}]},
  {"name": "deny-other", "namespace": "chatqna", "scope": "NAMESPACE", "action": "DENY",
   "groups": [{"rules": [{"matches": [{"namespaces": [{"exact": "other"}]}]}]}]},
  {"name": "allow-everyone-elsewhere", "namespace": "elsewhere", "scope": "NAMESPACE",
   "groups": [{"rules": [{"matches": [{"principals": [{"presence": {}}]}]}]}]}
 ]
}`

func TestAdmitsEvaluatesAsZtunnel(t *testing.T) {
	var st AmbientState
	if err := json.Unmarshal([]byte(ambientzPolicies), &st); err != nil {
		t.Fatal(err)
	}
	w := st.Workload("chatqna", "chatqna-nginx")
	if w == nil {
		t.Fatal("no workload")
	}
	if n := len(st.PoliciesFor(*w)); n != 2 {
		t.Errorf("%d policies apply, want the selector one and the namespace's DENY", n)
	}
	gateway := "cluster.local/ns/istio-ingress/sa/istio-ingress"
	for _, c := range []struct {
		caller Caller
		want   bool
	}{
		{Caller{Principal: gateway, Namespace: "istio-ingress", Port: 80}, true},
		{Caller{Principal: gateway, Namespace: "istio-ingress", Port: 8080}, false},
		{Caller{Principal: "cluster.local/ns/chatqna/sa/default", Namespace: "chatqna", Port: 80}, false},
		{Caller{Principal: gateway, Namespace: "other", Port: 80}, false},
	} {
		if got := st.Admits(*w, c.caller); got != c.want {
			t.Errorf("Admits(%+v) = %v, want %v", c.caller, got, c.want)
		}
	}
}
