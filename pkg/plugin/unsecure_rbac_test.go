package plugin

import (
	"strings"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"
	"sigs.k8s.io/yaml"
)

// unsecure --print-rbac prints the Roles and the ClusterRole, and makes no
// request.
func TestUnsecurePrintRBAC(t *testing.T) {
	c := fakeClusterWith(t)
	for _, tc := range []struct {
		args  []string
		where string
	}{
		// Searched: the lists in every namespace, the removal in OPEA's
		// gateway namespace.
		{nil, "Role chatqna, Role istio-ingress, ClusterRole "},
		{[]string{"--gateway-namespace", "gw"}, "Role chatqna, Role gw, ClusterRole "},
	} {
		r := runOn(t, c, append([]string{"unsecure", "--print-rbac", "-n", "chatqna"}, tc.args...)...)
		if r.code != 0 || r.err != "" {
			t.Fatalf("%v: exit %d, stderr %q", tc.args, r.code, r.err)
		}
		docs := strings.Split(r.out, "\n---\n")
		if !strings.HasPrefix(docs[0], "# What kubectl opea unsecure needs") || !strings.Contains(docs[0], "kubectl create clusterrolebinding kubectl-opea-unsecure-chatqna --clusterrole kubectl-opea-unsecure-chatqna") {
			t.Errorf("%v: no binding instructions before the objects:\n%s", tc.args, docs[0])
		}
		var where []string
		for _, doc := range docs[1:] {
			var role rbacv1.Role // a ClusterRole reads the same
			if err := yaml.UnmarshalStrict([]byte(doc), &role); err != nil {
				t.Fatalf("%v\n%s", err, doc)
			}
			if role.Name != "kubectl-opea-unsecure-chatqna" || len(role.Rules) == 0 {
				t.Errorf("%s %s/%s with %d rules", role.Kind, role.Namespace, role.Name, len(role.Rules))
			}
			where = append(where, role.Kind+" "+role.Namespace)
		}
		if got := strings.Join(where, ", "); got != tc.where {
			t.Errorf("%v: objects %s, want %s", tc.args, got, tc.where)
		}
	}
	if n := len(c.kube.Actions()) + len(c.dyn.Actions()); n != 0 {
		t.Errorf("--print-rbac made %d requests", n)
	}
	for _, args := range [][]string{{"-o", "name"}, {"--dry-run=server"}, {"--wait"}} {
		r := runOn(t, c, append([]string{"unsecure", "--print-rbac", "-n", "chatqna"}, args...)...)
		if r.code != ExitUsage || !strings.Contains(r.err, "--print-rbac prints RBAC objects and nothing else") || r.out != "" {
			t.Errorf("%v: exit %d, stderr %q", args, r.code, r.err)
		}
	}
}

// A user who may not make a read unsecure needs gets one list of every
// permission missing, reads and removals, with the --print-rbac command,
// before anything is read or deleted.
func TestUnsecureNamesEveryMissingPermissionBeforeReading(t *testing.T) {
	c := fakeClusterWith(t, twoSecuredApplications()...)
	refuse := map[string]bool{"list secrets": true, "delete virtualservices": true}
	c.kube.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		attrs := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview).Spec.ResourceAttributes
		allowed := !refuse[attrs.Verb+" "+attrs.Resource]
		return true, &authorizationv1.SelfSubjectAccessReview{Status: authorizationv1.SubjectAccessReviewStatus{Allowed: allowed}}, nil
	})
	r := runOn(t, c, "unsecure", "-n", "chatqna")
	want := "error: you lack permissions to read what unsecure must find, or to remove it: " +
		"delete virtualservices.networking.istio.io in namespace chatqna; list secrets in every namespace\n" +
		"  fix: ask a cluster admin to grant them: 'kubectl opea unsecure --print-rbac -n chatqna' prints the Roles and the ClusterRole to apply and bind to you; or use --context/--as with an identity that has them\n"
	if r.code != ExitFailure || r.err != want || r.out != "" {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s\nwant:\n%s", r.code, r.out, r.err, want)
	}
	if n := len(c.dyn.Actions()); n != 0 {
		t.Errorf("unsecure read %d times before refusing", n)
	}
}
