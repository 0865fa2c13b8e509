package report

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/opea-project/kubectl-opea/pkg/audit"
	"github.com/opea-project/kubectl-opea/pkg/audit/check"
	"github.com/opea-project/kubectl-opea/pkg/audit/read"
	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/test/testpki"
)

// contextsFixture is three contexts: dev secured, down could not run,
// stage failing; their meshes agree.
func contextsFixture(t *testing.T) *audit.ContextsResult {
	t.Helper()
	s := healthy(t)
	secured := audit.Result{Namespace: "chatqna", Entry: "chatqna-nginx", Outcomes: check.Run(s)}
	broken := healthy(t)
	broken.NamespaceLabels = map[string]string{}
	failing := audit.Result{Namespace: "codegen", Entry: "codegen-nginx", Outcomes: check.Run(broken)}
	root := testpki.MustIssue(t, testpki.Leaf{DNSNames: []string{"istiod"}}).CAPEM
	mesh := snapshot.MeshIdentity{Istiod: true, IstiodNamespace: "istio-system", TrustDomain: "cluster.local", RootCert: string(root)}
	return &audit.ContextsResult{
		Contexts: []audit.ContextResult{
			{Context: "dev", Fleet: &audit.FleetResult{Namespaces: []audit.Result{secured}, Mesh: mesh}},
			{Context: "down", Err: errors.New("cannot reach the cluster at https://127.0.0.1:1: connection refused\n  fix: check --kubeconfig and --context, then 'kubectl cluster-info'")},
			{Context: "stage", Fleet: &audit.FleetResult{Namespaces: []audit.Result{secured, failing}, Mesh: mesh}},
		},
		Checks: check.RunFleet([]check.ContextMesh{{Context: "dev", MeshIdentity: mesh}, {Context: "stage", MeshIdentity: mesh}}),
	}
}

func TestContextsJSONMatchesTheSchema(t *testing.T) {
	f := contextsFixture(t)
	var buf bytes.Buffer
	if err := JSON(&buf, NewContexts(true, "", f)); err != nil {
		t.Fatal(err)
	}
	validateAgainstSchema(t, buf.Bytes())
	for _, want := range []string{
		`"summary": {
    "contexts": 3,
    "couldNotRun": 1,
    "namespaces": 3,
    "secured": 2,
    "failing": 1,
    "incomplete": 0,
    "unreadable": 0
  },`,
		`{
      "context": "down",
      "verdict": "could not run",
      "namespaces": 0,
      "error": "cannot reach the cluster at https://127.0.0.1:1: connection refused\n  fix: check --kubeconfig and --context, then 'kubectl cluster-info'"
    },`,
		`{
      "context": "stage",
      "namespace": "codegen",
      "success": false,`,
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("the document lacks\n%s\n%s", want, buf.String())
		}
	}
	buf.Reset()
	if err := YAML(&buf, NewContexts(false, "", f)); err != nil || !strings.Contains(buf.String(), "- context: stage\n    namespace: codegen\n") {
		t.Errorf("YAML (%v):\n%s", err, buf.String())
	}
}

func TestContextsTableAndShort(t *testing.T) {
	f := contextsFixture(t)
	var table, short bytes.Buffer
	if err := ContextsTable(&table, f, Style{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"CONTEXT   NAMESPACE   ENTRY           VERDICT         PASSED",
		"\ndown      -           -               could not run   -        -          -        -         -\n",
		"\nstage     codegen     codegen-nginx   failing ",
		"\ncould not audit:\n  down: cannot reach the cluster at https://127.0.0.1:1: connection refused\n      fix: check --kubeconfig",
		"\nstage/codegen\n=============\nEnrolment\n---------\n[FAIL] namespace enrolled in ambient mode  [enrolment.namespace-label]\n",
		"\nFleet\n-----\n[ok]   contexts of one mesh share its root certificate and trust domain (mesh cluster.local (dev, stage): trust domain cluster.local, root SHA-256 ",
		"\nVerdict: 2 of 3 OPEA namespaces in 2 contexts secured, 1 NOT secured (stage/codegen); 1 context could NOT be audited (down)\n",
	} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("the table lacks %q:\n%s", want, table.String())
		}
	}
	if strings.Contains(table.String(), "dev/chatqna\n") {
		t.Errorf("a secured namespace has a section:\n%s", table.String())
	}
	if err := ContextsShort(&short, f); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(short.String(), "\n"), "\n")
	want := []string{"dev: chatqna: secured", "down: could not run: cannot reach the cluster at https://127.0.0.1:1: connection refused", "stage: chatqna: secured", "stage: codegen: failing: 1 check failed: enrolment.namespace-label"}
	if len(lines) != len(want) {
		t.Fatalf("-o short:\n%s", short.String())
	}
	for i := range want {
		if !strings.HasPrefix(lines[i], want[i]) {
			t.Errorf("line %d: %q, want %q...", i, lines[i], want[i])
		}
	}
}

// A context where -A finds no application is a row of its own, not an
// error; its leftovers name the context in their fix.
func TestContextsWithoutApplication(t *testing.T) {
	f := contextsFixture(t)
	f.Contexts = append(f.Contexts, audit.ContextResult{Context: "empty", Fleet: &audit.FleetResult{
		Leftovers: []read.Leftover{{Namespace: "gone", Objects: []string{"certificate.cert-manager.io/opea-gone-tls in istio-ingress"}, Fix: "kubectl opea unsecure -n gone"}}}})
	var table, short bytes.Buffer
	if err := ContextsTable(&table, f, Style{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"\nempty     -           -               no application   -",
		"\nin empty, kubectl opea secure left objects for namespaces that no longer exist (cert-manager keeps renewing their certificates):\n  gone: certificate.cert-manager.io/opea-gone-tls in istio-ingress\n    fix: kubectl opea --context empty unsecure -n gone\n",
	} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("the table lacks %q:\n%s", want, table.String())
		}
	}
	if err := ContextsShort(&short, f); err != nil {
		t.Fatal(err)
	}
	if want := "\nempty: gone: deleted, but kubectl opea secure's 1 object remain: kubectl opea --context empty unsecure -n gone\n"; !strings.Contains(short.String(), want) {
		t.Errorf("-o short lacks %q:\n%s", want, short.String())
	}
	if f.Verdict() != audit.VerdictFailing {
		t.Errorf("verdict %s", f.Verdict())
	}
}
