package owned

import (
	"context"
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/opea-project/kubectl-opea/pkg/apply"
	"github.com/opea-project/kubectl-opea/pkg/desired"
	"github.com/opea-project/kubectl-opea/pkg/ownership"
)

// Step is one thing Remove did to one object, for the command to print:
// Ref names the object, What what happened ("deleted", ...).
type Step struct {
	Ref  string
	What string
}

// Nothing reports whether nothing of secure's is left to act on.
func (f *Found) Nothing() bool {
	return len(f.Remove) == 0 && len(f.Keep) == 0 && f.Namespace == nil
}

// ToRelease are the objects Remove patches rather than deletes: the kept
// ones and the namespace.
func (f *Found) ToRelease() []*unstructured.Unstructured {
	release := slices.Clone(f.Keep)
	if f.Namespace != nil {
		release = append(release, f.Namespace)
	}
	return release
}

// Plan lists what Remove would do, without doing it.
func (f *Found) Plan() []Step {
	var steps []Step
	for _, obj := range f.Remove {
		steps = append(steps, Step{apply.Ref(obj), "deleted"})
	}
	for _, obj := range f.Keep {
		steps = append(steps, Step{apply.Ref(obj), keptWhy})
	}
	if f.Namespace != nil {
		steps = append(steps, Step{apply.Ref(f.Namespace), "label " + desired.DataplaneModeLabel + " released"})
	}
	return steps
}

const keptWhy = "kept, secure's fields released: it existed before kubectl opea secure took it over"

// Remove deletes what f lists for removal, gives back to their managers the
// fields secure took over in the objects it keeps (and the namespace), and
// releases every field secure's managers own there. It tells report each
// step as it is done; on an error, what is left still carries secure's
// labels, so a rerun finishes the job.
func Remove(ctx context.Context, applier *apply.Applier, f *Found, report func(Step)) error {
	results, err := applier.Delete(ctx, f.Remove)
	for _, r := range results {
		report(Step{r.Ref, string(r.Action)})
	}
	if err != nil {
		return err
	}
	for _, obj := range f.Keep {
		if _, err := giveBackAndRelease(ctx, applier, f, obj, report); err != nil {
			return err
		}
		report(Step{apply.Ref(obj), keptWhy})
	}
	if ns := f.Namespace; ns != nil {
		after, err := giveBackAndRelease(ctx, applier, f, ns, report)
		if err != nil {
			return err
		}
		report(Step{apply.Ref(ns), namespaceLabelOutcome(ns, after)})
	}
	return nil
}

// giveBackAndRelease returns to their managers the fields secure took over
// in obj with --force-conflicts, then releases every field secure's
// managers own there: what they alone set goes, what others set too stays.
func giveBackAndRelease(ctx context.Context, applier *apply.Applier, f *Found, obj *unstructured.Unstructured, report func(Step)) (*unstructured.Unstructured, error) {
	takeovers, err := apply.DecodeTakeovers(obj.GetAnnotations()[ownership.TakeoversAnnotation])
	if err != nil {
		return nil, apply.BadTakeoversRecord(obj, err)
	}
	byManager := map[string][]apply.FieldValue{}
	var managers []string
	for _, t := range takeovers {
		// A field its owner set again since is theirs already.
		if !slices.ContainsFunc(f.Managers, func(m string) bool { return apply.Owns(obj, m, t.Path) }) {
			continue
		}
		if _, ok := byManager[t.Manager]; !ok {
			managers = append(managers, t.Manager)
		}
		byManager[t.Manager] = append(byManager[t.Manager], apply.FieldValue{Path: t.Path, Value: t.Value})
	}
	after := obj
	for _, m := range managers {
		if after, err = applier.GiveBack(ctx, after, m, byManager[m]); err != nil {
			return nil, err
		}
		for _, v := range byManager[m] {
			report(Step{apply.Ref(obj), fmt.Sprintf("field %s given back to %s", strings.Join(v.Path, "."), m)})
		}
	}
	for _, m := range f.Managers {
		if !slices.Contains(appliers(after), m) || !f.mayRelease(after, m) {
			continue
		}
		if after, err = applier.ReleaseAs(ctx, after, m); err != nil {
			return nil, err
		}
	}
	return after, nil
}

