package plugin

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/opea-project/kubectl-opea/pkg/audit"
	auditcheck "github.com/opea-project/kubectl-opea/pkg/audit/check"
	auditreport "github.com/opea-project/kubectl-opea/pkg/audit/report"
	"github.com/opea-project/kubectl-opea/test/testpki"
)

// ambientIstio is Istio installed with the ambient profile and running:
// istiod, ztunnel and istio-cni ready on three nodes.
// meshRoot is the root certificate istiod publishes in every namespace,
// valid until meshRootExpiry (testpki's CA outlives its leaf by an hour).
var (
	meshRootExpiry = time.Date(2035, 12, 31, 13, 0, 0, 0, time.UTC)
	meshRoot       = func() []byte {
		cred, err := testpki.Issue(testpki.Leaf{CA: "cluster.local", DNSNames: []string{"unused.example.com"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: meshRootExpiry.Add(-time.Hour)})
		if err != nil {
			panic(err)
		}
		return cred.CAPEM
	}()
)

func ambientIstio() []runtime.Object {
	one := int32(1)
	daemonSet := func(name string, labels map[string]string) *appsv1.DaemonSet {
		return &appsv1.DaemonSet{
			ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: name},
			Spec: appsv1.DaemonSetSpec{
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}},
			},
			Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, NumberReady: 3},
		}
	}
	return []runtime.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "istio-system"}},
		&appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "istiod", Labels: map[string]string{"app": "istiod", "istio.io/rev": "default"}},
			Spec: appsv1.DeploymentSpec{
				Replicas: &one,
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "istiod"}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "istiod"}},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "discovery", Env: []corev1.EnvVar{{Name: "PILOT_ENABLE_AMBIENT", Value: "true"}}}}},
				},
			},
			Status: appsv1.DeploymentStatus{Replicas: 1, ReadyReplicas: 1},
		},
		daemonSet("ztunnel", map[string]string{"app": "ztunnel"}),
		daemonSet("istio-cni-node", map[string]string{"k8s-app": "istio-cni-node"}),
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "istio-cni-config"}, Data: map[string]string{"AMBIENT_ENABLED": "true"}},
	}
}

// meshRootConfigMap is the root istiod publishes in namespace chatqna.
func meshRootConfigMap() *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "chatqna", Name: "istio-ca-root-cert"}, Data: map[string]string{"root-cert.pem": string(meshRoot)}}
}

// chatQnAPods are the running pods of ChatQnA, as metadata.
func chatQnAPods() []runtime.Object {
	var pods []runtime.Object
	for _, name := range []string{"chatqna-7d9f8b6c5-x2x4p", "chatqna-nginx-5f4b8c7d9-qk8zt", "chatqna-ui-6c8d9f7b5-m4n2k"} {
		pods = append(pods, &metav1.PartialObjectMetadata{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Namespace: "chatqna", Name: name, Labels: map[string]string{"app.kubernetes.io/instance": "chatqna"}},
		})
	}
	return pods
}

// chatQnANotSecured is ChatQnA installed and running on a cluster with
// Istio's ambient data plane, before kubectl opea secure.
func chatQnANotSecured() []runtime.Object {
	return append(append(chatQnA(), ambientIstio()...), chatQnAPods()...)
}

