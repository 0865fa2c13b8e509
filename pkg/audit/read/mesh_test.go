package read_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
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

// refusedRequest is a request the API server refuses: verb of resource,
// and of the object named, if one is.
func refusedRequest(verb, resource, name string) func(k8stesting.Action) bool {
	return func(a k8stesting.Action) bool {
		if a.GetVerb() != verb || a.GetResource().Resource != resource {
			return false
		}
		get, ok := a.(k8stesting.GetAction)
		return name == "" || ok && verb == "get" && get.GetName() == name
	}
}

// The mesh identity comes from the reads of istiod, its mesh config and the
// roots that the audit of one namespace, or of all, makes; a refused read
// leaves it unknown (Unread), never named.
func TestReadMeshIdentity(t *testing.T) {
	for _, tc := range []struct {
		name   string
		objs   []runtime.Object
		refuse []func(k8stesting.Action) bool
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
		name: "no root in istiod's namespace",
		objs: meshObjects("")[:2],
		want: snapshot.MeshIdentity{Istiod: true, IstiodNamespace: "istio-system", TrustDomain: "cluster.local"},
	}, {
		// The list of every namespace's roots refused too, so that the
		// audit of all namespaces reads it by name as well.
		name:   "the root refused",
		objs:   meshObjects(""),
		refuse: []func(k8stesting.Action) bool{refusedRequest("get", "configmaps", "istio-ca-root-cert"), refusedRequest("list", "configmaps", "")},
		want: snapshot.MeshIdentity{Istiod: true, IstiodNamespace: "istio-system", TrustDomain: "cluster.local",
			Unread: []snapshot.Access{{Verb: "get", Resource: "configmaps", Name: "istio-ca-root-cert", Namespace: "istio-system"}}},
	}, {
		name:   "the mesh config refused",
		objs:   meshObjects("trustDomain: prod.example\n"),
		refuse: []func(k8stesting.Action) bool{refusedRequest("get", "configmaps", "istio")},
		want: snapshot.MeshIdentity{Istiod: true, IstiodNamespace: "istio-system", TrustDomain: "cluster.local", RootCert: "ROOT",
			Unread: []snapshot.Access{{Verb: "get", Resource: "configmaps", Name: "istio", Namespace: "istio-system"}}},
	}, {
		name:   "istiod refused",
		objs:   meshObjects(""),
		refuse: []func(k8stesting.Action) bool{refusedRequest("list", "deployments", "")},
		want: snapshot.MeshIdentity{TrustDomain: "cluster.local",
			Unread: []snapshot.Access{{Verb: "list", Group: "apps", Resource: "deployments", AllNamespaces: true}}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			for _, all := range []bool{false, true} {
				clients, kube, _ := cluster{Kube: tc.objs}.Clients(t)
				for _, refused := range tc.refuse {
					forbid(&kube.Fake, refused)
				}
				got := readMesh(t, clients, all)
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("all namespaces %v (-want +got):\n%s", all, diff)
				}
			}
		})
	}
}

// readMesh is the mesh identity an audit of namespace chatqna, or of all
// namespaces, reads.
func readMesh(t *testing.T, clients read.Clients, all bool) snapshot.MeshIdentity {
	t.Helper()
	if all {
		fleet, err := read.ReadAll(context.Background(), clients, read.ReadOptions{AllNamespaces: true, MeshIdentity: true})
		if err != nil {
			t.Fatal(err)
		}
		return fleet.Mesh
	}
	s, err := read.Read(context.Background(), clients, read.ReadOptions{Namespace: "chatqna", MeshIdentity: true})
	if err != nil {
		t.Fatal(err)
	}
	return s.Mesh
}

// Naming the mesh adds no request to an audit of all namespaces, which
// lists every namespace's root anyway, and one to an audit of one
// namespace: the GET of the root in istiod's namespace. istiod and its
// mesh config are read once either way; without MeshIdentity, the root of
// istiod's namespace is not read.
func TestReadMeshIdentityAddsAtMostOneRequest(t *testing.T) {
	for _, tc := range []struct {
		name         string
		o            read.ReadOptions
		wantRootGets []string
	}{
		{"one namespace", read.ReadOptions{Namespace: "chatqna", MeshIdentity: true}, []string{"istio-system", "chatqna"}},
		{"one namespace, not asked", read.ReadOptions{Namespace: "chatqna"}, []string{"chatqna"}},
		{"all namespaces", read.ReadOptions{AllNamespaces: true, MeshIdentity: true}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clients, kube, _ := cluster{Kube: meshObjects("defaultConfig:\n  meshId: mesh1\n")}.Clients(t)
			if tc.o.AllNamespaces {
				if _, err := read.ReadAll(context.Background(), clients, tc.o); err != nil {
					t.Fatal(err)
				}
			} else if _, err := read.Read(context.Background(), clients, tc.o); err != nil {
				t.Fatal(err)
			}
			var rootGets []string
			istiodLists, meshGets := 0, 0
			for _, a := range kube.Actions() {
				get, isGet := a.(k8stesting.GetAction)
				isGet = isGet && a.GetVerb() == "get"
				switch {
				case a.GetVerb() == "list" && a.GetResource().Resource == "deployments":
					istiodLists++
				case isGet && a.GetResource().Resource == "configmaps" && get.GetName() == "istio":
					meshGets++
				case isGet && a.GetResource().Resource == "configmaps" && get.GetName() == "istio-ca-root-cert":
					rootGets = append(rootGets, a.GetNamespace())
				}
			}
			if istiodLists != 1 || meshGets != 1 {
				t.Errorf("istiod listed %d times, its mesh config read %d times; want once each", istiodLists, meshGets)
			}
			if diff := cmp.Diff(tc.wantRootGets, rootGets); diff != "" {
				t.Errorf("roots read by name, by namespace (-want +got):\n%s", diff)
			}
		})
	}
}
