package apply

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// CheckRemove verifies, without writing, that the user may delete every
// object of remove and patch (to release fields of) every object of
// release. All missing permissions are reported together.
func (a *Applier) CheckRemove(ctx context.Context, remove, release []*unstructured.Unstructured) error {
	var missing []string
	for verb, objs := range map[string][]*unstructured.Unstructured{"delete": remove, "patch": release} {
		ts, err := a.targets(objs)
		if err != nil {
			return err
		}
		for _, t := range ts {
			ok, err := a.allowed(ctx, verb, t)
			if err != nil {
				return err
			}
			if !ok {
				missing = append(missing, describeAccess(verb, t))
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

// WaitGone polls until every object is gone or timeout passes.
func (a *Applier) WaitGone(ctx context.Context, objs []*unstructured.Unstructured, timeout time.Duration) error {
	ts, err := a.targets(objs)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	for _, t := range ts {
		for {
			_, err := t.resource.Get(ctx, t.obj.GetName(), metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				break
			}
			if err != nil {
				return err
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("timed out after %s waiting for %s to be deleted", timeout, where(t.obj))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return nil
}

// Release gives up every field the field manager owns in obj, by applying an
// object that sets nothing: a field no other manager owns is removed, one
// that another manager also set stays. It returns the object after.
func (a *Applier) Release(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	ts, err := a.targets([]*unstructured.Unstructured{obj})
	if err != nil {
		return nil, err
	}
	empty := &unstructured.Unstructured{}
	empty.SetAPIVersion(obj.GetAPIVersion())
	empty.SetKind(obj.GetKind())
	empty.SetName(obj.GetName())
	empty.SetNamespace(obj.GetNamespace())
	opts := metav1.ApplyOptions{FieldManager: a.FieldManager}
	if a.DryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	got, err := ts[0].resource.Apply(ctx, obj.GetName(), empty, opts)
	if err != nil {
		return nil, fmt.Errorf("releasing fields of %s: %w", where(obj), err)
	}
	return got, nil
}

// OwnsLabel reports whether manager's apply owns the label key of obj, and
// which other managers also set it.
func OwnsLabel(obj *unstructured.Unstructured, manager, key string) (owned bool, others []string) {
	for _, mf := range obj.GetManagedFields() {
		if mf.FieldsV1 == nil {
			continue
		}
		var fields struct {
			Metadata struct {
				Labels map[string]json.RawMessage `json:"f:labels"`
			} `json:"f:metadata"`
		}
		if err := json.Unmarshal(mf.FieldsV1.GetRawBytes(), &fields); err != nil {
			continue
		}
		if _, ok := fields.Metadata.Labels["f:"+key]; !ok {
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
