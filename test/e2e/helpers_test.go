package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"

	"github.com/opea-project/kubectl-opea/pkg/await"
	"github.com/opea-project/kubectl-opea/test/fixtures"
)

func adminKube(t testing.TB) kubernetes.Interface {
	t.Helper()
	kube, err := kubernetes.NewForConfig(cluster.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	return kube
}

var namespaceCounter atomic.Int64

// newNamespace creates a namespace named after the test and deletes it when
// the test ends.
func newNamespace(t testing.TB) string {
	t.Helper()
	return createNamespace(t, namespaceName(t))
}

// namespaceName returns a namespace name unique to this run, made from the
// test's name.
func namespaceName(t testing.TB) string {
	// A namespace name is a DNS label: every other character becomes '-'.
	name := strings.Map(func(r rune) rune {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			return r
		}
		return '-'
	}, strings.ToLower(t.Name()))
	if len(name) > 50 {
		name = name[:50]
	}
	return fmt.Sprintf("%s-%d", strings.Trim(name, "-"), namespaceCounter.Add(1))
}

// createNamespace creates the namespace name and deletes it when the test ends.
func createNamespace(t testing.TB, name string) string {
	t.Helper()
	kube := adminKube(t)
	if _, err := kube.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = kube.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	return name
}

// eventually waits through await.Until, polling cond every 100ms until it
// holds, and fails the test once timeout passes, with cond's last error.
// An error from cond means "not yet": the cluster may answer otherwise on
// the next call.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	err := await.Until(context.Background(), timeout, 100*time.Millisecond, what, func(context.Context) (bool, string, error) {
		ok, err := cond()
		return ok, fmt.Sprintf("last error: %v", err), nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// grantLimitedUser binds rules to the limited user, cluster-wide when
// namespace is empty, and removes the binding when the test ends.
func grantLimitedUser(t testing.TB, name, namespace string, rules []rbacv1.PolicyRule) {
	t.Helper()
	ctx := context.Background()
	kube := adminKube(t)
	subjects := []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: limitedUser}}
	if namespace == "" {
		if _, err := kube.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := kube.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
			RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: name}, Subjects: subjects}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = kube.RbacV1().ClusterRoleBindings().Delete(ctx, name, metav1.DeleteOptions{})
			_ = kube.RbacV1().ClusterRoles().Delete(ctx, name, metav1.DeleteOptions{})
		})
		return
	}
	if _, err := kube.RbacV1().Roles(namespace).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := kube.RbacV1().RoleBindings(namespace).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: name}, Subjects: subjects}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = kube.RbacV1().RoleBindings(namespace).Delete(ctx, name, metav1.DeleteOptions{})
		_ = kube.RbacV1().Roles(namespace).Delete(ctx, name, metav1.DeleteOptions{})
	})
}

// appPods are the ChatQnA pods the tests run in an app namespace.
var appPods = []string{"chatqna-nginx", "chatqna-backend", "chatqna-ui"}

// runCapturedAppPods creates appPods in ns, waits for kwok to run them
// (istiod knows a workload only once it has an address), writes what
// istio-cni would (the pods captured by ztunnel), and waits for the entry
// Service's endpoints.
func runCapturedAppPods(t *testing.T, ns string) []string {
	t.Helper()
	ctx, kube := context.Background(), adminKube(t)
	if err := fixtures.CreateAppPods(ctx, kube, ns, appPods...); err != nil {
		t.Fatal(err)
	}
	if err := fixtures.WaitPodsReady(ctx, kube, ns, "", len(appPods)); err != nil {
		t.Fatal(err)
	}
	if err := fixtures.SimulateAmbientCapture(ctx, kube, ns, "enabled"); err != nil {
		t.Fatal(err)
	}
	waitEntryEndpoints(t, ns)
	return appPods
}

// adminMapper is a RESTMapper over the local control plane's discovery: the
// resource of a kind is the one the API server serves it as, never a plural
// guessed from the kind.
func adminMapper(t testing.TB) meta.RESTMapper {
	t.Helper()
	disco, err := discovery.NewDiscoveryClientForConfig(cluster.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	return restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disco))
}

// resourceOf is the dynamic client of obj's resource, as mapper maps its
// kind, in obj's namespace when the resource lives in one.
func resourceOf(mapper meta.RESTMapper, obj *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	gvk := obj.GroupVersionKind()
	m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cluster.AdminConfig())
	if err != nil {
		return nil, err
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		return dyn.Resource(m.Resource).Namespace(obj.GetNamespace()), nil
	}
	return dyn.Resource(m.Resource), nil
}
