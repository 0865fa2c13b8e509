package plugin

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/opea-project/kubectl-opea/pkg/clients"
	"github.com/opea-project/kubectl-opea/test/testpki"
)

// fleetKubeconfig names one context per name, each its own cluster; the
// servers do not exist: the fakes answer, except where a test leaves one
// to the real client (a closed port).
func fleetKubeconfig(t *testing.T, names ...string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: Config\nusers:\n- name: alice\n  user: {token: a}\nclusters:\n")
	for _, name := range names {
		b.WriteString("- name: " + name + "\n  cluster: {server: \"https://127.0.0.1:1\"}\n")
	}
	b.WriteString("contexts:\n")
	for _, name := range names {
		b.WriteString("- name: " + name + "\n  context: {cluster: " + name + ", user: alice, namespace: chatqna}\n")
	}
	b.WriteString("current-context: " + names[0] + "\n")
	path := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// fleetClients hands each context its fake cluster; a context without one
// gets the real clients of its kubeconfig entry, whose server is a closed
// port.
func fleetClients(clusters map[string]fakeCluster) ClientsFunc {
	return func(flags genericclioptions.RESTClientGetter) clients.Getter {
		if f, ok := flags.(*genericclioptions.ConfigFlags); ok && f.Context != nil {
			if c, ok := clusters[*f.Context]; ok {
				return c.clients(flags)
			}
			if *f.Context != "" {
				return clients.New(flags)
			}
		}
		for _, c := range clusters {
			return c.clients(flags)
		}
		return nil
	}
}

// runFleet runs kubectl opea with the kubeconfig of contexts, each the
// fake cluster clusters name, and fails the test when any wrote.
func runFleet(t *testing.T, contexts []string, clusters map[string]fakeCluster, args ...string) result {
	t.Helper()
	for _, c := range clusters {
		c.kube.ClearActions()
		c.dyn.ClearActions()
		c.meta.ClearActions()
	}
	r := run(t, fleetClients(clusters), append([]string{"--kubeconfig", fleetKubeconfig(t, contexts...)}, args...)...)
	for name, c := range clusters {
		for _, w := range c.writes() {
			if !strings.HasPrefix(w, "create subjectaccessreviews") {
				t.Errorf("%s: %v wrote to the cluster: %v", name, args, w)
			}
		}
	}
	return r
}

// withRoot adds the mesh's root as istiod publishes it in istio-system.
func withRoot(t *testing.T, c fakeCluster, root []byte) fakeCluster {
	t.Helper()
	if err := c.cluster().Add(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "istio-ca-root-cert"},
		Data: map[string]string{"root-cert.pem": string(root)}}); err != nil {
		t.Fatal(err)
	}
	return c
}

var sixContexts = []string{"dev", "stage", "prod-eu", "prod-us", "prod-old", "lab"}

// --contexts chooses by name, /regex/ and ^exclusion, in order: the
// lines of -o short are those of the contexts chosen, ordered by name.
func TestVerifyContextsSelection(t *testing.T) {
	clusters := map[string]fakeCluster{}
	for _, name := range sixContexts {
		clusters[name] = fakeClusterWith(t, chatQnANotSecured()...)
	}
	for _, tc := range []struct {
		spec string
		want []string
	}{
		{"dev,stage,/prod-.*/,^prod-old", []string{"dev", "prod-eu", "prod-us", "stage"}},
		{"^/prod/,^lab", []string{"dev", "stage"}},
		{"/^prod-(eu|us)$/", []string{"prod-eu", "prod-us"}},
	} {
		r := runFleet(t, sixContexts, clusters, "verify", "-A", "--probe=false", "-o", "short", "--contexts", tc.spec)
		var got []string
		for _, line := range strings.Split(strings.TrimSpace(r.out), "\n") {
			if strings.HasPrefix(line, "fleet.") {
				continue
			}
			got = append(got, strings.SplitN(line, ": ", 2)[0])
		}
		if diff := cmp.Diff(tc.want, got); diff != "" || r.code != ExitFailure {
			t.Errorf("--contexts %s: exit %d (-want +got):\n%s\n%s%s", tc.spec, r.code, diff, r.out, r.err)
		}
	}
	r := runFleet(t, sixContexts, clusters, "verify", "-A", "--probe=false", "-o", "short", "--all-contexts")
	if n := strings.Count(r.out, ": failing: "); n != len(sixContexts) {
		t.Errorf("--all-contexts: %d failing lines:\n%s", n, r.out)
	}
}

func TestVerifyContextsUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--contexts", "dev", "--context", "stage"}, "--context names one context's cluster or user: leave it out with --contexts or --all-contexts"},
		{[]string{"--all-contexts", "--context", "stage"}, "--context names one context's cluster or user"},
		{[]string{"--contexts", "dev", "--all-contexts"}, "--contexts and --all-contexts both choose contexts: give one"},
		{[]string{"--contexts", "dev,qa"}, `invalid --contexts: "qa" matches no context; the kubeconfig has dev, lab, prod-eu, prod-old, prod-us, stage`},
		{[]string{"--contexts", "dev,^/^prod-x/"}, `invalid --contexts: "^/^prod-x/" matches no context`},
		{[]string{"--contexts", "/prod-(/"}, `invalid --contexts: "/prod-(/" is not a valid regular expression`},
		{[]string{"--contexts", "dev,,stage"}, `invalid --contexts: "dev,,stage" has an empty entry`},
		{[]string{"--contexts", ""}, "invalid --contexts: no context named"},
		{[]string{"--contexts", "dev,^dev"}, "invalid --contexts: the selection leaves no context"},
		{[]string{"--all-contexts", "--parallel", "0"}, "invalid --parallel 0: audit at least 1 context at once"},
		{[]string{"--all-contexts", "--context-timeout", "0s"}, "invalid --context-timeout 0s"},
		{[]string{"--parallel", "2"}, "--parallel goes with --contexts or --all-contexts"},
		{[]string{"--context-timeout", "1m"}, "--context-timeout goes with --contexts or --all-contexts"},
		{[]string{"--all-contexts", "--wait"}, "--wait waits for one cluster: leave it out with --contexts or --all-contexts"},
		{[]string{"--all-contexts", "-n", "Bad_NS"}, `invalid namespace "Bad_NS"`},
		{[]string{"--all-contexts", "--probe-address", "127.0.0.1:8443"}, "--probe-address names one gateway: leave it out with --contexts or --all-contexts"},
		{[]string{"--contexts", "dev", "-n", "chatqna", "--probe-token-file", "/dev/null"}, "--probe-token-file holds a token of one cluster's application: leave it out with --contexts or --all-contexts"},
		{[]string{"--contexts", "dev", "-n", "chatqna", "--reachability"}, "--reachability prints the matrix of one cluster's namespace: name the context with --context"},
	} {
		c := fakeClusterWith(t, chatQnANotSecured()...)
		r := runFleet(t, sixContexts, map[string]fakeCluster{"dev": c}, append([]string{"verify"}, tc.args...)...)
		if r.code != ExitUsage || !strings.Contains(r.err, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, r.code, r.err, ExitUsage, tc.want)
		}
		if len(c.kube.Actions()) > 0 {
			t.Errorf("%v: read the cluster before refusing its flags: %v", tc.args, c.kube.Actions())
		}
	}
}

// A context whose cluster cannot be reached could not run (exit 3 when
// nothing failed), says why, and does not stop the others; a failing
// namespace anywhere makes it 1.
func TestVerifyContextsUnreachableIsCouldNotRun(t *testing.T) {
	cred := issueGatewayCredential(t)
	secured := map[string]fakeCluster{"dev": securedCluster(t, securedChatQnA(t, cred)), "stage": securedCluster(t, securedChatQnA(t, cred))}
	r := runFleet(t, []string{"dev", "down", "stage"}, secured, "verify", "-A", "--probe=false", "-o", "short", "--all-contexts")
	wantOut := "dev: chatqna: secured ("
	if r.code != ExitIncomplete || !strings.HasPrefix(r.out, wantOut) ||
		!strings.Contains(r.out, "\ndown: could not run: cannot reach the cluster at https://127.0.0.1:1: ") ||
		!strings.Contains(r.out, "\nstage: chatqna: secured (") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.out, r.err)
	}
	if want := "error: 1 of 3 contexts could not be audited: down\n"; r.err != want {
		t.Errorf("stderr %q, want %q", r.err, want)
	}

	withFailing := map[string]fakeCluster{"dev": secured["dev"], "stage": fakeClusterWith(t, chatQnANotSecured()...)}
	r = runFleet(t, []string{"dev", "down", "stage"}, withFailing, "verify", "-A", "--probe=false", "--all-contexts")
	if r.code != ExitFailure || !strings.Contains(r.err, "1 of 2 OPEA namespaces failed: stage/chatqna; 1 of 3 contexts could not be audited: down") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.out, r.err)
	}
	for _, want := range []string{
		"CONTEXT   NAMESPACE   ENTRY           VERDICT         ",
		"\ndown      -           -               could not run   -",
		"\ncould not audit:\n  down: cannot reach the cluster at https://127.0.0.1:1: ",
		"\nstage/chatqna\n=============\n",
		"Verdict: 1 of 2 OPEA namespaces in 2 contexts secured, 1 NOT secured (stage/chatqna); 1 context could NOT be audited (down)\n",
	} {
		if !strings.Contains(r.out, want) {
			t.Errorf("the table lacks %q:\n%s", want, r.out)
		}
	}
}

// Without -A, each context's namespace is audited: -n in every context.
func TestVerifyContextsOneNamespaceEach(t *testing.T) {
	cred := issueGatewayCredential(t)
	clusters := map[string]fakeCluster{"dev": securedCluster(t, securedChatQnA(t, cred)), "prod": fakeClusterWith(t, ambientIstio()...)}
	r := runFleet(t, []string{"dev", "prod"}, clusters, "verify", "-n", "chatqna", "--probe=false", "-o", "short", "--all-contexts")
	if r.code != ExitIncomplete || !strings.HasPrefix(r.out, "dev: chatqna: secured (") ||
		!strings.Contains(r.out, "\nprod: could not run: namespace \"chatqna\" holds no OPEA application") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.out, r.err)
	}
}

