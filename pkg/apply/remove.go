package apply

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/opea-project/kubectl-opea/pkg/await"
)

// CheckRemove verifies, without writing, that the user may delete every
// object of remove and patch (to release fields of, or give fields back in)
// every object of release. All missing permissions are reported together,
// in the order of the objects.
func (a *Applier) CheckRemove(ctx context.Context, remove, release []*unstructured.Unstructured) error {
	var missing []string
	for _, step := range []struct {
		verb string
		objs []*unstructured.Unstructured
	}{{"delete", remove}, {"patch", release}} {
		ts, err := a.targets(step.objs)
		if err != nil {
			return err
		}
		for _, t := range ts {
			ok, err := a.allowed(ctx, step.verb, t)
			if err != nil {
				return err
			}
			if !ok {
				missing = append(missing, describeAccess(step.verb, t))
			}
		}
	}
	if len(missing) > 0 {
		return permissionProblem(missing)
	}
	return nil
}

// Delete deletes every object, in order. An object already gone counts as
// deleted.
func (a *Applier) Delete(ctx context.Context, objs []*unstructured.Unstructured) ([]Result, error) {
	ts, err := a.targets(objs)
	if err != nil {
		return nil, err
	}
	var results []Result
	for _, t := range ts {
		if err := a.stopped(); err != nil {
			return results, err
		}
		opts := metav1.DeleteOptions{}
		if a.DryRun {
			opts.DryRun = []string{metav1.DryRunAll}
		}
		// Delete only the object that was found, not a namesake made since.
		if uid := t.obj.GetUID(); uid != "" {
			opts.Preconditions = &metav1.Preconditions{UID: &uid}
		}
		err := t.resource.Delete(ctx, t.obj.GetName(), opts)
		if err != nil && !apierrors.IsNotFound(err) {
			return results, fmt.Errorf("deleting %s: %w", where(t.obj), err)
		}
		results = append(results, Result{Ref: Ref(t.obj), Action: Deleted, Object: t.obj})
	}
	return results, nil
}

// WaitGone polls until every object is gone, timeout passes (an
// *await.TimeoutError), or ctx ends.
func (a *Applier) WaitGone(ctx context.Context, objs []*unstructured.Unstructured, timeout time.Duration) error {
	ts, err := a.targets(objs)
	if err != nil {
		return err
	}
	return await.Until(ctx, timeout, 200*time.Millisecond, fmt.Sprintf("%d deleted objects to be gone", len(ts)), func(ctx context.Context) (bool, string, error) {
		for _, t := range ts {
			_, err := t.resource.Get(ctx, t.obj.GetName(), metav1.GetOptions{})
			if err == nil {
				return false, where(t.obj) + " still exists", nil
			}
			if !apierrors.IsNotFound(err) {
				return false, "", err
			}
		}
		return true, "", nil
	})
}

// Release gives up every field the applier's field manager owns in obj.
func (a *Applier) Release(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	return a.ReleaseAs(ctx, obj, a.FieldManager)
}

// ReleaseAs gives up every field manager owns in obj, by applying as manager
// an object that sets nothing: a field no other manager owns is removed, one
// that another manager also set stays. It returns the object after.
func (a *Applier) ReleaseAs(ctx context.Context, obj *unstructured.Unstructured, manager string) (*unstructured.Unstructured, error) {
	if err := a.stopped(); err != nil {
		return nil, err
	}
	ts, err := a.targets([]*unstructured.Unstructured{obj})
	if err != nil {
		return nil, err
	}
	empty := &unstructured.Unstructured{}
	empty.SetAPIVersion(obj.GetAPIVersion())
	empty.SetKind(obj.GetKind())
	empty.SetName(obj.GetName())
	empty.SetNamespace(obj.GetNamespace())
	opts := metav1.ApplyOptions{FieldManager: manager}
	if a.DryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	got, err := ts[0].resource.Apply(ctx, obj.GetName(), empty, opts)
	if err != nil {
		return nil, fmt.Errorf("releasing fields of %s: %w", where(obj), err)
	}
	return got, nil
}