// When the audit cannot run, verify exits 3 whatever the output format;
// -o json still prints a document, which says why.
func TestVerifyCouldNotRunExitsThree(t *testing.T) {
	// The fix names the namespace that holds an OPEA application.
	const missing = `namespace "chatqna-prod" does not exist` + "\n  fix: did you mean -n chatqna? (the namespace holding an OPEA application)"
	unreachable := func(c fakeCluster) {
		c.kube.PrependReactor("get", "version", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, errors.New("Get \"https://127.0.0.1:1/version\": dial tcp 127.0.0.1:1: connect: connection refused")
		})
	}
	const unreachableErr = `cannot reach the cluster at https://127.0.0.1:1: Get \"https://127.0.0.1:1/version\": dial tcp 127.0.0.1:1: connect: connection refused` +
		`\n  fix: check --kubeconfig and --context, then 'kubectl cluster-info'`
	jsonReport := func(namespace, err string) string {
		return `{
  "namespace": "` + namespace + `",
  "success": false,
  "summary": {
    "passed": 0,
    "warnings": 0,
    "failed": 0,
    "skipped": 0,
    "unknown": 0
  },
  "categories": [],
  "error": "` + err + `"
}
`
	}
	for _, tc := range []struct {
		name   string
		change func(fakeCluster)
		args   []string
		want   result
	}{
		{
			name: "the namespace is missing",
			args: []string{"-n", "chatqna-prod"},
			want: result{err: "error: " + missing + "\n"},
		},
		{
			name: "the namespace is missing, -o short",
			args: []string{"-n", "chatqna-prod", "-o", "short"},
			want: result{err: "error: " + missing + "\n"},
		},
		{
			name: "the namespace is missing, -o json",
			args: []string{"-n", "chatqna-prod", "-o", "json"},
			want: result{out: jsonReport("chatqna-prod", `namespace \"chatqna-prod\" does not exist\n  fix: did you mean -n chatqna? (the namespace holding an OPEA application)`),
				err: "error: " + missing + "\n"},
		},
		{
			name:   "the cluster is unreachable",
			change: unreachable,
			want: result{err: "error: cannot reach the cluster at https://127.0.0.1:1: Get \"https://127.0.0.1:1/version\": dial tcp 127.0.0.1:1: connect: connection refused\n" +
				"  fix: check --kubeconfig and --context, then 'kubectl cluster-info'\n"},
		},
		{
			name:   "the cluster is unreachable, -o json",
			change: unreachable,
			args:   []string{"-o", "json"},
			want: result{out: jsonReport("chatqna", unreachableErr),
				err: "error: cannot reach the cluster at https://127.0.0.1:1: Get \"https://127.0.0.1:1/version\": dial tcp 127.0.0.1:1: connect: connection refused\n" +
					"  fix: check --kubeconfig and --context, then 'kubectl cluster-info'\n"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := fakeClusterWith(t, chatQnANotSecured()...)
			if tc.change != nil {
				tc.change(c)
			}
			r := runOn(t, c, append([]string{"verify", "-n", "chatqna"}, tc.args...)...)
			tc.want.code = ExitIncomplete
			if diff := cmp.Diff(tc.want, r, cmp.AllowUnexported(result{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// An application nobody secured fails verify, exit 1 in every output
// format, with exactly the checks that say what is missing failing.
func TestVerifyFailsWhereNothingIsSecured(t *testing.T) {
	for _, tc := range []struct {
		name    string
		objs    []runtime.Object
		failing []string // category: check ID
	}{
		{
			name: "Istio's ambient data plane running",
			objs: chatQnANotSecured(),
			failing: []string{
				"Enrolment: enrolment.namespace-label",
				"Enrolment: enrolment.pods-redirected",
				"mTLS: mtls.namespace-strict",
				"Ingress gateway: ingress.gateway-found",
			},
		},
		{
			name: "only Istio's and cert-manager's CRDs installed, and ChatQnA's Services",
			objs: []runtime.Object{service("chatqna", 8888), service("chatqna-nginx", 80)},
			failing: []string{
				"Ambient data plane: ambient.istiod",
				"Ambient data plane: ambient.ztunnel",
				"Ambient data plane: ambient.istio-cni",
				"Ambient data plane: ambient.cni-ambient-enabled",
				"Enrolment: enrolment.namespace-label",
				"mTLS: mtls.namespace-strict",
				"Ingress gateway: ingress.gateway-found",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := fakeClusterWith(t, tc.objs...)
			failed := fmt.Sprintf("error: %s failed\n", audit.Count(len(tc.failing), "check"))

			js := runOn(t, c, "verify", "-n", "chatqna", "-o", "json")
			if js.code != ExitFailure || js.err != failed {
				t.Errorf("-o json: exit %d, stderr %q; want %d, %q", js.code, js.err, ExitFailure, failed)
			}
			var report auditreport.Report
			if err := json.Unmarshal([]byte(js.out), &report); err != nil {
				t.Fatalf("-o json: %v\n%s", err, js.out)
			}
			var got []string
			for _, category := range report.Categories {
				for _, check := range category.Checks {
					if check.Result != auditcheck.Fail {
						continue
					}
					got = append(got, category.CategoryName+": "+check.ID)
					if check.Message == "" || check.Hint == "" || check.Docs != auditreport.DocsURL+check.ID {
						t.Errorf("%s fails without a message, a fix or its docs: %+v", check.ID, check)
					}
				}
			}
			if diff := cmp.Diff(tc.failing, got); diff != "" {
				t.Errorf("failing checks (-want +got):\n%s", diff)
			}
			if report.Namespace != "chatqna" || report.Success || report.Summary.Failed != len(tc.failing) || report.Summary.Unknown != 0 ||
				report.MissingPermissions != nil || report.Error != "" {
				t.Errorf("report: namespace %q, success %v, summary %+v, missing permissions %v, error %q",
					report.Namespace, report.Success, report.Summary, report.MissingPermissions, report.Error)
			}

			for _, format := range []string{"table", "short"} {
				r := runOn(t, c, "verify", "-n", "chatqna", "-o", format)
				if r.code != ExitFailure || r.err != failed {
					t.Errorf("-o %s: exit %d, stderr %q; want %d, %q", format, r.code, r.err, ExitFailure, failed)
				}
			}
		})
	}
}

// -o short lists only the warnings and failures, each with its reason, its
// fix and its documentation, then the verdict.
func TestVerifyShortOutput(t *testing.T) {
	c := fakeClusterWith(t, chatQnANotSecured()...)
	r := runOn(t, c, "verify", "-n", "chatqna", "-o", "short")
	const docs = "    see: https://github.com/opea-project/kubectl-opea/blob/main/docs/checks.md#"
	want := result{
		out: `Enrolment
---------
[FAIL] namespace enrolled in ambient mode  [enrolment.namespace-label]
    namespace chatqna lacks istio.io/dataplane-mode=ambient: its pods are not in the mesh
    fix: kubectl label namespace chatqna istio.io/dataplane-mode=ambient
` + docs + `enrolment.namespace-label
[FAIL] every pod's traffic captured by ztunnel  [enrolment.pods-redirected]
    pods not captured by ztunnel (no ambient.istio.io/redirection=enabled): chatqna-7d9f8b6c5-x2x4p, chatqna-nginx-5f4b8c7d9-qk8zt, chatqna-ui-6c8d9f7b5-m4n2k
    fix: label the namespace (kubectl label namespace chatqna istio.io/dataplane-mode=ambient) or the pods; if they are, check istio-cni: kubectl logs -n istio-system -l k8s-app=istio-cni-node
` + docs + `enrolment.pods-redirected

mTLS
----
[FAIL] effective mTLS mode STRICT for every workload  [mtls.namespace-strict]
    workloads accept plaintext: chatqna-7d9f8b6c5-x2x4p: PERMISSIVE (no PeerAuthentication applies); chatqna-nginx-5f4b8c7d9-qk8zt: PERMISSIVE (no PeerAuthentication applies); chatqna-ui-6c8d9f7b5-m4n2k: PERMISSIVE (no PeerAuthentication applies)
    fix: kubectl opea secure -n chatqna --host <host> (or apply a PeerAuthentication named default with mtls.mode STRICT)
` + docs + `mtls.namespace-strict

Ingress gateway
---------------
[FAIL] a Gateway routes to the application  [ingress.gateway-found]
    no VirtualService routes to a Service in namespace chatqna
    fix: kubectl opea secure -n chatqna --host <host> (an Istio Gateway), or kubectl opea secure -n chatqna --host <host> --gateway-api (a Gateway API Gateway)
` + docs + `ingress.gateway-found

Certificate
-----------
[warn] mesh root certificate valid for long enough  [certificate.mesh-root-expiry]
    no ConfigMap istio-ca-root-cert in namespace chatqna: istiod publishes the mesh root in every namespace it serves
    fix: check that istiod runs and watches this namespace: kubectl logs -n istio-system -l app=istiod
` + docs + `certificate.mesh-root-expiry

Verdict: chatqna is NOT secured as intended (22 passed, 1 warning, 4 failed, 31 skipped)
`,
		err:  "error: 4 checks failed\n",
		code: ExitFailure,
	}
	if diff := cmp.Diff(want, r, cmp.AllowUnexported(result{})); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
