package e2e

import (
	"context"
	"testing"
	"time"

	securityv1beta1 "istio.io/api/security/v1beta1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	istioclient "istio.io/client-go/pkg/clientset/versioned"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

var certificateGVR = schema.GroupVersionResource{Group: "cert-manager.io", Version: "v1", Resource: "certificates"}

func TestIstioClientCreatesAndReadsPeerAuthentication(t *testing.T) {
	ns := newNamespace(t)
	istio, err := istioclient.NewForConfig(cluster.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pa := &securityv1.PeerAuthentication{
		ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns},
	}
	pa.Spec.Mtls = &securityv1beta1.PeerAuthentication_MutualTLS{Mode: securityv1beta1.PeerAuthentication_MutualTLS_STRICT}
	if _, err := istio.SecurityV1().PeerAuthentications(ns).Create(ctx, pa, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating PeerAuthentication: %v", err)
	}
	got, err := istio.SecurityV1().PeerAuthentications(ns).Get(ctx, "default", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading PeerAuthentication back: %v", err)
	}
	if mode := got.Spec.GetMtls().GetMode(); mode != securityv1beta1.PeerAuthentication_MutualTLS_STRICT {
		t.Errorf("mtls.mode read back = %v, want STRICT", mode)
	}
}

func TestDynamicClientCreatesAndReadsCertificate(t *testing.T) {
	ns := newNamespace(t)
	dyn, err := dynamic.NewForConfig(cluster.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	cert := &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "cert-manager.io/v1",
		"kind":       "Certificate",
		"metadata":   map[string]interface{}{"name": "chatqna-tls", "namespace": ns},
		"spec": map[string]interface{}{
			"secretName": "chatqna-tls",
			"dnsNames":   []interface{}{"chatqna.example.com"},
			"issuerRef":  map[string]interface{}{"name": "chatqna-ca", "kind": "Issuer"},
		},
	}}
	ctx := context.Background()
	if _, err := dyn.Resource(certificateGVR).Namespace(ns).Create(ctx, cert, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating Certificate: %v", err)
	}
	got, err := dyn.Resource(certificateGVR).Namespace(ns).Get(ctx, "chatqna-tls", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading Certificate back: %v", err)
	}
	dnsNames, _, _ := unstructured.NestedStringSlice(got.Object, "spec", "dnsNames")
	if len(dnsNames) != 1 || dnsNames[0] != "chatqna.example.com" {
		t.Errorf("spec.dnsNames read back = %v", dnsNames)
	}
}

// The API server itself must refuse a mode the Istio schema does not list:
// this fails if the CRDs were installed without their schemas.
func TestAPIServerRejectsInvalidPeerAuthenticationMode(t *testing.T) {
	ns := newNamespace(t)
	dyn, err := dynamic.NewForConfig(cluster.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	pa := &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "security.istio.io/v1",
		"kind":       "PeerAuthentication",
		"metadata":   map[string]interface{}{"name": "default", "namespace": ns},
		"spec":       map[string]interface{}{"mtls": map[string]interface{}{"mode": "SOMETIMES"}},
	}}
	gvr := schema.GroupVersionResource{Group: "security.istio.io", Version: "v1", Resource: "peerauthentications"}
	_, err = dyn.Resource(gvr).Namespace(ns).Create(context.Background(), pa, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) {
		t.Fatalf("creating a PeerAuthentication with mode SOMETIMES: got %v, want an Invalid error from the API server", err)
	}
}

func TestLimitedUserIsForbiddenOutsideItsRole(t *testing.T) {
	ns := newNamespace(t)
	ctx := context.Background()
	admin := adminKube(t)
	// The Role lets the user read ConfigMaps in ns and nothing else.
	if _, err := admin.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "read-configmaps"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "read-configmaps"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "read-configmaps"},
		Subjects:   []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: limitedUser}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg, err := cluster.UserConfig(limitedUser)
	if err != nil {
		t.Fatal(err)
	}
	user, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// RBAC changes take effect at once, but allow for the authorizer's cache.
	eventually(t, 10*time.Second, "the Role to grant ConfigMap reads", func() (bool, error) {
		_, err := user.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
		return err == nil, err
	})
	_, err = user.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("listing Secrets as %s: got %v, want Forbidden", limitedUser, err)
	}
	_, err = user.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("creating a ConfigMap as %s: got %v, want Forbidden", limitedUser, err)
	}
}

// The controller manager makes the cluster behave like one: ServiceAccounts
// appear, Deployments make Pods, owners' deletion cascades, namespaces go away.
func TestControllerManagerRunsTheControllersTestsNeed(t *testing.T) {
	ns := newNamespace(t)
	ctx := context.Background()
	kube := adminKube(t)

	eventually(t, 30*time.Second, "ServiceAccount "+ns+"/default", func() (bool, error) {
		_, err := kube.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, err
	})

	replicas := int32(2)
	labels := map[string]string{"app": "nginx"}
	deploy := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "nginx"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "nginx", Image: "nginx"}}},
			},
		},
	}
	if _, err := kube.AppsV1().Deployments(ns).Create(ctx, deploy, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the Deployment's two Pods", func() (bool, error) {
		pods, err := kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=nginx"})
		return err == nil && len(pods.Items) == 2, err
	})

	// Deleting the Deployment in the background leaves the cascade to the
	// garbage collector.
	background := metav1.DeletePropagationBackground
	if err := kube.AppsV1().Deployments(ns).Delete(ctx, "nginx", metav1.DeleteOptions{PropagationPolicy: &background}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "garbage collection of the ReplicaSet", func() (bool, error) {
		rs, err := kube.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
		return err == nil && len(rs.Items) == 0, err
	})

	if err := kube.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "namespace "+ns+" to be deleted", func() (bool, error) {
		_, err := kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), err
	})
}
