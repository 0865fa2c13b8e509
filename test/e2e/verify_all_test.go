package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/rest"

	"github.com/opea-project/kubectl-opea/pkg/audit"
	auditcheck "github.com/opea-project/kubectl-opea/pkg/audit/check"
	auditreport "github.com/opea-project/kubectl-opea/pkg/audit/report"
	"github.com/opea-project/kubectl-opea/pkg/clients"
	"github.com/opea-project/kubectl-opea/pkg/ownership"
	"github.com/opea-project/kubectl-opea/pkg/plugin"
	"github.com/opea-project/kubectl-opea/test/controlplane"
)

// fleetLabel marks the namespaces of one -A test, so that the audit sees
// them and not the other tests' namespaces on the shared cluster.
const fleetLabel = "opea-e2e-fleet"

// labelForFleet puts ns in the fleet named by id.
func labelForFleet(t *testing.T, ns, id string) {
	t.Helper()
	patch := fmt.Sprintf(`{"metadata":{"labels":{%q:%q}}}`, fleetLabel, id)
	if _, err := adminKube(t).CoreV1().Namespaces().Patch(context.Background(), ns, "application/merge-patch+json", []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

func fleetJSON(t *testing.T, r opeaResult) auditreport.FleetReport {
	t.Helper()
	var report auditreport.FleetReport
	if err := json.Unmarshal([]byte(r.stdout), &report); err != nil {
		t.Fatalf("verify -A -o json is not JSON: %v\n%s\n%s", err, r.stdout, r.stderr)
	}
	matchesOutputSchema(t, r.stdout)
	return report
}

func verdicts(report auditreport.FleetReport) map[string]string {
	out := map[string]string{}
	for _, r := range report.Namespaces {
		out[r.Namespace] = r.Verdict
	}
	return out
}

func failedIDs(r auditreport.Report) []string {
	var ids []string
	for _, c := range r.Categories {
		for _, check := range c.Checks {
			if check.Result == auditcheck.Fail {
				ids = append(ids, check.ID)
			}
		}
	}
	return ids
}

// Three OPEA namespaces (secured, secured then broken, never secured) and
// one without an application: verify -A finds exactly the three, judges
// each, and exits 1; a user who may read two of them gets those two and a
// line for the third.
func TestVerifyAllNamespacesAuditsEachOPEAApplication(t *testing.T) {
	ctx := context.Background()
	fleet := "fleet-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))[:20]
	healthy := newSecuredApp(t)
	broken := newSecuredApp(t)
	if err := adminDynamic(t).Resource(peerAuthGVR).Namespace(broken.ns).Delete(ctx, "default", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	unsecured := newChatQnA(t, "chatqna")
	other := createNamespace(t, namespaceName(t))
	// An nginx of no OPEA release: no Service site, no instance label.
	for _, name := range []string{"site-nginx", "web"} {
		if _, err := adminKube(t).CoreV1().Services(other).Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, ns := range []string{healthy.ns, broken.ns, unsecured, other} {
		labelForFleet(t, ns, fleet)
	}
	selector := fleetLabel + "=" + fleet

	r := opea(t, "verify", "-A", "-l", selector, "-o", "json")
	report := fleetJSON(t, r)
	want := map[string]string{healthy.ns: string(audit.VerdictSecured), broken.ns: string(audit.VerdictFailing), unsecured: string(audit.VerdictFailing)}
	if diff := cmp.Diff(want, verdicts(report)); diff != "" {
		t.Fatalf("verdicts (-want +got):\n%s%s", diff, r.stderr)
	}
	if r.code != 1 || report.Success || report.Summary != (auditreport.FleetSummary{Namespaces: 3, Secured: 1, Failing: 2}) {
		t.Errorf("exit %d, success %v, summary %+v; want 1, false, 1 secured and 2 failing", r.code, report.Success, report.Summary)
	}
	for _, ns := range report.Namespaces {
		if ns.EntryService != "chatqna-nginx" {
			t.Errorf("%s: entry Service %q, want chatqna-nginx", ns.Namespace, ns.EntryService)
		}
		switch ns.Namespace {
		case broken.ns:
			if ids := failedIDs(ns); !contains(ids, "mtls.namespace-strict") {
				t.Errorf("%s (PeerAuthentication deleted): failed %v, want mtls.namespace-strict among them", ns.Namespace, ids)
			}
		case unsecured:
			if ids := failedIDs(ns); !contains(ids, "ingress.gateway-found") {
				t.Errorf("%s (never secured): failed %v, want ingress.gateway-found among them", ns.Namespace, ids)
			}
		}
	}

	table := opea(t, "verify", "-A", "-l", selector)
	lines := strings.Split(table.stdout, "\n")
	if table.code != 1 || !strings.HasPrefix(lines[0], "NAMESPACE ") || len(lines) < 4 {
		t.Fatalf("table: exit %d\n%s", table.code, table.stdout)
	}
	for i, ns := range []string{healthy.ns, broken.ns, unsecured} {
		if fields := strings.Fields(lines[1+i]); len(fields) < 3 || fields[0] != ns || fields[2] != want[ns] {
			t.Errorf("table row %d is %q, want %s %s", i+1, lines[1+i], ns, want[ns])
		}
	}
	if strings.Contains(table.stdout, other) {
		t.Errorf("the namespace without an application %s is in the table:\n%s", other, table.stdout)
	}
	if !strings.Contains(table.stdout, "\n"+broken.ns+"\n") || !strings.Contains(table.stdout, "[mtls.namespace-strict]") {
		t.Errorf("the table does not detail the failing namespace %s:\n%s", broken.ns, table.stdout)
	}
	short := opea(t, "verify", "-A", "-l", selector, "-o", "short")
	if got := strings.Split(strings.TrimSpace(short.stdout), "\n"); short.code != 1 || len(got) != 3 || !strings.HasPrefix(got[0], healthy.ns+": secured") {
		t.Errorf("-o short: exit %d\n%s", short.code, short.stdout)
	}

	// The limited user reads the cluster-wide inputs, and the namespaced ones
	// (pods, EndpointSlices, Roles, RoleBindings) of two namespaces only:
	// not the healthy one's.
	grantLimitedUser(t, "opea-fleet-"+fleet, "", []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"namespaces", "services", "configmaps"}, Verbs: []string{"get", "list"}},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments", "daemonsets"}, Verbs: []string{"list"}},
		{APIGroups: []string{"networking.istio.io", "security.istio.io", "gateway.networking.k8s.io", "cert-manager.io"}, Resources: []string{"*"}, Verbs: []string{"get", "list"}},
		{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"clusterroles", "clusterrolebindings"}, Verbs: []string{"list"}},
		{APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"subjectaccessreviews"}, Verbs: []string{"create"}},
	})
	for _, ns := range []string{broken.ns, unsecured} {
		grantLimitedUser(t, "opea-fleet-reader", ns, []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list"}},
			{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"list"}},
			{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"roles", "rolebindings"}, Verbs: []string{"list"}},
		})
	}
	grantLimitedUser(t, "opea-fleet-secrets-"+fleet, gatewayNamespace, []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}},
	})
	limited := kubeconfigFor(t, limitedUser)
	var limitedReport auditreport.FleetReport
	eventually(t, 10*time.Second, "RBAC to take effect", func() (bool, error) {
		r = opeaWith(t, limited, "verify", "-A", "-l", selector, "-o", "json")
		limitedReport = fleetJSON(t, r)
		v := verdicts(limitedReport)
		if v[broken.ns] != string(audit.VerdictFailing) || v[healthy.ns] != string(audit.VerdictUnreadable) {
			return false, fmt.Errorf("verdicts %v\n%s", v, r.stderr)
		}
		return true, nil
	})
	if r.code != 1 || len(limitedReport.Namespaces) != 3 {
		t.Errorf("limited user: exit %d, %d namespaces; want 1 and all 3\n%s", r.code, len(limitedReport.Namespaces), r.stderr)
	}
	for _, ns := range limitedReport.Namespaces {
		if ns.Namespace == healthy.ns {
			if got, want := accessStrings(ns.Unreadable), []string{"list pods in namespace " + healthy.ns}; !cmp.Equal(got, want) {
				t.Errorf("%s: unreadable %v, want %v", healthy.ns, got, want)
			}
			continue
		}
		if ns.Verdict != want[ns.Namespace] {
			t.Errorf("%s, which the user may read: verdict %q, want %q", ns.Namespace, ns.Verdict, want[ns.Namespace])
		}
	}
	limitedTable := opeaWith(t, limited, "verify", "-A", "-l", selector)
	if want := "  " + healthy.ns + ": you may not list pods in namespace " + healthy.ns; !strings.Contains(limitedTable.stdout, want) {
		t.Errorf("the table does not say %q:\n%s", want, limitedTable.stdout)
	}

	// A user who may read nothing finds no application, and must not be
	// told that all is well.
	nobody := opea(t, "--as", "opea-e2e-nobody", "verify", "-A", "-o", "json")
	if nobodyReport := fleetJSON(t, nobody); nobody.code != 3 || nobodyReport.Success || len(nobodyReport.Unsearched) == 0 {
		t.Errorf("a user who may read nothing: exit %d, success %v, unsearched %v; want 3, false and the refused lists\n%s",
			nobody.code, nobodyReport.Success, nobodyReport.Unsearched, nobody.stderr)
	}
}

