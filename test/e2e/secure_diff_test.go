package e2e

import (
	"context"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/opea-project/kubectl-opea/pkg/desired"
	"github.com/opea-project/kubectl-opea/test/fixtures"
)

// diffedObjects are the objects a --diff shows, by the name in its
// "diff -u -N LIVE/<name> MERGED/<name>" lines, sorted.
func diffedObjects(t *testing.T, out string) []string {
	t.Helper()
	var names []string
	for _, line := range strings.Split(out, "\n") {
		rest, ok := strings.CutPrefix(line, "diff -u -N LIVE/")
		if !ok {
			continue
		}
		live, merged, _ := strings.Cut(rest, " ")
		if merged != "MERGED/"+live {
			t.Errorf("header %q does not name one object on both sides", line)
		}
		names = append(names, live)
	}
	sort.Strings(names)
	return names
}

// changedLines are the lines a --diff adds and removes, without the file
// headers.
func changedLines(out string) []string {
	var changed []string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "+++ ") || strings.HasPrefix(line, "--- ") {
			continue
		}
		if strings.HasPrefix(line, "+") || strings.HasPrefix(line, "-") {
			changed = append(changed, line)
		}
	}
	return changed
}

// writtenState is every resourceVersion a secure run could move for ns:
// secure's labelled objects, the AuthorizationPolicies and the namespace.
func writtenState(t *testing.T, ns string) map[string]string {
	t.Helper()
	state := ourObjects(t, ns)
	for name, rv := range authorizationPolicies(t, ns) {
		state["authorizationpolicies "+ns+"/"+name] = rv
	}
	got, err := adminKube(t).CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	state["namespace "+ns] = got.ResourceVersion
	return state
}

