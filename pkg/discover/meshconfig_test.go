package discover

import (
	"context"
	"errors"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/opea-project/kubectl-opea/pkg/clients/clientstest"
)

// A revisioned istiod's mesh config is ConfigMap istio-<rev> in its
// namespace; each refused request of the search is named as a permission,
// the list's and the get's apart.
func TestReadMeshConfig(t *testing.T) {
	istiod := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "mesh-ctl", Name: "istiod-canary", Labels: map[string]string{"app": "istiod", "istio.io/rev": "canary"}}}
	mesh := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "mesh-ctl", Name: "istio-canary"},
		Data: map[string]string{"mesh": "rootNamespace: mesh-ctl\ntrustDomain: prod.example\n"}}
	for _, tc := range []struct {
		name      string
		refuse    string // the verb refused
		want      MeshConfig
		forbidden string
	}{
		{name: "found", want: MeshConfig{Namespace: "mesh-ctl", Name: "istio-canary", Found: true}},
		{name: "istiod refused", refuse: "list", forbidden: "you may not list deployments.apps (app=istiod) in every namespace"},
		{name: "the mesh config refused", refuse: "get", want: MeshConfig{Namespace: "mesh-ctl", Name: "istio-canary"},
			forbidden: `you may not get configmaps "istio-canary" in namespace mesh-ctl`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kube := clientstest.New(t, istiod, mesh).Kube
			if tc.refuse != "" {
				kube.PrependReactor(tc.refuse, "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
					return true, nil, apierrors.NewForbidden(a.GetResource().GroupResource(), "", errors.New("RBAC"))
				})
			}
			got, err := ReadMeshConfig(context.Background(), kube)
			var forbidden *Forbidden
			switch {
			case tc.forbidden == "" && err != nil:
				t.Fatal(err)
			case tc.forbidden != "" && (!errors.As(err, &forbidden) || err.Error() != tc.forbidden):
				t.Errorf("error %v, want %q", err, tc.forbidden)
			}
			if got.Namespace != tc.want.Namespace || got.Name != tc.want.Name || got.Found != tc.want.Found {
				t.Errorf("found %s/%s (%v), want %s/%s (%v)", got.Namespace, got.Name, got.Found, tc.want.Namespace, tc.want.Name, tc.want.Found)
			}
			wantRoot, wantDomain := "istio-system", "cluster.local"
			if tc.want.Found {
				wantRoot, wantDomain = "mesh-ctl", "prod.example"
			}
			if got.RootNamespace != wantRoot || got.TrustDomain != wantDomain {
				t.Errorf("root namespace %q, trust domain %q; want %q and %q", got.RootNamespace, got.TrustDomain, wantRoot, wantDomain)
			}
		})
	}
}
