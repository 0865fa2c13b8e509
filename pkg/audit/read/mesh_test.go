package read_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kubefake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/opea-project/kubectl-opea/pkg/audit/read"
	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
)

func meshObjects(meshConfig string) []runtime.Object {
	return []runtime.Object{
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "istiod", Labels: map[string]string{"app": "istiod"}}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "istio"}, Data: map[string]string{"mesh": meshConfig}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "istio-ca-root-cert"}, Data: map[string]string{"root-cert.pem": "ROOT"}},
		// istiod publishes the root in every namespace: the one read is istiod's.
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "chatqna", Name: "istio-ca-root-cert"}, Data: map[string]string{"root-cert.pem": "OTHER"}},
	}
}

func TestReadMeshIdentity(t *testing.T) {
	for _, tc := range []struct {
		name   string
		objs   []runtime.Object
		refuse string
		want   snapshot.MeshIdentity
	}{{
		name: "mesh ID and trust domain from the mesh config, the root from istiod's namespace",
		objs: meshObjects("trustDomain: prod.example\ndefaultConfig:\n  meshId: mesh1\n"),
		want: snapshot.MeshIdentity{Istiod: true, IstiodNamespace: "istio-system", MeshID: "mesh1", TrustDomain: "prod.example", RootCert: "ROOT"},
	}, {
		name: "Istio's defaults",
		objs: meshObjects(""),
		want: snapshot.MeshIdentity{Istiod: true, IstiodNamespace: "istio-system", TrustDomain: "cluster.local", RootCert: "ROOT"},
	}, {
		name: "no istiod: no mesh",
		want: snapshot.MeshIdentity{TrustDomain: "cluster.local"},
	}, {
		name:   "the root refused",
		objs:   meshObjects(""),
		refuse: "istio-ca-root-cert",
		want: snapshot.MeshIdentity{Istiod: true, IstiodNamespace: "istio-system", TrustDomain: "cluster.local",
			Unread: []snapshot.Access{{Verb: "get", Resource: "configmaps", Name: "istio-ca-root-cert", Namespace: "istio-system"}}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			kube := kubefake.NewClientset(tc.objs...)
			if tc.refuse != "" {
				kube.PrependReactor("get", "configmaps", func(a k8stesting.Action) (bool, runtime.Object, error) {
					if a.(k8stesting.GetAction).GetName() == tc.refuse {
						return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "configmaps"}, tc.refuse, nil)
					}
					return false, nil, nil
				})
			}
			got, err := read.ReadMeshIdentity(context.Background(), kube)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
