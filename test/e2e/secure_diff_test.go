package e2e

import (
	"context"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/opea-project/kubectl-opea/pkg/objdiff"
	"github.com/opea-project/kubectl-opea/pkg/ownership"
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

// writtenState is what a secure run could write for ns, as unwritten
// keeps it: secure's labelled objects, the AuthorizationPolicies and the
// namespace.
func writtenState(t *testing.T, ns string) map[string]map[string]interface{} {
	t.Helper()
	objs := objectsByDiffName(t, []objectsIn{{authorizationPolicyGVR, ns, ""}})
	for _, gvr := range ourObjectGVRs {
		for name, obj := range objectsByDiffName(t, []objectsIn{{gvr, "", ownership.Selector(ns)}}) {
			objs[name] = obj
		}
	}
	namespace, err := adminDynamic(t).Resource(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}).Get(context.Background(), ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	objs[objdiff.Name(namespace)] = namespace
	return unwrittenAll(objs)
}

// unwritten is obj without what controllers write beside it (istiod the
// status of AuthorizationPolicies) and the resourceVersion those writes
// move: a write of ours changes what is left (its managedFields entry and
// time, the generation, the fields).
func unwritten(obj *unstructured.Unstructured) map[string]interface{} {
	c := obj.DeepCopy()
	delete(c.Object, "status")
	c.SetResourceVersion("")
	var fields []metav1.ManagedFieldsEntry
	for _, mf := range c.GetManagedFields() {
		if mf.Subresource != "status" {
			fields = append(fields, mf)
		}
	}
	c.SetManagedFields(fields)
	return c.Object
}

func unwrittenAll(objs map[string]*unstructured.Unstructured) map[string]map[string]interface{} {
	out := map[string]map[string]interface{}{}
	for name, obj := range objs {
		out[name] = unwritten(obj)
	}
	return out
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
	if err := fixtures.WaitIstioDataPlaneReady(ctx, adminKube(t)); err != nil {
		t.Fatal(err)
	}
	ns := newChatQnA(t, "chatqna")
	runCapturedAppPods(t, ns)
	waitForNamespaceConfigMaps(t, ns)
	host := ns + ".example.com"
	names := ownership.NamesFor(ns)
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
	// A host of this namespace's own: another test's Gateway may serve one
	// of a fixed name on the same gateway pods.
	chat := "chat-" + ns + ".example.com"
	other := opea(t, append(secureArgs, "--host", chat, "--diff")...)
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
	wantLines := []string{"+  - " + chat, "+    - " + chat, "+    - " + chat, "+  - " + chat}
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

	// The diff foretold the run: secure with the other host changes
	// exactly what it showed.
	shared := func() map[string]*unstructured.Unstructured {
		return objectsByDiffName(t, []objectsIn{{gatewayGVR, ns, ""}, {virtualSvcGVR, ns, ""}, {peerAuthGVR, ns, ""}, {authorizationPolicyGVR, ns, ""},
			{certificateGVR, gw, ownership.Selector(ns)}, {issuerGVR, gw, ownership.Selector(ns)}})
	}
	beforeRun := shared()
	if r := opea(t, append(secureArgs, "--host", chat)...); r.code != 0 {
		t.Fatalf("secure with another --host: exit %d\n%s", r.code, r.stderr)
	}
	assertDiffForetold(t, other.stdout, beforeRun, shared())
}

// objectsIn are the objects of a resource in a namespace, with a label
// selector ("" for all).
type objectsIn struct {
	gvr       schema.GroupVersionResource
	namespace string
	selector  string
}

// objectsByDiffName reads the objects of each of in, by the name --diff
// gives them.
func objectsByDiffName(t *testing.T, in []objectsIn) map[string]*unstructured.Unstructured {
	t.Helper()
	out := map[string]*unstructured.Unstructured{}
	for _, where := range in {
		list, err := adminDynamic(t).Resource(where.gvr).Namespace(where.namespace).List(context.Background(), metav1.ListOptions{LabelSelector: where.selector})
		if err != nil {
			t.Fatalf("listing %s in %s: %v", where.gvr.Resource, where.namespace, err)
		}
		for i := range list.Items {
			out[objdiff.Name(&list.Items[i])] = &list.Items[i]
		}
	}
	return out
}

// diffSections splits a --diff's output into the section of each object,
// by the name in its header.
func diffSections(out string) map[string]string {
	sections := map[string]string{}
	parts := strings.Split(out, "diff -u -N LIVE/")
	for _, part := range parts[1:] {
		name, _, _ := strings.Cut(part, " ")
		sections[name] = "diff -u -N LIVE/" + part
	}
	return sections
}

// assertDiffForetold checks that the --diff printed as out shows, for each
// object, exactly the change from before to after that a run then made:
// the diff of the two as --diff prints it, and nothing for an object the
// run left as it was.
func assertDiffForetold(t *testing.T, out string, before, after map[string]*unstructured.Unstructured) {
	t.Helper()
	sections := diffSections(out)
	names := map[string]bool{}
	for name := range before {
		names[name] = true
	}
	for name := range after {
		names[name] = true
	}
	for name := range sections {
		if !names[name] {
			t.Errorf("--diff shows %s, which the run neither found nor made:\n%s", name, sections[name])
		}
	}
	for name := range names {
		var want strings.Builder
		if _, err := objdiff.Write(&want, before[name], after[name]); err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want.String(), sections[name]); d != "" {
			t.Errorf("--diff of %s is not what the run did (-run +diff):\n%s", name, d)
		}
	}
}

