// Package apply writes objects with server-side apply and removes them
// again, after checking that it may: the user has every permission needed and
// no other field manager owns what would change. It knows nothing about
// Istio; its callers decide which objects to write.
package apply

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	authorizationclient "k8s.io/client-go/kubernetes/typed/authorization/v1"

	"github.com/opea-project/kubectl-opea/pkg/problems"
)

// Action is what happened to one object, in kubectl's words.
type Action string

const (
	Applied   Action = "serverside-applied"
	Unchanged Action = "unchanged"
	Deleted   Action = "deleted"
	// Planned marks objects of a client-side dry run: nothing was sent.
	Planned Action = "serverside-applied (dry run)"
)

// Result is the outcome for one object.
type Result struct {
	// Ref names the object as kubectl does: kind.group/name.
	Ref    string
	Action Action
	// Object is the object as the server returned it (or, for a client-side
	// dry run, as it would be sent).
	Object *unstructured.Unstructured
}

// Applier writes objects with server-side apply, and removes them.
type Applier struct {
	Dynamic      dynamic.Interface
	Mapper       meta.RESTMapper
	Access       authorizationclient.SelfSubjectAccessReviewInterface
	FieldManager string
	// Force takes over fields that another field manager owns.
	Force bool
	// DryRun sends every write with dryRun=All: the server validates and
	// answers, and stores nothing.
	DryRun bool
	// Stop, once closed, stops the applier before its next request (Ctrl-C):
	// the request in flight completes, so that what was written is known,
	// and the methods return what they did with ErrInterrupted.
	Stop <-chan struct{}
}

// ErrInterrupted is the error of a method that Stop stopped.
var ErrInterrupted = errors.New("interrupted")

// stopped returns ErrInterrupted once Stop is closed.
func (a *Applier) stopped() error {
	select {
	case <-a.Stop:
		return ErrInterrupted
	default:
		return nil
	}
}

// target is one object with where it lives.
type target struct {
	obj      *unstructured.Unstructured
	mapping  *meta.RESTMapping
	resource dynamic.ResourceInterface
	existing *unstructured.Unstructured // nil when absent
}

func (a *Applier) targets(objs []*unstructured.Unstructured) ([]*target, error) {
	var ts []*target
	for _, obj := range objs {
		gvk := obj.GroupVersionKind()
		mapping, err := a.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return nil, fmt.Errorf("%s %s is not served by the cluster: %w", gvk.Kind, gvk.GroupVersion(), err)
		}
		var res dynamic.ResourceInterface = a.Dynamic.Resource(mapping.Resource)
		if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
			res = a.Dynamic.Resource(mapping.Resource).Namespace(obj.GetNamespace())
		}
		ts = append(ts, &target{obj: obj, mapping: mapping, resource: res})
	}
	return ts, nil
}

// Ref names obj as kubectl prints it, e.g. peerauthentication.security.istio.io/default.
func Ref(obj *unstructured.Unstructured) string {
	gvk := obj.GroupVersionKind()
	kind := strings.ToLower(gvk.Kind)
	if gvk.Group != "" {
		kind += "." + gvk.Group
	}
	return kind + "/" + obj.GetName()
}

func where(obj *unstructured.Unstructured) string {
	if obj.GetNamespace() == "" {
		return Ref(obj)
	}
	return Ref(obj) + " in namespace " + obj.GetNamespace()
}

// Conflict is a field another field manager owns that an apply would
// change, as the server reported it.
type Conflict struct {
	// Field is the server's path of the field, e.g. .spec.mtls.mode or
	// .metadata.labels.istio.io/dataplane-mode.
	Field   string
	Manager string
}

// Checked is what Check found out about one object.
type Checked struct {
	// Existing is the object as read, nil when it does not exist yet.
	Existing *unstructured.Unstructured
	// Conflicts are the fields a forced apply takes over from other
	// managers; empty unless Force is set.
	Conflicts []Conflict
	// Answer is the object as the server answered the dry run of its
	// apply, what the apply will return; nil when it conflicted.
	Answer *unstructured.Unstructured
}

