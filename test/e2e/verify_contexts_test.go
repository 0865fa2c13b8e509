package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/opea-project/kubectl-opea/pkg/audit/check"
	auditreport "github.com/opea-project/kubectl-opea/pkg/audit/report"
	"github.com/opea-project/kubectl-opea/pkg/plugin"
	"github.com/opea-project/kubectl-opea/test/controlplane"
	"github.com/opea-project/kubectl-opea/test/fixtures"
)

// mirrored are the resources copied from the shared cluster to a second
// one, in an order that creates what an object needs before it: the
// ServiceAccounts before the pods that run as them.
var mirrored = []schema.GroupVersionResource{
	{Version: "v1", Resource: "serviceaccounts"},
	{Version: "v1", Resource: "configmaps"},
	{Version: "v1", Resource: "secrets"},
	{Version: "v1", Resource: "services"},
	{Version: "v1", Resource: "pods"},
	{Group: "apps", Version: "v1", Resource: "deployments"},
	{Group: "apps", Version: "v1", Resource: "daemonsets"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"},
	{Group: "networking.istio.io", Version: "v1", Resource: "gateways"},
	{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"},
	{Group: "networking.istio.io", Version: "v1", Resource: "destinationrules"},
	{Group: "security.istio.io", Version: "v1", Resource: "peerauthentications"},
	{Group: "security.istio.io", Version: "v1", Resource: "authorizationpolicies"},
	{Group: "cert-manager.io", Version: "v1", Resource: "issuers"},
	{Group: "cert-manager.io", Version: "v1", Resource: "certificates"},
}

// startSecondCluster starts etcd and kube-apiserver only, with the CRDs:
// no controller runs there, so what the test writes, status included,
// stays as written.
func startSecondCluster(t *testing.T) *controlplane.ControlPlane {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cp, err := controlplane.Start(ctx, controlplane.Options{APIServerOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cp.Stop(); err != nil {
			t.Errorf("stopping the second cluster: %v", err)
		}
	})
	return cp
}

// mirrorNamespaces writes into the cluster at to what the shared cluster
// holds in namespaces: the namespaces with their labels, and each object
// of the mirrored resources with its status, as the controllers and
// istiod wrote them there. Secrets other than names are left out (istiod's
// CA key stays where it is). Cluster-assigned fields (UIDs, a Service's
// cluster IP and node ports) are assigned anew.
func mirrorNamespaces(t *testing.T, to *controlplane.ControlPlane, namespaces []string, secrets map[string]bool) {
	t.Helper()
	ctx := context.Background()
	from := adminDynamic(t)
	dst, err := dynamic.NewForConfig(to.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	nsGVR := schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	for _, ns := range namespaces {
		src, err := from.Resource(nsGVR).Get(ctx, ns, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		copyObject(t, dst.Resource(nsGVR), src)
	}
	for _, gvr := range mirrored {
		for _, ns := range namespaces {
			list, err := from.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				t.Fatalf("listing %s in %s: %v", gvr.Resource, ns, err)
			}
			for i := range list.Items {
				obj := &list.Items[i]
				if gvr.Resource == "secrets" && !secrets[ns+"/"+obj.GetName()] {
					continue
				}
				if gvr.Resource == "configmaps" && obj.GetName() == "kube-root-ca.crt" {
					continue // the other cluster's own CA
				}
				copyObject(t, dst.Resource(gvr).Namespace(ns), obj)
			}
		}
	}
}

// copyObject creates obj through client, then writes its status.
func copyObject(t *testing.T, client dynamic.ResourceInterface, obj *unstructured.Unstructured) {
	t.Helper()
	ctx := context.Background()
	out := obj.DeepCopy()
	for _, field := range []string{"uid", "resourceVersion", "managedFields", "ownerReferences", "generation", "creationTimestamp"} {
		unstructured.RemoveNestedField(out.Object, "metadata", field)
	}
	if out.GetKind() == "Service" {
		unstructured.RemoveNestedField(out.Object, "spec", "clusterIP")
		unstructured.RemoveNestedField(out.Object, "spec", "clusterIPs")
		if ports, ok, _ := unstructured.NestedSlice(out.Object, "spec", "ports"); ok {
			for _, p := range ports {
				delete(p.(map[string]interface{}), "nodePort")
			}
			_ = unstructured.SetNestedSlice(out.Object, ports, "spec", "ports")
		}
	}
	created, err := client.Create(ctx, out, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("copying %s %s/%s: %v", obj.GetKind(), obj.GetNamespace(), obj.GetName(), err)
	}
	status, ok := obj.Object["status"]
	if !ok {
		return
	}
	created.Object["status"] = status
	if _, err := client.UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsMethodNotSupported(err) {
		t.Fatalf("copying the status of %s %s/%s: %v", obj.GetKind(), obj.GetNamespace(), obj.GetName(), err)
	}
}

// closedPort is a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return port
}

// writeContextKubeconfig writes a kubeconfig file of one context, name, for
// the admin of cp, or for a server that is down when cp is nil.
func writeContextKubeconfig(t *testing.T, name string, cp *controlplane.ControlPlane, downPort int) string {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	if cp != nil {
		cfg.Clusters[name] = &clientcmdapi.Cluster{Server: cp.Host, CertificateAuthorityData: cp.CAData}
		cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: cp.AdminConfig().BearerToken}
	} else {
		cfg.Clusters[name] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:" + strconv.Itoa(downPort), InsecureSkipTLSVerify: true}
		cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: "unused"}
	}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name, Namespace: "default"}
	cfg.CurrentContext = name
	path := filepath.Join(t.TempDir(), name+".kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// opeaWithEnvKubeconfig runs kubectl opea as opeaWith does, reading the
// kubeconfig(s) $KUBECONFIG names, as kubectl would.
func opeaWithEnvKubeconfig(t *testing.T, args ...string) opeaResult {
	t.Helper()
	var out, errOut bytes.Buffer
	streams := genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}
	cmd := plugin.NewCmdOpea(streams)
	cmd.SetArgs(append([]string{"--cache-dir", filepath.Join(workDir, "cache")}, args...))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	err := cmd.ExecuteContext(ctx)
	plugin.PrintError(&errOut, err)
	r := opeaResult{stdout: out.String(), stderr: errOut.String(), code: plugin.ExitCode(err)}
	if strings.Contains(r.stdout+r.stderr, "PRIVATE KEY") {
		t.Errorf("kubectl opea %v printed key material", args)
	}
	return r
}