// --diff of secure --lockdown=false for a policy of the user's that secure
// adopted (and took fields of with --force-conflicts) shows it kept: the
// server's dry run of releasing secure's fields, with the fields given
// back; and the run then does exactly that.
func TestSecureDiffOfAnAdoptedPolicy(t *testing.T) {
	ctx := context.Background()
	if err := fixtures.WaitIstioDataPlaneReady(ctx, adminKube(t)); err != nil {
		t.Fatal(err)
	}
	ns := newChatQnA(t, "chatqna")
	runCapturedAppPods(t, ns)
	waitForNamespaceConfigMaps(t, ns)
	users := object("security.istio.io/v1", "AuthorizationPolicy", ns, "opea-allow-app", map[string]interface{}{
		"action": "ALLOW",
		"rules":  []interface{}{map[string]interface{}{"from": []interface{}{map[string]interface{}{"source": map[string]interface{}{"namespaces": []interface{}{"tools"}}}}}},
	})
	if _, err := adminDynamic(t).Resource(authorizationPolicyGVR).Namespace(ns).Apply(ctx, users.GetName(), users, metav1.ApplyOptions{FieldManager: "platform-team"}); err != nil {
		t.Fatal(err)
	}
	secureArgs := []string{"secure", "-n", ns, "--host", ns + ".example.com"}
	if r := opea(t, append(secureArgs, "--lockdown", "--force-conflicts")...); r.code != 0 {
		t.Fatalf("secure --lockdown --force-conflicts: exit %d\n%s", r.code, r.stderr)
	}
	policies := func() map[string]*unstructured.Unstructured {
		return objectsByDiffName(t, []objectsIn{{authorizationPolicyGVR, ns, ""}})
	}
	before := policies()
	if len(before) != len(lockdownPolicies) {
		t.Fatalf("%d policies, want %d", len(before), len(lockdownPolicies))
	}

	off := opea(t, append(secureArgs, "--lockdown=false", "--diff")...)
	if off.code != 1 {
		t.Fatalf("--diff --lockdown=false: exit %d\n%s%s", off.code, off.stdout, off.stderr)
	}
	kept := diffSections(off.stdout)["security.istio.io.v1.AuthorizationPolicy."+ns+".opea-allow-app"]
	for _, want := range []string{"-    opea.dev/adopted: \"true\"", "+        - tools"} {
		if !strings.Contains(kept, want+"\n") {
			t.Errorf("the kept policy's diff lacks %q:\n%s", want, kept)
		}
	}
	if d := cmp.Diff(unwrittenAll(before), unwrittenAll(policies())); d != "" {
		t.Fatalf("--diff wrote (-before +after):\n%s", d)
	}

	if r := opea(t, append(secureArgs, "--lockdown=false")...); r.code != 0 {
		t.Fatalf("secure --lockdown=false: exit %d\n%s", r.code, r.stderr)
	}
	assertDiffForetold(t, off.stdout, before, policies())
}

// --diff of secure --gateway-api --http-redirect=false shows the Gateway's
// HTTP listener going and the redirect HTTPRoute removed, and the run then
// does exactly that.
func TestSecureDiffOfTheRedirectRoute(t *testing.T) {
	ns := newChatQnA(t, "chatqna")
	secureArgs := []string{"secure", "-n", ns, "--host", ns + ".example.com", "--gateway-api", "--gateway-service-type", "ClusterIP"}
	if r := opea(t, secureArgs...); r.code != 0 {
		t.Fatalf("secure --gateway-api: exit %d\n%s", r.code, r.stderr)
	}
	ingress := func() map[string]*unstructured.Unstructured {
		return objectsByDiffName(t, []objectsIn{{apiGatewayGVR, ns, ""}, {httpRouteGVR, ns, ""}})
	}
	before := ingress()
	off := opea(t, append(secureArgs, "--http-redirect=false", "--diff")...)
	if off.code != 1 {
		t.Fatalf("--diff --http-redirect=false: exit %d\n%s%s", off.code, off.stdout, off.stderr)
	}
	route := "gateway.networking.k8s.io.v1.HTTPRoute." + ns + ".opea-ingress-redirect"
	want := []string{"gateway.networking.k8s.io.v1.Gateway." + ns + ".opea-ingress", route}
	if d := cmp.Diff(want, diffedObjects(t, off.stdout)); d != "" {
		t.Errorf("objects of --diff --http-redirect=false (-want +got):\n%s\n%s", d, off.stdout)
	}
	if !strings.Contains(diffSections(off.stdout)[route], " +0,0 @@") {
		t.Errorf("the redirect route is not shown as removed:\n%s", off.stdout)
	}
	if d := cmp.Diff(unwrittenAll(before), unwrittenAll(ingress())); d != "" {
		t.Fatalf("--diff wrote (-before +after):\n%s", d)
	}

	before = ingress()
	if r := opea(t, append(secureArgs, "--http-redirect=false")...); r.code != 0 {
		t.Fatalf("secure --http-redirect=false: exit %d\n%s", r.code, r.stderr)
	}
	assertDiffForetold(t, off.stdout, before, ingress())
}