// GiveBack sets fields of obj back to values they held, as manager: a merge
// patch, an update in manager's name, so the fields return to manager as
// they were before another manager's forced apply took them.
func (a *Applier) GiveBack(ctx context.Context, obj *unstructured.Unstructured, manager string, values []FieldValue) (*unstructured.Unstructured, error) {
	if err := a.stopped(); err != nil {
		return nil, err
	}
	ts, err := a.targets([]*unstructured.Unstructured{obj})
	if err != nil {
		return nil, err
	}
	patch := map[string]interface{}{}
	for _, v := range values {
		if err := unstructured.SetNestedField(patch, runtime.DeepCopyJSONValue(v.Value), v.Path...); err != nil {
			return nil, fmt.Errorf("giving back %v of %s: %w", v.Path, where(obj), err)
		}
	}
	data, err := json.Marshal(patch)
	if err != nil {
		return nil, err
	}
	opts := metav1.PatchOptions{FieldManager: manager}
	if a.DryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	got, err := ts[0].resource.Patch(ctx, obj.GetName(), types.MergePatchType, data, opts)
	if err != nil {
		return nil, fmt.Errorf("giving fields of %s back to %s: %w", where(obj), manager, err)
	}
	return got, nil
}

// FieldValue is a value at a path of an object; each path element is a
// field name or a map key.
type FieldValue struct {
	Path  []string    `json:"path"`
	Value interface{} `json:"value"`
}

// fieldSet reads a managed fields entry's set of fields; nil when it has
// none or it does not parse.
func fieldSet(mf metav1.ManagedFieldsEntry) map[string]interface{} {
	if mf.FieldsV1 == nil {
		return nil
	}
	var set map[string]interface{}
	if err := json.Unmarshal(mf.FieldsV1.GetRawBytes(), &set); err != nil {
		return nil
	}
	return set
}

// holds reports whether a field set holds the field at path (a map path:
// each element a field name or map key).
func holds(set map[string]interface{}, path []string) bool {
	for _, p := range path {
		next, ok := set["f:"+p].(map[string]interface{})
		if !ok {
			return false
		}
		set = next
	}
	return set != nil
}

// Owns reports whether manager's apply owns the field at path in obj.
func Owns(obj *unstructured.Unstructured, manager string, path []string) bool {
	for _, mf := range obj.GetManagedFields() {
		if mf.Manager == manager && mf.Operation == metav1.ManagedFieldsOperationApply && holds(fieldSet(mf), path) {
			return true
		}
	}
	return false
}

// Appliers lists the managers whose apply owns the field at path in obj.
func Appliers(obj *unstructured.Unstructured, path []string) []string {
	var out []string
	for _, mf := range obj.GetManagedFields() {
		if mf.Operation == metav1.ManagedFieldsOperationApply && holds(fieldSet(mf), path) && !slices.Contains(out, mf.Manager) {
			out = append(out, mf.Manager)
		}
	}
	return out
}

// OwnsOnly reports whether every field manager's apply owns in obj lies at
// or under one of paths: releasing as manager then removes nothing else.
func OwnsOnly(obj *unstructured.Unstructured, manager string, paths [][]string) bool {
	within := func(path []string) bool {
		for _, p := range paths {
			// A field under an allowed one, or a map on the way to one
			// (the "." entry that says the map itself is set).
			if len(path) >= len(p) && slices.Equal(path[:len(p)], p) {
				return true
			}
		}
		return false
	}
	onTheWay := func(path []string) bool {
		for _, p := range paths {
			if len(path) <= len(p) && slices.Equal(p[:len(path)], path) {
				return true
			}
		}
		return false
	}
	var walk func(set map[string]interface{}, path []string) bool
	walk = func(set map[string]interface{}, path []string) bool {
		for k, v := range set {
			if k == "." {
				if !onTheWay(path) {
					return false
				}
				continue
			}
			name, isField := strings.CutPrefix(k, "f:")
			if !isField {
				return false // a list element: not one of secure's map paths
			}
			child := append(slices.Clone(path), name)
			sub, _ := v.(map[string]interface{})
			if within(child) {
				continue
			}
			if len(sub) == 0 || !onTheWay(child) || !walk(sub, child) {
				return false
			}
		}
		return true
	}
	for _, mf := range obj.GetManagedFields() {
		if mf.Manager == manager && mf.Operation == metav1.ManagedFieldsOperationApply && !walk(fieldSet(mf), nil) {
			return false
		}
	}
	return true
}

// OwnsLabel reports whether manager's apply owns the label key of obj, and
// which other managers also set it.
func OwnsLabel(obj *unstructured.Unstructured, manager, key string) (owned bool, others []string) {
	for _, mf := range obj.GetManagedFields() {
		if !holds(fieldSet(mf), []string{"metadata", "labels", key}) {
			continue
		}
		if mf.Manager == manager && mf.Operation == metav1.ManagedFieldsOperationApply {
			owned = true
		} else {
			others = append(others, mf.Manager)
		}
	}
	return owned, others
}