// contextRow is what the test asserts of a context in verify's document.
type contextRow struct {
	Context, Verdict string
	Namespaces       int
	Error            string
}

// namespaceRow is what the test asserts of a namespace in verify's document.
type namespaceRow struct {
	Context, Namespace, Verdict, Entry string
	Failed                             []string
}

// Four contexts in one kubeconfig made of four files: the shared cluster
// and a second one holding the same secured application (its objects
// written there as the shared cluster's controllers and istiod made them),
// a third whose copy of the application left the mesh, and a server that is
// down. verify -A --all-contexts reports each, exits 1 (the failing
// namespace), gives the same document with --parallel 1 and 4, and warns
// once the second cluster's mesh root is not the others'.
func TestVerifyContextsAcrossFourClusters(t *testing.T) {
	ctx := context.Background()
	app := newSecuredAppWithOwnSecret(t)
	fleet := "ctx-" + app.ns
	labelForFleet(t, app.ns, fleet)

	second, third := startSecondCluster(t), startSecondCluster(t)
	namespaces := []string{fixtures.IstioNamespace, gatewayNamespace, app.ns}
	secrets := map[string]bool{gatewayNamespace + "/" + app.names.TLSSecret: true}
	mirrorNamespaces(t, second, namespaces, secrets)
	mirrorNamespaces(t, third, namespaces, secrets)
	thirdKube, err := kubernetes.NewForConfig(third.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	// The third cluster's copy of the application leaves ambient mode.
	leave := []byte(`{"metadata":{"labels":{"istio.io/dataplane-mode":null}}}`)
	if _, err := thirdKube.CoreV1().Namespaces().Patch(ctx, app.ns, "application/merge-patch+json", leave, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}

	down := closedPort(t)
	t.Setenv("KUBECONFIG", strings.Join([]string{
		writeContextKubeconfig(t, "main", cluster, 0),
		writeContextKubeconfig(t, "second", second, 0),
		writeContextKubeconfig(t, "third", third, 0),
		writeContextKubeconfig(t, "down", nil, down),
	}, string(os.PathListSeparator)))
	selector := fleetLabel + "=" + fleet
	verify := func(args ...string) opeaResult {
		return opeaWithEnvKubeconfig(t, append([]string{"verify", "-A", "-l", selector, "--probe=false", "--context-timeout", "1m"}, args...)...)
	}

	one := verify("--all-contexts", "-o", "json", "--parallel", "1")
	four := verify("--all-contexts", "-o", "json", "--parallel", "4")
	if one.stdout != four.stdout {
		t.Errorf("--parallel 1 and --parallel 4 give different documents (-1 +4):\n%s", cmp.Diff(one.stdout, four.stdout))
	}
	matchesOutputSchema(t, one.stdout)
	var doc auditreport.ContextsReport
	if err := json.Unmarshal([]byte(one.stdout), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s\n%s", err, one.stdout, one.stderr)
	}
	if one.code != 1 || doc.Success {
		t.Errorf("exit %d, success %v; want 1 (a namespace failed) and false\n%s", one.code, doc.Success, one.stderr)
	}
	downError := "cannot reach the cluster at https://127.0.0.1:" + strconv.Itoa(down) + ": "
	var contexts []contextRow
	for _, c := range doc.Contexts {
		row := contextRow{Context: c.Context, Verdict: c.Verdict, Namespaces: c.Namespaces}
		if strings.HasPrefix(c.Error, downError) && strings.Contains(c.Error, "connection refused") {
			row.Error = downError + "... connection refused"
		} else {
			row.Error = c.Error
		}
		contexts = append(contexts, row)
	}
	wantContexts := []contextRow{
		{Context: "down", Verdict: "could not run", Error: downError + "... connection refused"},
		{Context: "main", Verdict: "secured", Namespaces: 1},
		{Context: "second", Verdict: "secured", Namespaces: 1},
		{Context: "third", Verdict: "failing", Namespaces: 1},
	}
	if diff := cmp.Diff(wantContexts, contexts); diff != "" {
		t.Errorf("contexts (-want +got):\n%s", diff)
	}
	var rows []namespaceRow
	for _, ns := range doc.Namespaces {
		rows = append(rows, namespaceRow{Context: ns.Context, Namespace: ns.Namespace, Verdict: ns.Verdict, Entry: ns.EntryService, Failed: failedIDs(ns)})
	}
	wantRows := []namespaceRow{
		{Context: "main", Namespace: app.ns, Verdict: "secured", Entry: "chatqna-nginx"},
		{Context: "second", Namespace: app.ns, Verdict: "secured", Entry: "chatqna-nginx"},
		{Context: "third", Namespace: app.ns, Verdict: "failing", Entry: "chatqna-nginx", Failed: []string{"enrolment.namespace-label"}},
	}
	if diff := cmp.Diff(wantRows, rows); diff != "" {
		t.Errorf("namespaces (-want +got):\n%s", diff)
	}
	wantSummary := auditreport.ContextsSummary{Contexts: 4, CouldNotRun: 1, FleetSummary: auditreport.FleetSummary{Namespaces: 3, Secured: 2, Failing: 1}}
	if doc.Summary != wantSummary {
		t.Errorf("summary %+v, want %+v", doc.Summary, wantSummary)
	}
	if len(doc.FleetChecks) != 1 || doc.FleetChecks[0].ID != "fleet.trust-root" || doc.FleetChecks[0].Result != check.Pass ||
		!strings.HasPrefix(doc.FleetChecks[0].Message, "mesh cluster.local (main, second, third): trust domain cluster.local, root SHA-256 ") {
		t.Errorf("fleet checks: %+v", doc.FleetChecks)
	}

	table := verify("--contexts", "/^(main|second|third|down)$/")
	if table.code != 1 || table.stderr != "error: 1 of 3 OPEA namespaces failed: third/"+app.ns+"; 1 of 4 contexts could not be audited: down\n" {
		t.Errorf("table: exit %d, stderr %q", table.code, table.stderr)
	}
	var got [][]string
	for _, line := range strings.Split(table.stdout, "\n")[:5] {
		f := strings.Fields(line)
		got = append(got, append(f[:3:3], f[len(f)-1]))
	}
	want := [][]string{
		{"CONTEXT", "NAMESPACE", "ENTRY", "CHECKS"},
		{"down", "-", "-", "-"},
		{"main", app.ns, "chatqna-nginx", "-"},
		{"second", app.ns, "chatqna-nginx", "-"},
		{"third", app.ns, "chatqna-nginx", "enrolment.namespace-label"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("table rows (-want +got):\n%s\n%s", diff, table.stdout)
	}
	for _, want := range []string{
		"\ncould not audit:\n  down: " + downError,
		"\nthird/" + app.ns + "\n",
		"[FAIL] namespace enrolled in ambient mode  [enrolment.namespace-label]",
		"\nFleet\n-----\n[ok]   contexts of one mesh share its root certificate and trust domain (mesh cluster.local (main, second, third)",
		"\nVerdict: 2 of 3 OPEA namespaces in 3 contexts secured, 1 NOT secured (third/" + app.ns + "); 1 context could NOT be audited (down)\n",
	} {
		if !strings.Contains(table.stdout, want) {
			t.Errorf("the table lacks %q:\n%s", want, table.stdout)
		}
	}

	// The second cluster's istiod publishes another root: a mesh split in
	// two, with both fingerprints.
	secondKube, err := kubernetes.NewForConfig(second.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	otherRoot, _, _, err := fixtures.IssueTLS([]string{"istiod.istio-system.svc"}, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	root := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: fixtures.IstioNamespace, Name: "istio-ca-root-cert"}, Data: map[string]string{"root-cert.pem": string(otherRoot)}}
	if _, err := secondKube.CoreV1().ConfigMaps(fixtures.IstioNamespace).Update(ctx, root, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	short := verify("--contexts", "main,second", "-o", "short")
	wantShort := "main: " + app.ns + ": secured ("
	if short.code != 0 || !strings.HasPrefix(short.stdout, wantShort) || !strings.Contains(short.stdout, "\nsecond: "+app.ns+": secured (") ||
		!strings.Contains(short.stdout, "\nfleet.trust-root: warning: mesh cluster.local: roots differ: main SHA-256 ") ||
		!strings.Contains(short.stdout, ", second SHA-256 ") {
		t.Errorf("-o short: exit %d\n%s%s", short.code, short.stdout, short.stderr)
	}
	fingerprints := strings.SplitN(short.stdout[strings.Index(short.stdout, "roots differ: "):], ", ", 2)
	if len(fingerprints) == 2 && strings.TrimPrefix(fingerprints[0], "roots differ: main SHA-256 ") == strings.TrimSpace(strings.TrimPrefix(fingerprints[1], "second SHA-256 ")) {
		t.Errorf("the two fingerprints are the same: %s", short.stdout)
	}
}
