package plugin

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/opea-project/kubectl-opea/pkg/desired"
	"github.com/opea-project/kubectl-opea/pkg/discover"
	"github.com/opea-project/kubectl-opea/pkg/secure"
)

func TestSecureRejectsBadAllowPrincipals(t *testing.T) {
	kubeconfig := writeKubeconfig(t) // its server is unreachable: usage errors come first
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--allow-principal", "cluster.local/ns/monitoring/sa/prometheus"},
			"--allow-principal needs --lockdown: it admits a caller to a namespace the lockdown closes"},
		{[]string{"--lockdown=false", "--allow-principal", "cluster.local/ns/monitoring/sa/prometheus"}, "--allow-principal needs --lockdown"},
		{[]string{"--lockdown", "--allow-principal", "monitoring/prometheus"},
			`invalid --allow-principal "monitoring/prometheus" is not of the form <trust domain>/ns/<namespace>/sa/<service account>, e.g. cluster.local/ns/monitoring/sa/prometheus`},
		{[]string{"--lockdown", "--allow-principal", "cluster.local/ns/monitoring/sa/*"}, "has a wildcard"},
		{[]string{"--lockdown", "--allow-principal", "spiffe://cluster.local/ns/m/sa/p"}, "is not of the form"},
	} {
		r := run(t, nil, append([]string{"--kubeconfig", kubeconfig, "secure", "-n", "chatqna", "--host", "chatqna.example.com"}, tc.args...)...)
		if r.code != ExitUsage || !strings.Contains(r.err, tc.want) {
			t.Errorf("%v: exit %d, want %d with %q; stderr:\n%s", tc.args, r.code, ExitUsage, tc.want, r.err)
		}
	}
}

func TestSecureHelpShowsTheLockdown(t *testing.T) {
	r := run(t, nil, "secure", "--help")
	for _, want := range []string{
		"kubectl opea secure -n chatqna --host chatqna.example.com --lockdown \\\n    --allow-principal cluster.local/ns/monitoring/sa/prometheus",
		"kubectl opea secure -n chatqna --host chatqna.example.com --lockdown=false",
		"--allow-principal stringArray",
	} {
		if !strings.Contains(r.out, want) {
			t.Errorf("help lacks %q:\n%s", want, r.out)
		}
	}
}

// lockdownPods are pods of the ChatQnA Services (each Service's app
// label), with service accounts, and the TLS Secret the tests serve.
func lockdownPods() []runtime.Object {
	pod := func(app, serviceAccount string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "chatqna", Name: app + "-0", Labels: map[string]string{"app": app}},
			Spec: corev1.PodSpec{ServiceAccountName: serviceAccount}}
	}
	return []runtime.Object{pod("chatqna-nginx", "chatqna-nginx"), pod("chatqna", ""), pod("chatqna-ui", ""),
		tlsSecret("istio-ingress", "chatqna-tls", nil)}
}

func TestSecureLockdownDryRun(t *testing.T) {
	c := fakeClusterWith(t, chatQnA(lockdownPods()...)...)
	r := runOn(t, c, "secure", "-n", "chatqna", "--host", "chatqna.example.com", "--tls-secret", "chatqna-tls", "--dry-run=client", "--lockdown",
		"--allow-principal", "cluster.local/ns/monitoring/sa/prometheus", "-o", "name")
	wantOut := "namespace/chatqna\n" +
		"peerauthentication.security.istio.io/default\n" +
		"gateway.networking.istio.io/opea-ingress\n" +
		"virtualservice.networking.istio.io/opea-ingress\n" +
		"authorizationpolicy.security.istio.io/opea-allow-ingress\n" +
		"authorizationpolicy.security.istio.io/opea-allow-app\n" +
		"authorizationpolicy.security.istio.io/opea-deny-by-default\n"
	if r.code != 0 || r.out != wantOut {
		t.Errorf("exit %d, stdout (-want +got):\n%s\nstderr:\n%s", r.code, cmp.Diff(wantOut, r.out), r.err)
	}

	r = runOn(t, c, "secure", "-n", "chatqna", "--host", "chatqna.example.com", "--tls-secret", "chatqna-tls", "--dry-run=client", "--lockdown", "-o", "yaml")
	for _, want := range []string{
		"    - from:\n      - source:\n          principals:\n          - cluster.local/ns/istio-ingress/sa/default\n      to:\n      - operation:\n          ports:\n          - \"8080\"\n    selector:\n      matchLabels:\n        app: chatqna-nginx\n",
		"          principals:\n          - cluster.local/ns/chatqna/sa/chatqna-nginx\n          - cluster.local/ns/chatqna/sa/default\n",
	} {
		if !strings.Contains(r.out, want) {
			t.Errorf("-o yaml lacks %q:\n%s", want, r.out)
		}
	}
}

