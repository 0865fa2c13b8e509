// Package clientstest is one fake cluster for tests: the Kubernetes,
// dynamic and metadata fake clients over one served list of APIs, a
// clients.Getter that hands them out (with cached discovery and a REST
// mapper over that list, as kubectl's flags hand them out), and a record
// of the requests and writes they saw.
//
// Fakes answer reads and flag logic only: what applying, deleting and RBAC
// do is tested against the real API server of the local control plane.
// This package is test code: the plugin binary never imports it.
package clientstest

import (
	"fmt"
	"slices"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	fakediscovery "k8s.io/client-go/discovery/fake"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"
	kubescheme "k8s.io/client-go/kubernetes/scheme"
	metadatafake "k8s.io/client-go/metadata/fake"
	k8stesting "k8s.io/client-go/testing"
)

// Cluster is a fake cluster. Its discovery is the Kubernetes clientset's,
// so a Cluster is fully described by its three clients: one rebuilt from
// them is the same cluster.
type Cluster struct {
	Kube     *kubefake.Clientset
	Dynamic  *dynamicfake.FakeDynamicClient
	Metadata *metadatafake.FakeMetadataClient
}

// New returns a cluster serving DefaultServed and holding objs (see Add).
// Setting it up is not recorded as requests.
func New(t testing.TB, objs ...runtime.Object) *Cluster {
	t.Helper()
	metaScheme := metadatafake.NewTestScheme()
	metaScheme.AddKnownTypeWithName(schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, &metav1.PartialObjectMetadata{})
	metaScheme.AddKnownTypeWithName(schema.GroupVersionKind{Version: "v1", Kind: "PodList"}, &metav1.PartialObjectMetadataList{})
	c := &Cluster{
		Kube:     kubefake.NewClientset(),
		Dynamic:  dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), listKinds()),
		Metadata: metadatafake.NewSimpleMetadataClient(metaScheme),
	}
	c.Discovery().Resources = resourceLists(DefaultServed)
	if err := c.Add(objs...); err != nil {
		t.Fatal(err)
	}
	return c
}

// Add puts objects into the cluster, each where the API server would keep
// it: an Unstructured one into the dynamic client, under the resource the
// RESTMapper names for its kind; a PartialObjectMetadata (a pod's labels)
// into the metadata client; a typed one into the Kubernetes clientset,
// replacing one of the same name (a namespace with labels replaces a bare
// one).
func (c *Cluster) Add(objs ...runtime.Object) error {
	for _, obj := range objs {
		if err := c.add(obj); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cluster) add(obj runtime.Object) error {
	switch o := obj.(type) {
	case *unstructured.Unstructured:
		gvr, err := ResourceFor(o.GroupVersionKind())
		if err != nil {
			return fmt.Errorf("no resource for %s: %w", o.GroupVersionKind(), err)
		}
		return c.Dynamic.Tracker().Create(gvr, o, o.GetNamespace())
	case *metav1.PartialObjectMetadata:
		return c.Metadata.Tracker().Add(o)
	}
	err := c.Kube.Tracker().Add(obj)
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	kinds, _, err := kubescheme.Scheme.ObjectKinds(obj)
	if err != nil {
		return err
	}
	gvr, err := ResourceFor(kinds[0])
	if err != nil {
		return err
	}
	ns := ""
	if m, ok := obj.(metav1.Object); ok {
		ns = m.GetNamespace()
	}
	return c.Kube.Tracker().Update(gvr, obj, ns)
}

// Discovery is the fake discovery client, to set what it answers (the
// server's version) beyond what the Serve methods set.
func (c *Cluster) Discovery() *fakediscovery.FakeDiscovery {
	return c.Kube.Discovery().(*fakediscovery.FakeDiscovery)
}

// served is every resource discovery lists now.
func (c *Cluster) served() []schema.GroupVersionResource {
	var out []schema.GroupVersionResource
	for _, l := range c.Discovery().Resources {
		gv, _ := schema.ParseGroupVersion(l.GroupVersion)
		for _, r := range l.APIResources {
			out = append(out, gv.WithResource(r.Name))
		}
	}
	return out
}

// ServeOnly makes discovery list exactly resources.
func (c *Cluster) ServeOnly(resources ...schema.GroupVersionResource) *Cluster {
	c.Discovery().Resources = resourceLists(resources)
	return c
}

// Serve adds resources to what discovery lists.
func (c *Cluster) Serve(resources ...schema.GroupVersionResource) *Cluster {
	served := c.served()
	for _, r := range resources {
		if !slices.Contains(served, r) {
			served = append(served, r)
		}
	}
	return c.ServeOnly(served...)
}

// ServeGatewayAPI serves the Gateway API's GatewayClass, Gateway and
// HTTPRoute in version.
func (c *Cluster) ServeGatewayAPI(version string) *Cluster {
	return c.Serve(gvr(GatewayAPI, version, "gatewayclasses"), gvr(GatewayAPI, version, "gateways"), gvr(GatewayAPI, version, "httproutes"))
}

// StopServing leaves the API groups named out of discovery, as on a
// cluster where they are not installed.
func (c *Cluster) StopServing(groups ...string) *Cluster {
	return c.ServeOnly(slices.DeleteFunc(c.served(), func(r schema.GroupVersionResource) bool { return slices.Contains(groups, r.Group) })...)
}

// StopServingResources leaves resources out of discovery.
func (c *Cluster) StopServingResources(resources ...schema.GroupVersionResource) *Cluster {
	return c.ServeOnly(slices.DeleteFunc(c.served(), func(r schema.GroupVersionResource) bool { return slices.Contains(resources, r) })...)
}

// AllowAccessReviews answers every SelfSubjectAccessReview "allowed": the
// user holds every permission a command checks for before it reads. What a
// missing one does is tested against the real API server.
func (c *Cluster) AllowAccessReviews() *Cluster {
	c.Kube.PrependReactor("create", "selfsubjectaccessreviews", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, &authorizationv1.SelfSubjectAccessReview{Status: authorizationv1.SubjectAccessReviewStatus{Allowed: true}}, nil
	})
	return c
}

// Requests are every request the three clients saw since the last
// ClearRequests, discovery's among the Kubernetes clientset's.
func (c *Cluster) Requests() []k8stesting.Action {
	var all []k8stesting.Action
	if c.Kube != nil {
		all = append(all, c.Kube.Actions()...)
	}
	if c.Dynamic != nil {
		all = append(all, c.Dynamic.Actions()...)
	}
	if c.Metadata != nil {
		all = append(all, c.Metadata.Actions()...)
	}
	return all
}

// ClearRequests forgets the requests seen so far.
func (c *Cluster) ClearRequests() {
	if c.Kube != nil {
		c.Kube.ClearActions()
	}
	if c.Dynamic != nil {
		c.Dynamic.ClearActions()
	}
	if c.Metadata != nil {
		c.Metadata.ClearActions()
	}
}

// Writes are the requests that are not reads, each as "VERB
// resource.group in namespace NS". A SelfSubjectAccessReview is a
// question whether the user may, not a write, and is left out.
func (c *Cluster) Writes() []string {
	var out []string
	for _, a := range c.Requests() {
		switch {
		case a.GetVerb() == "get" || a.GetVerb() == "list" || a.GetVerb() == "watch":
			continue
		case a.GetResource().Resource == "selfsubjectaccessreviews":
			continue
		}
		out = append(out, a.GetVerb()+" "+a.GetResource().GroupResource().String()+" in namespace "+a.GetNamespace())
	}
	return out
}
