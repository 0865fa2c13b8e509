package plugin

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"
	metadatafake "k8s.io/client-go/metadata/fake"
	k8stesting "k8s.io/client-go/testing"

	auditreport "github.com/opea-project/kubectl-opea/pkg/audit/report"
	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/pkg/clients"
	"github.com/opea-project/kubectl-opea/pkg/clients/clientstest"
)

// fakeCluster is what verify reads, as fakes that record every request.
type fakeCluster struct {
	kube *kubefake.Clientset
	dyn  *dynamicfake.FakeDynamicClient
	meta *metadatafake.FakeMetadataClient
}

// newFakeCluster holds namespace chatqna and serves Istio's and
// cert-manager's APIs, with no other objects. Unlike fakeClusterWith's, its
// access reviews are not answered "allowed".
func newFakeCluster(t *testing.T) fakeCluster {
	t.Helper()
	c := clientstest.New(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "chatqna"}})
	return fakeCluster{kube: c.Kube, dyn: c.Dynamic, meta: c.Metadata}
}

// clients hands out c's clients, with flags answering the kubeconfig
// questions; its signature is ClientsFunc's.
func (c fakeCluster) clients(flags genericclioptions.RESTClientGetter) clients.Getter {
	return c.cluster().Getter(flags)
}

func (c fakeCluster) requests() int {
	return len(c.cluster().Requests())
}

// Nonsense in any of verify's flags is a usage error, exit 2, before
// anything is read or probed; several are reported together.
func TestVerifyRejectsNonsenseFlagsBeforeReadingAnything(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--probe-address", "gateway.example.com"}, []string{`invalid --probe-address "gateway.example.com": want HOST:PORT`}},
		{[]string{"--probe-address", "127.0.0.1:http"}, []string{`invalid --probe-address "127.0.0.1:http": port "http" is not a number from 1 to 65535`}},
		{[]string{"--probe-address", "127.0.0.1:0"}, []string{`port "0" is not a number`}},
		{[]string{"--probe-address", "127.0.0.1:70000"}, []string{`port "70000" is not a number`}},
		{[]string{"--probe-address", ":8443"}, []string{`invalid --probe-address ":8443": the host is missing`}},
		{[]string{"--probe-address", "https://gw:8443"}, []string{`invalid --probe-address "https://gw:8443"`}},
		{[]string{"--probe-address", "::1:8443"}, []string{`invalid --probe-address "::1:8443": want HOST:PORT`}},
		{[]string{"--probe-address", ""}, []string{`invalid --probe-address "": want HOST:PORT`}},
		{[]string{"--probe-address", "127.0.0.1:8443", "--probe-http-address", "127.0.0.1"}, []string{`invalid --probe-http-address "127.0.0.1"`}},
		{[]string{"--probe-http-address", "127.0.0.1:8080"}, []string{"--probe-http-address needs --probe-address"}},
		{[]string{"--wait", "0"}, []string{"invalid --wait 0s: it must be positive"}},
		{[]string{"--wait=-5m"}, []string{"invalid --wait -5m0s"}},
		{[]string{"--wait", "--timeout", "0"}, []string{"invalid --timeout 0s"}},
		{[]string{"--probe-timeout", "0"}, []string{"invalid --probe-timeout 0s"}},
		{[]string{"--probe-via", "tunnel"}, []string{`invalid --probe-via "tunnel": use auto, address, port-forward`}},
		{[]string{"--probe-via", "port-forward", "--probe-address", "127.0.0.1:8443"}, []string{"--probe-via port-forward probes a gateway pod, not --probe-address"}},
		{[]string{"--probe=false", "--probe-via", "port-forward"}, []string{"--probe=false skips the probe --probe-via chooses the way of"}},
		{[]string{"--warn-expiry", "-1h"}, []string{"invalid --warn-expiry -1h0m0s"}},
		{[]string{"--probe-timeout", "-1s"}, []string{"invalid --probe-timeout -1s"}},
		{[]string{"--min-validity", "-1h"}, []string{"invalid --min-validity -1h0m0s"}},
		{[]string{"--port", "0"}, []string{"invalid --port 0"}},
		{[]string{"--port", "70000"}, []string{"invalid --port 70000"}},
		{[]string{"--service", "Chat_QnA"}, []string{`invalid --service "Chat_QnA"`}},
		{[]string{"--service", ""}, []string{`invalid --service ""`}},
		{[]string{"-o", "yml"}, []string{`unsupported output format "yml": use table, short, json or yaml`}},
		{[]string{"-n", "Not_A_Namespace"}, []string{`invalid namespace "Not_A_Namespace"`}},
		{[]string{"--reachability", "--as-principal", "prometheus"}, []string{`invalid --as-principal: "prometheus" is not of the form <trust domain>/ns/<namespace>/sa/<service account>`}},
		{[]string{"--reachability", "--as-principal", "cluster.local/ns/monitoring/sa/*"}, []string{"has a wildcard"}},
		{[]string{"--reachability", "--as-principal", "spiffe://cluster.local/ns/monitoring/sa/prometheus"}, []string{`invalid --as-principal: "spiffe://cluster.local/ns/monitoring/sa/prometheus" is not of the form`}},
		{[]string{"--reachability", "--as-principal", "cluster.local/ns/a/sa/b", "--as-principal", "cluster.local/ns/a/sa/b"}, []string{"--as-principal cluster.local/ns/a/sa/b is given twice"}},
		{[]string{"--as-principal", "cluster.local/ns/a/sa/b"}, []string{"--as-principal adds a column to the reachability matrix: use it with --reachability, or with -o json or yaml"}},
		{[]string{"--reachability", "-o", "json"}, []string{"--reachability prints a table: leave out -o json"}},
		{[]string{"--reachability", "-o", "short"}, []string{"--reachability prints a table: leave out -o short"}},
		{[]string{"--reachability", "-A"}, []string{"--reachability prints one namespace's matrix"}},
		{[]string{"--wait", "0", "--probe-address", "x", "-o", "xml"}, []string{"invalid --wait 0s", `invalid --probe-address "x"`, `unsupported output format "xml"`}},
	} {
		cluster := newFakeCluster(t)
		r := run(t, cluster.clients, append([]string{"verify", "-n", "chatqna"}, tc.args...)...)
		if r.code != ExitUsage {
			t.Errorf("%v: exit %d, want %d (stderr %q)", tc.args, r.code, ExitUsage, r.err)
		}
		for _, want := range append(tc.want, "See 'kubectl opea verify --help' for usage") {
			if !strings.Contains(r.err, want) {
				t.Errorf("%v: stderr lacks %q:\n%s", tc.args, want, r.err)
			}
		}
		if r.out != "" || cluster.requests() != 0 {
			t.Errorf("%v: %d API requests made, stdout %q", tc.args, cluster.requests(), r.out)
		}
	}

	// The same fakes do get read when the flags make sense.
	cluster := newFakeCluster(t)
	if r := run(t, cluster.clients, "verify", "-n", "chatqna", "--wait", "1ns", "--probe-address", "[::1]:8443", "--probe-http-address", "localhost:8080", "--service", "chatqna-nginx", "--port", "80"); r.code == ExitUsage || cluster.requests() == 0 {
		t.Errorf("valid flags: exit %d, %d API requests\n%s", r.code, cluster.requests(), r.err)
	}
}