func appliers(obj *unstructured.Unstructured) []string {
	var out []string
	for _, mf := range obj.GetManagedFields() {
		if mf.Operation == metav1.ManagedFieldsOperationApply {
			out = append(out, mf.Manager)
		}
	}
	return out
}

// namespaceLabelOutcome says what became of the ambient label.
func namespaceLabelOutcome(before, after *unstructured.Unstructured) string {
	label := desired.DataplaneModeLabel
	value, still := after.GetLabels()[label]
	switch {
	case !still:
		return "label " + label + " removed"
	case before.GetLabels()[label] != value:
		return "label " + label + "=" + value + " restored"
	}
	_, setBy := apply.OwnsLabel(after, "", label)
	return "label " + label + " kept: also set by " + strings.Join(setBy, ", ")
}

// OtherManagers are the field managers, not among secure's, whose apply
// set the namespace's ambient label to what secure sets, and nothing but
// secure's fields there: after secure ran
// with --field-manager and every labelled object is gone, only the user
// knows whether one of them was secure.
func (f *Found) OtherManagers() []string {
	ns := f.NamespaceObject
	if f.Namespace != nil || ns == nil || ns.GetLabels()[desired.DataplaneModeLabel] != "ambient" {
		return nil
	}
	var out []string
	for _, m := range apply.Appliers(ns, labelPath(desired.DataplaneModeLabel)) {
		// Naming one that owns more than secure's fields there would have
		// the user release those too.
		if !slices.Contains(f.Managers, m) && apply.OwnsOnly(ns, m, namespaceFields) {
			out = append(out, m)
		}
	}
	return out
}

// Change is one object Remove acts on, as it is and as Remove would leave
// it: After is nil for an object deleted.
type Change struct {
	Before, After *unstructured.Unstructured
}

// Preview returns what Remove would do to each object, without doing it:
// applier must send dry runs. The objects kept are asked of the server: a
// dry run of the release by the first of secure's field managers that
// holds fields there, with the values given back set over its answer (dry
// runs do not build on each other, so a release by a second manager, left
// by a secure run with another --field-manager, is not shown).
func Preview(ctx context.Context, applier *apply.Applier, f *Found) ([]Change, error) {
	if !applier.DryRun {
		return nil, fmt.Errorf("owned.Preview needs a dry-run applier")
	}
	var out []Change
	for _, obj := range f.Remove {
		out = append(out, Change{Before: obj})
	}
	for _, obj := range f.ToRelease() {
		after, err := previewRelease(ctx, applier, f, obj)
		if err != nil {
			return nil, err
		}
		out = append(out, Change{Before: obj, After: after})
	}
	return out, nil
}

// previewRelease is obj as giveBackAndRelease would leave it, as Preview
// says.
func previewRelease(ctx context.Context, applier *apply.Applier, f *Found, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	after := obj
	for _, m := range f.Managers {
		if !slices.Contains(appliers(obj), m) || !f.mayRelease(obj, m) {
			continue
		}
		released, err := applier.ReleaseAs(ctx, obj, m)
		if err != nil {
			return nil, err
		}
		after = released
		break
	}
	takeovers, err := apply.DecodeTakeovers(obj.GetAnnotations()[ownership.TakeoversAnnotation])
	if err != nil {
		return nil, apply.BadTakeoversRecord(obj, err)
	}
	after = after.DeepCopy()
	for _, t := range takeovers {
		if !slices.ContainsFunc(f.Managers, func(m string) bool { return apply.Owns(obj, m, t.Path) }) {
			continue // its owner set it again since: Remove leaves it
		}
		if err := unstructured.SetNestedField(after.Object, runtime.DeepCopyJSONValue(t.Value), t.Path...); err != nil {
			return nil, fmt.Errorf("giving back %s of %s: %w", strings.Join(t.Path, "."), apply.Ref(obj), err)
		}
	}
	return after, nil
}