// --lockdown=false lists the lockdown's policies as deleted; without the
// flag they are applied again.
func TestSecureLockdownFalseDryRun(t *testing.T) {
	policy := func(name string) runtime.Object {
		return unstructuredObject("security.istio.io/v1", "AuthorizationPolicy", "chatqna", name, ownLabels("chatqna"), nil)
	}
	more := append(lockdownPods(), policy("opea-allow-ingress"), policy("opea-allow-app"), policy("opea-deny-by-default"),
		unstructuredObject("security.istio.io/v1", "AuthorizationPolicy", "chatqna", "team-allow", nil, nil))
	c := fakeClusterWith(t, chatQnA(more...)...)
	args := []string{"secure", "-n", "chatqna", "--host", "chatqna.example.com", "--tls-secret", "chatqna-tls", "--dry-run=client"}

	r := runOn(t, c, append(args, "--lockdown=false")...)
	wantEnd := "virtualservice.networking.istio.io/opea-ingress serverside-applied (dry run)\n" +
		"authorizationpolicy.security.istio.io/opea-deny-by-default deleted (dry run)\n" +
		"authorizationpolicy.security.istio.io/opea-allow-app deleted (dry run)\n" +
		"authorizationpolicy.security.istio.io/opea-allow-ingress deleted (dry run)\n"
	if r.code != 0 || !strings.HasSuffix(r.out, wantEnd) || strings.Contains(r.out, "team-allow") {
		t.Errorf("--lockdown=false: exit %d, stdout:\n%s\nwant the end:\n%s\nstderr:\n%s", r.code, r.out, wantEnd, r.err)
	}

	r = runOn(t, c, args...)
	if r.code != 0 || !strings.HasSuffix(r.out, "authorizationpolicy.security.istio.io/opea-deny-by-default serverside-applied (dry run)\n") ||
		!strings.Contains(r.err, "Keeping the lockdown an earlier secure --lockdown made in namespace chatqna") {
		t.Errorf("without --lockdown: exit %d, stdout:\n%s\nstderr:\n%s", r.code, r.out, r.err)
	}
}

// After secure --lockdown, the next steps say how to admit another caller,
// in the mesh's trust domain and with the callers admitted so far.
func TestSecureNextStepsOfTheLockdown(t *testing.T) {
	var out bytes.Buffer
	o := &SecureOptions{Request: secure.Request{Namespace: "chatqna"}, IOStreams: genericiooptions.IOStreams{Out: &out}}
	o.printNextSteps(&secure.Plan{Params: desired.Params{Hosts: []string{"chatqna.example.com"}, GatewayNamespace: "istio-ingress", Certificates: desired.ExistingSecret,
		Lockdown: &desired.Lockdown{TrustDomain: "corp.example", AllowPrincipals: []string{"corp.example/ns/tools/sa/probe"}}},
		Gateway: discover.Gateway{Namespace: "istio-ingress", Service: "istio-ingress", Address: "203.0.113.7"}})
	want := `  # only the application's own workloads, the ingress gateway and --allow-principal callers may call its pods;
  # to admit another caller (e.g. a Prometheus), run secure again with the same flags and
  #   --lockdown --allow-principal corp.example/ns/tools/sa/probe --allow-principal corp.example/ns/monitoring/sa/prometheus
  # then check again with kubectl opea verify -n chatqna (--lockdown=false removes the lockdown)
`
	if !strings.HasSuffix(out.String(), want) {
		t.Errorf("next steps:\n%s\nwant the end:\n%s", out.String(), want)
	}
}