// The same contexts give the same document whatever --parallel, ordered
// by context then namespace; the fleet check compares the roots of the
// contexts of one mesh and warns with both fingerprints.
func TestVerifyContextsDocumentAndTrustRoot(t *testing.T) {
	cred := issueGatewayCredential(t)
	rootA := testpki.MustIssue(t, testpki.Leaf{DNSNames: []string{"a"}}).CAPEM
	rootB := testpki.MustIssue(t, testpki.Leaf{DNSNames: []string{"b"}}).CAPEM
	clusters := map[string]fakeCluster{}
	for _, name := range []string{"a", "b", "c"} {
		clusters[name] = withRoot(t, securedCluster(t, securedChatQnA(t, cred)), rootA)
	}
	names := []string{"c", "a", "b", "down"}
	one := runFleet(t, names, clusters, "verify", "-A", "--probe=false", "-o", "json", "--all-contexts", "--parallel", "1")
	four := runFleet(t, names, clusters, "verify", "-A", "--probe=false", "-o", "json", "--all-contexts", "--parallel", "4")
	if one.code != ExitIncomplete || one.out != four.out {
		t.Errorf("--parallel 1 and 4 differ (exit %d, %d):\n%s\n%s", one.code, four.code, cmp.Diff(one.out, four.out), one.err)
	}
	for _, want := range []string{
		`"contexts": [
    {
      "context": "a",
      "verdict": "secured",
      "namespaces": 1
    },`,
		`"context": "down",
      "verdict": "could not run",
      "namespaces": 0,
      "error": "cannot reach the cluster at https://127.0.0.1:1: `,
		`"summary": {
    "contexts": 4,
    "couldNotRun": 1,
    "namespaces": 3,
    "secured": 3,`,
		`"id": "fleet.trust-root",`,
		`"result": "success",`,
	} {
		if !strings.Contains(one.out, want) {
			t.Errorf("the document lacks %s:\n%s", want, one.out)
		}
	}
	if strings.Count(one.out, `"context": "`) != 4+3 {
		t.Errorf("every context and every namespace names its context:\n%s", one.out)
	}

	clusters["b"] = withRoot(t, securedCluster(t, securedChatQnA(t, cred)), rootB)
	r := runFleet(t, []string{"a", "b", "c"}, clusters, "verify", "-A", "--probe=false", "--all-contexts")
	if r.code != 0 || !strings.Contains(r.out, "\nFleet\n-----\n[warn] contexts of one mesh share its root certificate and trust domain  [fleet.trust-root]\n    mesh cluster.local: roots differ: a SHA-256 ") ||
		!strings.Contains(r.out, "see: https://github.com/opea-project/kubectl-opea/blob/main/docs/checks.md#fleet.trust-root\n") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.out, r.err)
	}
}

// --contexts completes the entry being typed with the kubeconfig's
// contexts, keeping the entries before it and a leading ^.
func TestVerifyContextsCompletion(t *testing.T) {
	kubeconfig := fleetKubeconfig(t, sixContexts...)
	for typed, want := range map[string][]string{
		"":            {"dev", "lab", "prod-eu", "prod-old", "prod-us", "stage"},
		"prod-":       {"prod-eu", "prod-old", "prod-us"},
		"dev,st":      {"dev,stage"},
		"dev,^prod-o": {"dev,^prod-old"},
	} {
		r := run(t, nil, "__complete", "--kubeconfig", kubeconfig, "verify", "--contexts", typed)
		if diff := cmp.Diff(want, completionLines(r.out)); diff != "" {
			t.Errorf("completing --contexts %q (-want +got):\n%s", typed, diff)
		}
	}
}

// The contexts come from every file of $KUBECONFIG, as kubectl reads them;
// a context whose cluster rejects the credentials could not run and says
// so, as verify -n would.
func TestVerifyContextsFromKUBECONFIGFiles(t *testing.T) {
	rejecting := apiServerAnswering(t, func(w http.ResponseWriter, _ *http.Request) {
		status(w, http.StatusUnauthorized, "Unauthorized")
	})
	t.Setenv("KUBECONFIG", fleetKubeconfig(t, "dev")+string(os.PathListSeparator)+rejecting)
	clusters := map[string]fakeCluster{"dev": securedCluster(t, securedChatQnA(t, issueGatewayCredential(t)))}
	r := run(t, fleetClients(clusters), "verify", "-A", "--probe=false", "-o", "short", "--contexts", "dev,test")
	if r.code != ExitIncomplete || !strings.HasPrefix(r.out, "dev: chatqna: secured (") ||
		!strings.Contains(r.out, "\ntest: could not run: the cluster rejected your credentials (401): ") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.out, r.err)
	}
}
