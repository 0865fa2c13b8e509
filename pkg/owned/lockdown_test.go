package owned

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/opea-project/kubectl-opea/pkg/apply"
	"github.com/opea-project/kubectl-opea/pkg/clients/clientstest"
	"github.com/opea-project/kubectl-opea/pkg/discover"
	"github.com/opea-project/kubectl-opea/pkg/ownership"
)

func policy(name string, opts ...option) *unstructured.Unstructured {
	return object("security.istio.io/v1", "AuthorizationPolicy", app, name, opts...)
}

// lockdownPolicies are secure --lockdown's three, each with extra options
// by name.
func lockdownPolicies(extra map[string][]option) []*unstructured.Unstructured {
	with := func(name string) []option { return append([]option{ours(app)}, extra[name]...) }
	return []*unstructured.Unstructured{
		policy("opea-allow-ingress", with("opea-allow-ingress")...),
		policy("opea-allow-app", with("opea-allow-app")...),
		policy("opea-deny-by-default", with("opea-deny-by-default")...),
	}
}

const (
	denyRef    = "authorizationpolicy.security.istio.io/opea-deny-by-default in chatqna"
	allowApp   = "authorizationpolicy.security.istio.io/opea-allow-app in chatqna"
	allowGWRef = "authorizationpolicy.security.istio.io/opea-allow-ingress in chatqna"
)

func TestFindLockdownPolicies(t *testing.T) {
	enrolled := namespace(app, ambient(ownership.ManagedByValue, applyOp))
	withPolicies := discover.APIs{Networking: "v1", Security: "v1", AuthorizationPolicies: "v1"}
	// A user's own policies, one with secure's name, and another
	// application's: never touched.
	users := one(policy("team-allow"), policy("opea-allow-app-2"),
		object("security.istio.io/v1", "AuthorizationPolicy", "rag", "opea-allow-app", ours("rag")))
	for _, tc := range []struct {
		name     string
		objs     []*unstructured.Unstructured
		apis     discover.APIs
		keepMTLS bool
		want     result
	}{
		{
			name: "secure's policies go after routing and before mTLS, allow-nothing first, the gateway's last",
			objs: objects(one(enrolled), routing(nil), lockdownPolicies(nil), users),
			apis: withPolicies,
			want: result{
				Remove:    []string{vsRef, gwRef, denyRef, allowApp, allowGWRef, paRef},
				Namespace: app, NamespaceObject: app, Managers: secureManager,
			},
		},
		{
			name: "an adopted policy stays, one of secure's name but not its labels is left alone",
			objs: objects(one(enrolled),
				one(policy("opea-allow-ingress", ours(app), adoptedObject), policy("opea-allow-app", ours(app)), policy("opea-deny-by-default"))),
			apis: withPolicies,
			want: result{
				Remove:    []string{allowApp},
				Keep:      []string{allowGWRef},
				Namespace: app, NamespaceObject: app, Managers: secureManager,
				LeftAlone: []Note{{"authorizationpolicy.security.istio.io/opea-deny-by-default", notBy}},
			},
		},
		{
			name:     "--keep-mtls keeps the lockdown with STRICT mTLS",
			objs:     objects(one(enrolled), routing(nil), lockdownPolicies(nil)),
			apis:     withPolicies,
			keepMTLS: true,
			want:     result{Remove: []string{vsRef, gwRef}, NamespaceObject: app, Managers: secureManager},
		},
		{
			name: "AuthorizationPolicy not served: not looked for",
			objs: objects(one(enrolled), routing(nil)),
			apis: discover.APIs{Networking: "v1", Security: "v1"},
			want: result{Remove: []string{vsRef, gwRef, paRef}, Namespace: app, NamespaceObject: app, Managers: secureManager},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := newClient(t, tc.objs, nil)
			found, err := Find(context.Background(), client, Options{AppNamespace: app, FieldManager: ownership.ManagedByValue, APIs: tc.apis, KeepMTLS: tc.keepMTLS})
			if err != nil {
				t.Fatalf("Find: %v", err)
			}
			if diff := cmp.Diff(tc.want, summarize(found)); diff != "" {
				t.Errorf("Find (-want +got):\n%s", diff)
			}
			for _, a := range client.Actions() {
				if a.GetResource().Resource == "authorizationpolicies" && tc.apis.AuthorizationPolicies == "" {
					t.Errorf("%s authorizationpolicies although not served", a.GetVerb())
				}
			}
		})
	}
}

// secure --lockdown=false finds only the lockdown's policies.
func TestFindLockdown(t *testing.T) {
	objs := objects(one(namespace(app)), routing(nil),
		lockdownPolicies(map[string][]option{"opea-allow-ingress": {adoptedObject}}), one(policy("team-allow")))
	client := newClient(t, objs, nil)
	o := Options{AppNamespace: app, FieldManager: ownership.ManagedByValue, APIs: discover.APIs{Networking: "v1", Security: "v1", AuthorizationPolicies: "v1"}}
	found, err := FindLockdown(context.Background(), client, o)
	if err != nil {
		t.Fatal(err)
	}
	want := result{Remove: []string{denyRef, allowApp}, Keep: []string{allowGWRef}, Managers: secureManager}
	if diff := cmp.Diff(want, summarize(found)); diff != "" {
		t.Errorf("FindLockdown (-want +got):\n%s", diff)
	}

	// Removing deletes only secure's own, and reports each as unsecure does.
	applier := &apply.Applier{Dynamic: client, Mapper: clientstest.Mapper(), FieldManager: ownership.ManagedByValue}
	removeOnly := &Found{Remove: found.Remove, Managers: found.Managers}
	var steps []Step
	if err := Remove(context.Background(), applier, removeOnly, func(s Step) { steps = append(steps, s) }); err != nil {
		t.Fatal(err)
	}
	wantSteps := []Step{
		{"authorizationpolicy.security.istio.io/opea-deny-by-default", "deleted"},
		{"authorizationpolicy.security.istio.io/opea-allow-app", "deleted"},
	}
	if diff := cmp.Diff(wantSteps, steps); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	left, err := client.Resource(authorizationPoliciesGVR).Namespace(app).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range left.Items {
		names = append(names, p.GetName())
	}
	if diff := cmp.Diff([]string{"opea-allow-ingress", "team-allow"}, names); diff != "" {
		t.Errorf("policies left (-want +got):\n%s", diff)
	}

	// Without the right to list them, the missing permission is named.
	_, err = FindLockdown(context.Background(), newClient(t, objs, []forbid{{"list", "authorizationpolicies"}}), o)
	if err == nil || !strings.Contains(err.Error(), "list authorizationpolicies.security.istio.io in namespace chatqna") {
		t.Errorf("FindLockdown = %v", err)
	}
}
