package plugin

import (
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// --print-rbac prints the Roles and the ClusterRole, and makes no request.
func TestSecurePrintRBAC(t *testing.T) {
	c := fakeClusterWith(t)
	r := runOn(t, c, "secure", "--print-rbac", "-n", "chatqna", "--lockdown")
	if r.code != 0 || r.err != "" {
		t.Fatalf("exit %d, stderr %q", r.code, r.err)
	}
	if n := len(c.kube.Actions()) + len(c.dyn.Actions()); n != 0 {
		t.Errorf("--print-rbac made %d requests", n)
	}
	docs := strings.Split(r.out, "\n---\n")
	if !strings.HasPrefix(docs[0], "# ") || !strings.Contains(docs[0], "kubectl create clusterrolebinding kubectl-opea-secure-chatqna --clusterrole kubectl-opea-secure-chatqna") {
		t.Errorf("no binding instructions before the objects:\n%s", docs[0])
	}
	var where []string
	for _, doc := range docs[1:] {
		var role rbacv1.Role // a ClusterRole reads the same
		if err := yaml.UnmarshalStrict([]byte(doc), &role); err != nil {
			t.Fatalf("%v\n%s", err, doc)
		}
		if role.Name != "kubectl-opea-secure-chatqna" || len(role.Rules) == 0 {
			t.Errorf("%s %s/%s with %d rules", role.Kind, role.Namespace, role.Name, len(role.Rules))
		}
		where = append(where, role.Kind+" "+role.Namespace)
	}
	// The application's namespace, OPEA's gateway namespace (assumed
	// without --gateway-namespace), Istio's root namespace for the mesh
	// config the lockdown reads, and the cluster.
	if got, want := strings.Join(where, ", "), "Role chatqna, Role istio-ingress, Role istio-system, ClusterRole "; got != want {
		t.Errorf("objects: %s, want %s", got, want)
	}
	if !strings.Contains(r.out, "istio-ingress as in OPEA's guide; for another, pass --gateway-namespace") {
		t.Errorf("the assumed gateway namespace is not said:\n%s", docs[0])
	}

	api := runOn(t, c, "secure", "--print-rbac", "-n", "chatqna", "--gateway-api")
	if api.code != 0 || strings.Count(api.out, "kind: Role\n") != 1 || strings.Contains(api.out, "istio-ingress") {
		t.Errorf("--gateway-api: want one Role, in the application namespace; exit %d:\n%s", api.code, api.out)
	}
}

func TestSecurePrintRBACRejectsFlagsThatPrintSomethingElse(t *testing.T) {
	c := fakeClusterWith(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-o", "yaml"}, "leave out --output"},
		{[]string{"--dry-run=server"}, "leave out --dry-run"},
		{[]string{"--diff"}, "leave out --diff"},
		{[]string{"--gateway-namespace", "Bad_NS"}, `invalid --gateway-namespace "Bad_NS"`},
		{[]string{"--gateway-api", "--gateway-namespace", "gw"}, "--gateway-namespace names a classic Istio ingress gateway"},
	} {
		r := runOn(t, c, append([]string{"secure", "--print-rbac", "-n", "chatqna"}, tc.args...)...)
		if r.code != ExitUsage || !strings.Contains(r.err, tc.want) || r.out != "" {
			t.Errorf("%v: exit %d, stderr %q, want %d with %q", tc.args, r.code, r.err, ExitUsage, tc.want)
		}
	}
}
