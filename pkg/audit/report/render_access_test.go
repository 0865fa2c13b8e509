package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/opea-project/kubectl-opea/pkg/audit"
	"github.com/opea-project/kubectl-opea/pkg/audit/check"
	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
)

// The table and the JSON report list the refused reads once, in order, at
// the end; success is false; the summary counts the checks that did not run.
func TestReportsListMissingPermissionsOnce(t *testing.T) {
	s := healthy(t)
	deployments := snapshot.Access{Verb: "list", Group: "apps", Resource: "deployments", AllNamespaces: true}
	secret := snapshot.Access{Verb: "get", Resource: "secrets", Name: "opea-chatqna-tls", Namespace: "istio-ingress"}
	s.Unread = map[snapshot.Input][]snapshot.Access{snapshot.InputSecrets: {secret}, snapshot.InputIstiod: {deployments}, snapshot.InputMeshConfig: {deployments}}
	outcomes := check.Run(s)
	summary := check.Summarize(outcomes)
	if summary.Failed != 0 || summary.Unknown == 0 || !check.Incomplete(outcomes) || check.Failed(outcomes) {
		t.Fatalf("summary %+v", summary)
	}

	var table, short bytes.Buffer
	if err := Table(&table, &audit.Result{Namespace: "chatqna", Outcomes: outcomes, Forbidden: s.Forbidden()}, Style{}, false); err != nil {
		t.Fatal(err)
	}
	if err := Table(&short, &audit.Result{Namespace: "chatqna", Outcomes: outcomes, Forbidden: s.Forbidden()}, Style{}, true); err != nil {
		t.Fatal(err)
	}
	block := "\nyou lack permissions to read:\n" +
		"  list deployments.apps in every namespace\n" +
		"  get secrets \"opea-chatqna-tls\" in namespace istio-ingress\n" +
		"fix: " + snapshot.PermissionHint + "\n"
	verdict := "Verdict: chatqna could NOT be fully verified: "
	for name, out := range map[string]string{"table": table.String(), "short": short.String()} {
		if !strings.HasSuffix(out, block) || strings.Count(out, "you lack permissions") != 1 || !strings.Contains(out, verdict) {
			t.Errorf("-o %s does not end with the one list of missing permissions:\n%s", name, out)
		}
	}
	if want := "[?]    istiod running (not run: you may not list deployments.apps in every namespace)\n"; !strings.Contains(table.String(), want) {
		t.Errorf("table lacks %q:\n%s", want, table.String())
	}
	if strings.Contains(short.String(), "[?]") {
		t.Errorf("-o short lists the checks that did not run one by one:\n%s", short.String())
	}

	var buf bytes.Buffer
	if err := JSON(&buf, New(&audit.Result{Namespace: "chatqna", Outcomes: outcomes, Forbidden: s.Forbidden()})); err != nil {
		t.Fatal(err)
	}
	validateAgainstSchema(t, buf.Bytes())
	var report Report
	if err := json.Unmarshal(buf.Bytes(), &report); err != nil {
		t.Fatal(err)
	}
	if report.Success || report.Summary.Unknown != summary.Unknown {
		t.Errorf("success %v, summary %+v", report.Success, report.Summary)
	}
	if diff := cmp.Diff([]snapshot.Access{deployments, secret}, report.MissingPermissions); diff != "" {
		t.Errorf("missingPermissions (-want +got):\n%s", diff)
	}
}
