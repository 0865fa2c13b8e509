package plugin

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	auditreport "github.com/opea-project/kubectl-opea/pkg/audit/report"
	"github.com/opea-project/kubectl-opea/test/testpki"
)

// reachableChatQnA is the secured ChatQnA with pods behind two of its
// Services: the entry chatqna-nginx (numeric targetPort 8080, service
// account chatqna-nginx) and a model server chatqna-vllm whose Service
// names its targetPort, resolved to pod port 2080 by its EndpointSlice.
// The pods are read as metadata (verify's list) and whole (the service
// accounts --reachability reads).
func reachableChatQnA(t *testing.T, cred testpki.Credential) []runtime.Object {
	t.Helper()
	objs := securedChatQnA(t, cred)
	vllm := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "chatqna", Name: "chatqna-vllm"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "chatqna-vllm"},
			Ports: []corev1.ServicePort{{Name: "vllm", Port: 80, TargetPort: intstr.FromString("http")}}}}
	objs = append(objs, vllm)
	for _, p := range []struct{ name, app, sa string }{{"chatqna-nginx-1", "chatqna-nginx", "chatqna-nginx"}, {"chatqna-vllm-1", "chatqna-vllm", ""}} {
		meta := metav1.ObjectMeta{Namespace: "chatqna", Name: p.name, Labels: map[string]string{"app": p.app},
			Annotations: map[string]string{"ambient.istio.io/redirection": "enabled"}}
		objs = append(objs,
			&metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: meta},
			&corev1.Pod{ObjectMeta: meta, Spec: corev1.PodSpec{ServiceAccountName: p.sa, Containers: []corev1.Container{{Name: "app"}}}})
	}
	name, port := "vllm", int32(2080)
	objs = append(objs, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "chatqna", Name: "chatqna-vllm-x7k2p", Labels: map[string]string{discoveryv1.LabelServiceName: "chatqna-vllm"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &name, Port: &port}},
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.9"}, TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "chatqna", Name: "chatqna-vllm-1"}}},
	})
	return objs
}

// verify --reachability prints the matrix, one row per Service port with
// its pod ports, a column per kind of caller and one per --as-principal,
// and the deciding policies: under secure's STRICT namespace policy and no
// AuthorizationPolicy, plaintext is refused by the policy istiod converts
// STRICT into, and every mesh identity reaches every port. The exit code
// is the checks' verdict.
func TestVerifyReachabilityPrintsTheMatrix(t *testing.T) {
	cred := issueGatewayCredential(t)
	c := securedCluster(t, reachableChatQnA(t, cred))
	r := runVerify(t, c, "--probe=false", "--reachability", "--as-principal", "cluster.local/ns/monitoring/sa/prometheus")
	const strict = "istio-system/istio_converted_static_strict"
	want := `SERVICE:PORT (pod port)               PLAINTEXT  GATEWAY  APP (2 SAs)  OTHER NAMESPACE  cluster.local/ns/monitoring/sa/prometheus  DECIDED BY
chatqna:8888 (no pod)                 unknown    unknown  unknown      unknown          unknown                                    (no pod serves this port)
chatqna-nginx:80 (8080)               refused    allowed  allowed      allowed          allowed                                    (no policy: any mesh identity)
chatqna-retriever-usvc:7000 (no pod)  unknown    unknown  unknown      unknown          unknown                                    (no pod serves this port)
chatqna-tei:80 (no pod)               unknown    unknown  unknown      unknown          unknown                                    (no pod serves this port)
chatqna-ui:5173 (no pod)              unknown    unknown  unknown      unknown          unknown                                    (no pod serves this port)
chatqna-vllm:80 (2080)                refused    allowed  allowed      allowed          allowed                                    (no policy: any mesh identity)
`
	if r.code != 0 || !strings.HasPrefix(r.out, want) {
		t.Errorf("exit %d, stderr %q; want 0 and the matrix:\n%s\ngot:\n%s", r.code, r.err, want, r.out)
	}
	if !strings.HasSuffix(r.out, "\nVerdict: chatqna is secured: TLS ingress and STRICT mTLS in place (51 passed, 1 warning, 0 failed, 6 skipped)\n") {
		t.Errorf("the matrix does not end with the verdict:\n%s", r.out)
	}

	doc := runVerify(t, c, "--probe=false", "-o", "json", "--as-principal", "cluster.local/ns/monitoring/sa/prometheus")
	var report auditreport.Report
	if err := json.Unmarshal([]byte(doc.out), &report); err != nil || report.Reachability == nil {
		t.Fatalf("-o json: %v, no reachability document:\n%s", err, doc.out)
	}
	var keys []string
	for _, col := range report.Reachability.Columns {
		keys = append(keys, col.Key)
	}
	if diff := cmp.Diff([]string{"plaintext", "gateway", "app", "other-namespace", "cluster.local/ns/monitoring/sa/prometheus"}, keys); diff != "" {
		t.Errorf("columns (-want +got):\n%s", diff)
	}
	// Without --reachability the pods' service accounts are not read (the
	// lockdown is not in place): the APP column knows no caller.
	wantVLLM := auditreport.ReachabilityRow{Service: "chatqna-vllm", Port: 80, PortName: "vllm", PodPorts: []int32{2080},
		DecidedBy: "(no policy: any mesh identity)", Cells: []auditreport.ReachabilityCell{
			{Column: "plaintext", Verdict: "refused", DecidedBy: strict},
			{Column: "gateway", Verdict: "allowed", DecidedBy: "(no policy: any mesh identity)"},
			{Column: "app", Verdict: "unknown", DecidedBy: "(no such caller known)"},
			{Column: "other-namespace", Verdict: "allowed", DecidedBy: "(no policy: any mesh identity)"},
			{Column: "cluster.local/ns/monitoring/sa/prometheus", Verdict: "allowed", DecidedBy: "(no policy: any mesh identity)"},
		}}
	// The one warning is the model server, open to other namespaces.
	var warned []string
	for _, cat := range report.Categories {
		for _, ch := range cat.Checks {
			if ch.Result == "warning" {
				warned = append(warned, ch.ID+": "+ch.Message)
			}
		}
	}
	if diff := cmp.Diff([]string{"reachability.backends-internal: a mesh workload of another namespace reaches chatqna-vllm:80 (2080) (decided by (no policy: any mesh identity))"}, warned); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	rows := report.Reachability.Rows
	if len(rows) != 6 {
		t.Fatalf("%d rows, want one per Service port (6)", len(rows))
	}
	if diff := cmp.Diff(wantVLLM, rows[5]); diff != "" {
		t.Errorf("chatqna-vllm's row (-want +got):\n%s", diff)
	}
}