// Check verifies, without writing, that Apply of objs can succeed: that the
// user holds every permission needed (all missing ones are reported
// together) and, unless Force is set, that no other field manager owns a
// field the apply would change. It reads each object once. The result runs
// parallel to objs; with Force, it names the fields the apply takes over.
func (a *Applier) Check(ctx context.Context, objs []*unstructured.Unstructured) ([]Checked, error) {
	ts, err := a.targets(objs)
	if err != nil {
		return nil, err
	}
	// Every missing permission is collected before reporting, so the user
	// can ask for all of them at once.
	var missing []string
	for _, t := range ts {
		if err := a.stopped(); err != nil {
			return nil, err
		}
		canGet, err := a.allowed(ctx, "get", t)
		if err != nil {
			return nil, err
		}
		canPatch, err := a.allowed(ctx, "patch", t)
		if err != nil {
			return nil, err
		}
		if !canGet {
			missing = append(missing, describeAccess("get", t))
		}
		if !canPatch {
			missing = append(missing, describeAccess("patch", t))
		}
		// Creating is needed only for objects that do not exist yet; without
		// the right to read one, assume it does not.
		if canGet {
			if err := a.read(ctx, t); err != nil {
				return nil, err
			}
		}
		if !canGet || t.existing == nil {
			canCreate, err := a.allowed(ctx, "create", t)
			if err != nil {
				return nil, err
			}
			if !canCreate {
				missing = append(missing, describeAccess("create", t))
			}
		}
	}
	if len(missing) > 0 {
		return nil, permissionProblem(missing)
	}
	checked := make([]Checked, len(ts))
	var conflicts problems.List
	for i, t := range ts {
		if err := a.stopped(); err != nil {
			return nil, err
		}
		checked[i].Existing = t.existing
		// A dry run of every apply: the server validates each object and
		// runs admission before anything is written. Even when forcing, it
		// applies without force first: what is taken over is recorded, so
		// that it can be given back.
		answer, err := t.resource.Apply(ctx, t.obj.GetName(), t.obj, metav1.ApplyOptions{FieldManager: a.FieldManager, DryRun: []string{metav1.DryRunAll}})
		if apierrors.IsConflict(err) {
			checked[i].Conflicts = conflictsOf(err)
			if !a.Force {
				conflicts = append(conflicts, conflictProblem(t.obj, checked[i].Conflicts, err))
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("checking %s: %w", where(t.obj), err)
		}
		checked[i].Answer = answer
	}
	if len(conflicts) > 0 {
		return nil, conflicts
	}
	return checked, nil
}

func (a *Applier) read(ctx context.Context, t *target) error {
	got, err := t.resource.Get(ctx, t.obj.GetName(), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		t.existing = nil
	case err != nil:
		return fmt.Errorf("reading %s: %w", where(t.obj), err)
	default:
		t.existing = got
	}
	return nil
}

func (a *Applier) allowed(ctx context.Context, verb string, t *target) (bool, error) {
	review, err := a.Access.Create(ctx, &authorizationv1.SelfSubjectAccessReview{
		Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: t.obj.GetNamespace(),
			Verb:      verb,
			Group:     t.mapping.Resource.Group,
			Resource:  t.mapping.Resource.Resource,
			Name:      t.obj.GetName(),
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		return false, fmt.Errorf("asking the API server whether you may %s %s: %w", verb, resourceName(t.mapping.Resource), err)
	}
	return review.Status.Allowed, nil
}

func resourceName(gvr schema.GroupVersionResource) string {
	if gvr.Group == "" {
		return gvr.Resource
	}
	return gvr.Resource + "." + gvr.Group
}

func describeAccess(verb string, t *target) string {
	s := fmt.Sprintf("%s %s %q", verb, resourceName(t.mapping.Resource), t.obj.GetName())
	if ns := t.obj.GetNamespace(); ns != "" {
		s += " in namespace " + ns
	}
	return s
}

func permissionProblem(missing []string) error {
	return problems.New(
		"you lack permissions it needs: "+strings.Join(missing, "; "),
		"ask a cluster admin for a Role (or ClusterRole) granting them, or use --context/--as with an identity that has them")
}

// conflictsOf reads the fields and their managers from the 409 the server
// returned for an apply.
func conflictsOf(err error) []Conflict {
	var status apierrors.APIStatus
	if !errors.As(err, &status) || status.Status().Details == nil {
		return nil
	}
	var out []Conflict
	for _, c := range status.Status().Details.Causes {
		// Messages read: conflict with "manager" using group/version
		manager := c.Message
		if i := strings.Index(manager, `"`); i >= 0 {
			if j := strings.Index(manager[i+1:], `"`); j >= 0 {
				manager = manager[i+1 : i+1+j]
			}
		}
		out = append(out, Conflict{Field: c.Field, Manager: manager})
	}
	return out
}

// conflictProblem names the field managers that own what the apply would
// change.
func conflictProblem(obj *unstructured.Unstructured, conflicts []Conflict, err error) *problems.Problem {
	var owners []string
	seen := map[string]bool{}
	for _, c := range conflicts {
		entry := fmt.Sprintf("%s owned by %q", c.Field, c.Manager)
		if !seen[entry] {
			seen[entry] = true
			owners = append(owners, entry)
		}
	}
	sort.Strings(owners)
	if len(owners) == 0 {
		owners = []string{err.Error()}
	}
	return problems.New(
		fmt.Sprintf("%s exists and another field manager owns what would change: %s", where(obj), strings.Join(owners, ", ")),
		"rerun with --force-conflicts to take those fields over (unsecure gives them back), or change the object with the tool that owns them")
}

// Apply writes every object with server-side apply, in order, and reports
// for each whether the server changed it, by comparing with what Check read,
// parallel to objs. Run Check first: Apply stops at the first error and
// returns the results of the objects applied before it.
func (a *Applier) Apply(ctx context.Context, objs []*unstructured.Unstructured, checked []Checked) ([]Result, error) {
	if len(checked) != len(objs) {
		return nil, fmt.Errorf("apply: %d objects but %d checked states", len(objs), len(checked))
	}
	ts, err := a.targets(objs)
	if err != nil {
		return nil, err
	}
	opts := metav1.ApplyOptions{FieldManager: a.FieldManager, Force: a.Force}
	if a.DryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	var results []Result
	for i, t := range ts {
		if err := a.stopped(); err != nil {
			return results, err
		}
		got, err := t.resource.Apply(ctx, t.obj.GetName(), t.obj, opts)
		if err != nil {
			return results, fmt.Errorf("applying %s: %w", where(t.obj), err)
		}
		results = append(results, Result{Ref: Ref(t.obj), Action: action(checked[i].Existing, got, a.DryRun), Object: got})
	}
	return results, nil
}

// action tells whether the server changed the object. A real write moves the
// resourceVersion; a dry run does not, so its answer is compared instead.
func action(before, after *unstructured.Unstructured, dryRun bool) Action {
	if before == nil {
		return Applied
	}
	if !dryRun {
		if before.GetResourceVersion() == after.GetResourceVersion() {
			return Unchanged
		}
		return Applied
	}
	if equalIgnoringBookkeeping(before, after) {
		return Unchanged
	}
	return Applied
}

func equalIgnoringBookkeeping(a, b *unstructured.Unstructured) bool {
	strip := func(u *unstructured.Unstructured) map[string]interface{} {
		c := u.DeepCopy()
		c.SetManagedFields(nil)
		c.SetResourceVersion("")
		c.SetGeneration(0)
		return c.Object
	}
	return equality.Semantic.DeepEqual(strip(a), strip(b))
}