// verify -A sends as many API requests for four secured namespaces as for
// one but for one GET per credential Secret, and as many with 200 pods in a
// namespace as with 3: its lists span every namespace, and pods are read as
// metadata in one list. Each secured namespace has its own credential
// (opea-<ns>-tls), which verify reads by name and lists in no namespace:
// three more namespaces, three more GETs. verify --contexts names each
// context's mesh from its audit's own reads: no request more with -A, whose
// lists hold istiod, its mesh config and every namespace's root; one more
// with -n, the GET of the root in istiod's namespace.
func TestVerifyAllRequestsDoNotGrowWithNamespacesOrPods(t *testing.T) {
	fleet := "requests"
	selector := fleetLabel + "=" + fleet
	kubeconfig := kubeconfigFor(t, controlplane.AdminUser)
	cacheDir := t.TempDir()
	count := func(args ...string) int64 {
		return runCounting(t, kubeconfig, cacheDir, append([]string{"verify", "-A", "-l", selector, "-o", "json"}, args...)...)
	}

	first := newSecuredApp(t)
	labelForFleet(t, first.ns, fleet)
	one := count()
	for i := 0; i < 3; i++ {
		labelForFleet(t, newSecuredApp(t).ns, fleet)
	}
	four := count()
	populate(t, first.ns, 200, 50)
	morePods := count()
	t.Logf("API requests of verify -A: 1 namespace %d, 4 namespaces %d, 4 namespaces with 200 more pods and 50 more Services %d", one, four, morePods)
	if credentials := int64(3); four != one+credentials || morePods != four {
		t.Errorf("verify -A sent %d requests for 1 namespace, %d for 4, %d with 200 more pods: want %d, %d and %d (one GET per further credential Secret)",
			one, four, morePods, one, one+credentials, one+credentials)
	}
	allContexts := count("--all-contexts")
	namespace := runCounting(t, kubeconfig, cacheDir, "verify", "-n", first.ns, "-o", "json")
	namespaceContexts := runCounting(t, kubeconfig, cacheDir, "verify", "-n", first.ns, "-o", "json", "--all-contexts")
	t.Logf("API requests of the kubeconfig's one context: verify -A %d, with --all-contexts %d; verify -n %d, with --all-contexts %d", morePods, allContexts, namespace, namespaceContexts)
	if allContexts != morePods {
		t.Errorf("verify -A --all-contexts sent %d requests, verify -A %d: want as many", allContexts, morePods)
	}
	if namespaceContexts != namespace+1 {
		t.Errorf("verify -n --all-contexts sent %d requests, verify -n %d: want one more (the root in istiod's namespace)", namespaceContexts, namespace)
	}
	// The audit did see them: four namespaces, 203 pods in the first.
	r := opea(t, "verify", "-A", "-l", selector, "-o", "json")
	report := fleetJSON(t, r)
	if report.Summary.Namespaces != 4 {
		t.Errorf("%d namespaces audited, want 4", report.Summary.Namespaces)
	}

	// The Secrets it read are the four credentials, by name: no list of
	// Secrets, in any namespace.
	var want []string
	for _, ns := range report.Namespaces {
		want = append(want, "GET /api/v1/namespaces/"+gatewayNamespace+"/secrets/"+ownership.NamesFor(ns.Namespace).TLSSecret)
	}
	got := secretRequests(t, kubeconfig, cacheDir, "verify", "-A", "-l", selector, "-o", "json")
	sort.Strings(want)
	sort.Strings(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requests for Secrets (-want +got):\n%s", diff)
	}
}