// A user who may read only in the application namespace gets every check
// that could run, the list of what it may not read, and exit code 3; the
// API server's refusals are not dumped.
func TestVerifyListsMissingPermissionsAndExitsThree(t *testing.T) {
	cluster := newFakeCluster(t)
	refuse := func(a k8stesting.Action) (bool, runtime.Object, error) {
		switch a.GetResource().Resource {
		case "version", "group", "resource": // discovery is open to all
			return false, nil, nil
		}
		if a.GetNamespace() != "" {
			return false, nil, nil
		}
		return true, nil, apierrors.NewForbidden(a.GetResource().GroupResource(), "", errors.New(`User "limited" cannot list resource`))
	}
	cluster.kube.PrependReactor("*", "*", refuse)
	cluster.dyn.PrependReactor("*", "*", refuse)

	table := run(t, cluster.clients, "verify", "-n", "chatqna")
	if table.code != ExitIncomplete {
		t.Errorf("exit %d, want %d\n%s%s", table.code, ExitIncomplete, table.out, table.err)
	}
	wantEnd := "\nyou lack permissions to read:\n" +
		"  list authorizationpolicies.security.istio.io in every namespace\n" +
		"  list clusterrolebindings.rbac.authorization.k8s.io\n" +
		"  list clusterroles.rbac.authorization.k8s.io\n" +
		"  list configmaps in every namespace\n" +
		"  list daemonsets.apps in every namespace\n" +
		"  list deployments.apps in every namespace\n" +
		"  list destinationrules.networking.istio.io in every namespace\n" +
		"  list gateways.networking.istio.io in every namespace\n" +
		"  get namespaces \"chatqna\"\n" +
		"  list peerauthentications.security.istio.io in every namespace\n" +
		"  list requestauthentications.security.istio.io in every namespace\n" +
		"  list services in every namespace\n" +
		"  list virtualservices.networking.istio.io in every namespace\n" +
		"fix: " + snapshot.PermissionHint + "\n"
	if !strings.HasSuffix(table.out, wantEnd) {
		t.Errorf("the report does not end with the missing permissions:\n%s\nwant the end:\n%s", table.out, wantEnd)
	}
	for _, want := range []string{"[ok]   no pod opted out or running a sidecar", "[?]    istiod running (not run: you may not list deployments.apps in every namespace)",
		"Verdict: chatqna could NOT be fully verified"} {
		if !strings.Contains(table.out, want) {
			t.Errorf("the report lacks %q:\n%s", want, table.out)
		}
	}
	if strings.Contains(table.out+table.err, "cannot list resource") || !strings.HasPrefix(table.err, "error: ") || strings.Count(table.err, "\n") != 1 {
		t.Errorf("stderr: %q", table.err)
	}

	js := run(t, cluster.clients, "verify", "-n", "chatqna", "-o", "json")
	var report auditreport.Report
	if err := json.Unmarshal([]byte(js.out), &report); err != nil {
		t.Fatalf("-o json: %v\n%s", err, js.out)
	}
	if js.code != ExitIncomplete || report.Success || report.Summary.Unknown == 0 || len(report.MissingPermissions) != 13 {
		t.Errorf("-o json: exit %d, success %v, summary %+v, %d missing permissions", js.code, report.Success, report.Summary, len(report.MissingPermissions))
	}
}
