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
	k8stesting "k8s.io/client-go/testing"

	auditreport "github.com/opea-project/kubectl-opea/pkg/audit/report"
)

// A bare verify audits the context's namespace, here "default": when it
// holds no OPEA application, verify says so in one line and names the
// namespace that holds one, rather than failing every check; exit code 3,
// as for a namespace that does not exist.
func TestVerifyNamespaceWithoutApplication(t *testing.T) {
	defaultNS := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}}
	// A Service of no OPEA release, with no ingress route to it.
	other := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "kubernetes"}}
	const noApp = "error: namespace \"default\" holds no OPEA application (no <release>-nginx Service, no ingress route into it)\n" +
		"  fix: did you mean -n chatqna? (the namespace holding an OPEA application); kubectl opea verify -A verifies them all; " +
		"for an application that is not OPEA's, name its entry Service with --service\n"

	c := fakeClusterWith(t, append(chatQnANotSecured(), defaultNS, other)...)
	table := runOn(t, c, "verify", "--context", "prod-view")
	if table.code != ExitIncomplete || table.err != noApp || table.out != "" {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit 3, no report and:\n%s", table.code, table.out, table.err, noApp)
	}
	js := runOn(t, c, "verify", "--context", "prod-view", "-o", "json")
	var report auditreport.Report
	if err := json.Unmarshal([]byte(js.out), &report); err != nil {
		t.Fatalf("-o json: %v\n%s", err, js.out)
	}
	if js.code != ExitIncomplete || report.Namespace != "default" || report.Success || len(report.Categories) != 0 ||
		!strings.HasPrefix(report.Error, `namespace "default" holds no OPEA application`) {
		t.Errorf("-o json: exit %d, report %+v", js.code, report)
	}

	// Told the entry Service, verify audits whatever the namespace holds.
	named := runOn(t, c, "verify", "--context", "prod-view", "--service", "kubernetes", "-o", "short")
	if named.code != ExitFailure || strings.Contains(named.err, "holds no OPEA application") {
		t.Errorf("--service: exit %d, stderr %q; want the audit, exit 1", named.code, named.err)
	}
}

// A user who may not list Services cannot tell whether the namespace holds
// an application: verify audits it, rather than claim it holds none.
func TestVerifyNamespaceWithoutApplicationUnsearchable(t *testing.T) {
	c := fakeClusterWith(t, append(chatQnANotSecured(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}})...)
	c.kube.PrependReactor("list", "services", func(a k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(a.GetResource().GroupResource(), "", errors.New(`User "limited" cannot list resource`))
	})
	r := runOn(t, c, "verify", "-n", "default", "-o", "short")
	if strings.Contains(r.err, "holds no OPEA application") || !strings.Contains(r.out, "you lack permissions to read") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s\nwant the audit, with the refused list", r.code, r.out, r.err)
	}
}