// secure --diff against the real API server: it runs every check, asks the
// server's dry run of each apply, prints per object what would change under
// kubectl diff's headers, exits as kubectl diff (1 with differences, 0
// without) and writes nothing. A first run shows every object as added; a
// rerun after secure shows nothing; another --host shows exactly the host
// lines it adds to the shared gateway's objects; --lockdown=false shows the
// lockdown's policies removed.
func TestSecureDiff(t *testing.T) {
	ctx := context.Background()
	if err := fixtures.SimulateIstioDataPlaneReady(ctx, adminKube(t)); err != nil {
		t.Fatal(err)
	}
	ns := newChatQnA(t, "chatqna")
	runCapturedAppPods(t, ns)
	waitForNamespaceConfigMaps(t, ns)
	host := ns + ".example.com"
	names := desired.NamesFor(ns)
	gw := "istio-ingress" // the chart gateway's namespace, where the certificates go
	secureArgs := []string{"secure", "-n", ns, "--host", host}

	// First run: every object added, the namespace labelled.
	before := writtenState(t, ns)
	first := opea(t, append(secureArgs, "--lockdown", "--diff")...)
	if first.code != 1 || first.stderr != "" {
		t.Fatalf("first --diff: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", first.code, first.stdout, first.stderr)
	}
	want := []string{
		"cert-manager.io.v1.Certificate." + gw + "." + names.CACertificate,
		"cert-manager.io.v1.Certificate." + gw + "." + names.Certificate,
		"cert-manager.io.v1.Issuer." + gw + "." + names.CAIssuer,
		"cert-manager.io.v1.Issuer." + gw + "." + names.SelfSignedIssuer,
		"networking.istio.io.v1.Gateway." + ns + ".opea-ingress",
		"networking.istio.io.v1.VirtualService." + ns + ".opea-ingress",
		"security.istio.io.v1.AuthorizationPolicy." + ns + ".opea-allow-app",
		"security.istio.io.v1.AuthorizationPolicy." + ns + ".opea-allow-ingress",
		"security.istio.io.v1.AuthorizationPolicy." + ns + ".opea-deny-by-default",
		"security.istio.io.v1.PeerAuthentication." + ns + ".default",
		"v1.Namespace.." + ns,
	}
	if d := cmp.Diff(want, diffedObjects(t, first.stdout)); d != "" {
		t.Errorf("objects of the first --diff (-want +got):\n%s\n%s", d, first.stdout)
	}
	for _, obj := range want[:len(want)-1] {
		// Created: nothing on the live side.
		if !strings.Contains(first.stdout, "+++ MERGED/"+obj+"\n@@ -0,0 +1,") {
			t.Errorf("%s is not shown as added:\n%s", obj, first.stdout)
		}
	}
	if !slices.Contains(changedLines(first.stdout), "+    istio.io/dataplane-mode: ambient") {
		t.Errorf("the namespace's ambient label is not shown as added:\n%s", first.stdout)
	}
	for _, noise := range []string{"managedFields", "resourceVersion", "uid:", "creationTimestamp", "generation:"} {
		if strings.Contains(first.stdout, noise) {
			t.Errorf("the diff shows %s:\n%s", noise, first.stdout)
		}
	}
	if d := cmp.Diff(before, writtenState(t, ns)); d != "" {
		t.Fatalf("the first --diff wrote (-before +after):\n%s", d)
	}
	assertNothingWritten(t, ns)

	if r := opea(t, append(secureArgs, "--lockdown")...); r.code != 0 {
		t.Fatalf("secure --lockdown: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	secured := writtenState(t, ns)

	// Rerun: nothing would change.
	same := opea(t, append(secureArgs, "--diff")...)
	if same.code != 0 || same.stdout != "" || strings.Contains(same.stderr, "error") {
		t.Errorf("--diff after secure: exit %d, want 0 and no output\nstdout:\n%s\nstderr:\n%s", same.code, same.stdout, same.stderr)
	}

	// Another host on the shared gateway: exactly the lines that add it.
	other := opea(t, append(secureArgs, "--host", "chat.example.com", "--diff")...)
	if other.code != 1 {
		t.Fatalf("--diff with another --host: exit %d, want 1\n%s%s", other.code, other.stdout, other.stderr)
	}
	wantObjects := []string{
		"cert-manager.io.v1.Certificate." + gw + "." + names.Certificate,
		"networking.istio.io.v1.Gateway." + ns + ".opea-ingress",
		"networking.istio.io.v1.VirtualService." + ns + ".opea-ingress",
	}
	if d := cmp.Diff(wantObjects, diffedObjects(t, other.stdout)); d != "" {
		t.Errorf("objects of --diff with another --host (-want +got):\n%s\n%s", d, other.stdout)
	}
	// The Certificate's dnsNames, the Gateway's HTTPS and HTTP servers and
	// the VirtualService's hosts each gain the host, in the order the
	// objects are applied.
	wantLines := []string{"+  - chat.example.com", "+    - chat.example.com", "+    - chat.example.com", "+  - chat.example.com"}
	if d := cmp.Diff(wantLines, changedLines(other.stdout)); d != "" {
		t.Errorf("changed lines with another --host (-want +got):\n%s\n%s", d, other.stdout)
	}

	// --lockdown=false: the three policies removed, every line of them.
	off := opea(t, append(secureArgs, "--lockdown=false", "--diff")...)
	if off.code != 1 {
		t.Fatalf("--diff --lockdown=false: exit %d, want 1\n%s%s", off.code, off.stdout, off.stderr)
	}
	var policies []string
	for _, name := range lockdownPolicies {
		policies = append(policies, "security.istio.io.v1.AuthorizationPolicy."+ns+"."+name)
	}
	if d := cmp.Diff(policies, diffedObjects(t, off.stdout)); d != "" {
		t.Errorf("objects of --diff --lockdown=false (-want +got):\n%s\n%s", d, off.stdout)
	}
	for _, line := range changedLines(off.stdout) {
		if !strings.HasPrefix(line, "-") {
			t.Errorf("--lockdown=false adds %q:\n%s", line, off.stdout)
		}
	}
	if !strings.Contains(off.stdout, "+++ MERGED/"+policies[0]+"\n@@ -1,") || !strings.Contains(off.stdout, " +0,0 @@") {
		t.Errorf("the policies are not shown as removed:\n%s", off.stdout)
	}

	if d := cmp.Diff(secured, writtenState(t, ns)); d != "" {
		t.Errorf("a --diff wrote (-before +after):\n%s", d)
	}
}