// secretRequests runs a command in-process and returns its requests for
// Secrets, as "METHOD PATH".
func secretRequests(t *testing.T, kubeconfig, cacheDir string, args ...string) []string {
	t.Helper()
	var (
		mu   sync.Mutex
		seen []string
	)
	record := func(r *http.Request) {
		if path := r.URL.Path; strings.HasSuffix(path, "/secrets") || strings.Contains(path, "/secrets/") {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, r.Method+" "+path)
		}
	}
	withRecorder := func(g genericclioptions.RESTClientGetter) clients.Getter {
		flags := g.(*genericclioptions.ConfigFlags)
		flags.WrapConfigFn = func(cfg *rest.Config) *rest.Config {
			cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return recordingTransport{next: rt, record: record} })
			return cfg
		}
		return clients.New(flags)
	}
	var out, errOut strings.Builder
	cmd := plugin.NewCmdOpeaWithClients(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, withRecorder)
	cmd.SetArgs(append([]string{"--kubeconfig", kubeconfig, "--cache-dir", cacheDir}, args...))
	if err := cmd.ExecuteContext(context.Background()); err != nil && plugin.ExitCode(err) != plugin.ExitFailure {
		t.Fatalf("%v: %v\n%s", args, err, errOut.String())
	}
	return seen
}

// recordingTransport tells record of each request it sends.
type recordingTransport struct {
	next   http.RoundTripper
	record func(*http.Request)
}

func (r recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r.record(req)
	return r.next.RoundTrip(req)
}
