package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/santhosh-tekuri/jsonschema/v6"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/opea-project/kubectl-opea/pkg/audit"
	"github.com/opea-project/kubectl-opea/pkg/audit/check"
)

// validateAgainstSchema checks data against docs/verify-output.schema.json.
func validateAgainstSchema(t *testing.T, data []byte) {
	t.Helper()
	compiler := jsonschema.NewCompiler()
	schema, err := compiler.Compile("../../../docs/verify-output.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.Validate(doc); err != nil {
		t.Errorf("verify -o json does not match the documented schema: %v\n%s", err, data)
	}
}

func TestJSONReportMatchesTheSchema(t *testing.T) {
	s := healthy(t)
	brokenCases[0].breakIt(t, s)
	var buf bytes.Buffer
	if err := JSON(&buf, New(&audit.Result{Namespace: "chatqna", Outcomes: check.Run(s), Forbidden: s.Forbidden()})); err != nil {
		t.Fatal(err)
	}
	validateAgainstSchema(t, buf.Bytes())
	var report Report
	if err := json.Unmarshal(buf.Bytes(), &report); err != nil || report.Success || report.Summary.Failed != 1 {
		t.Errorf("report = %+v (%v)", report.Summary, err)
	}

	buf.Reset()
	if err := JSON(&buf, Report{Namespace: "chatqna", Categories: []ReportCategory{}, Error: "cannot reach the cluster"}); err != nil {
		t.Fatal(err)
	}
	validateAgainstSchema(t, buf.Bytes())
}

func TestTableAndShortOutput(t *testing.T) {
	s := healthy(t)
	s.NamespaceLabels = map[string]string{}
	outcomes := check.Run(s)
	var table, short, glyphs bytes.Buffer
	if err := Table(&table, &audit.Result{Namespace: "chatqna", Outcomes: outcomes}, Style{}, false); err != nil {
		t.Fatal(err)
	}
	if err := Table(&short, &audit.Result{Namespace: "chatqna", Outcomes: outcomes}, Style{}, true); err != nil {
		t.Fatal(err)
	}
	if err := Table(&glyphs, &audit.Result{Namespace: "chatqna", Outcomes: outcomes}, Style{Glyphs: true}, true); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Cluster\n-------\n[ok]   Kubernetes API reachable (Kubernetes v1.37.2)\n",
		"[FAIL] namespace enrolled in ambient mode  [enrolment.namespace-label]\n    namespace chatqna lacks istio.io/dataplane-mode=ambient: its pods are not in the mesh\n    fix: kubectl label namespace chatqna istio.io/dataplane-mode=ambient\n    see: " + DocsURL + "enrolment.namespace-label\n",
		"Verdict: chatqna is NOT secured as intended (56 passed, 0 warnings, 1 failed, 1 skipped)\n",
	} {
		if !bytes.Contains(table.Bytes(), []byte(want)) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	wantShort := "Enrolment\n---------\n[FAIL] namespace enrolled in ambient mode  [enrolment.namespace-label]\n" +
		"    namespace chatqna lacks istio.io/dataplane-mode=ambient: its pods are not in the mesh\n" +
		"    fix: kubectl label namespace chatqna istio.io/dataplane-mode=ambient\n" +
		"    see: " + DocsURL + "enrolment.namespace-label\n\n" +
		"Verdict: chatqna is NOT secured as intended (56 passed, 0 warnings, 1 failed, 1 skipped)\n"
	if short.String() != wantShort {
		t.Errorf("short output:\n%s\nwant:\n%s", short.String(), wantShort)
	}
	if !bytes.Contains(glyphs.Bytes(), []byte("× namespace enrolled")) || bytes.Contains(glyphs.Bytes(), []byte("\033[")) {
		t.Errorf("glyph style without colour:\n%s", glyphs.String())
	}
}

// -o yaml is the JSON document: it converts back to the same JSON, so it
// matches the schema too, even where a message reads as another YAML type
// or spans lines.
func TestYAMLReportIsTheJSONDocument(t *testing.T) {
	s := healthy(t)
	brokenCases[0].breakIt(t, s)
	report := New(&audit.Result{Namespace: "chatqna", Outcomes: check.Run(s), Forbidden: s.Forbidden()})
	odd := []string{"true", "0755", "1e3", "null", "", "a: b", "- x", "two\nlines", "#"}
	for i, msg := range odd {
		report.Categories[0].Checks[i%len(report.Categories[0].Checks)].Message = msg
	}
	report.Categories[0].Checks = append(report.Categories[0].Checks, ReportCheck{ID: "cluster.odd-messages", Description: "d", Result: check.Pass, Docs: DocsURL, Message: strings.Join(odd, " ")})
	var js, ym bytes.Buffer
	if err := JSON(&js, report); err != nil {
		t.Fatal(err)
	}
	if err := YAML(&ym, report); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ym.String(), "namespace: chatqna\nsuccess: false\n") {
		t.Errorf("the YAML does not keep the JSON's field order:\n%s", ym.String())
	}
	converted, err := sigsyaml.YAMLToJSON(ym.Bytes())
	if err != nil {
		t.Fatalf("%v\n%s", err, ym.String())
	}
	validateAgainstSchema(t, converted)
	var fromJSON, fromYAML any
	if err := json.Unmarshal(js.Bytes(), &fromJSON); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(converted, &fromYAML); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fromJSON, fromYAML); diff != "" {
		t.Errorf("-o yaml differs from -o json (-json +yaml):\n%s", diff)
	}
}
