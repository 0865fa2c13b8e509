package secure

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/opea-project/kubectl-opea/pkg/apply"
	"github.com/opea-project/kubectl-opea/pkg/ownership"
)

// markAdopted annotates each desired object whose existing twin was not
// created by secure, or was already marked adopted: unsecure leaves such an
// object in place. checked runs parallel to objs. The namespace is not
// adopted: secure only sets one label on it.
func markAdopted(objs []*unstructured.Unstructured, checked []apply.Checked) {
	for i, obj := range objs {
		ex := checked[i].Existing
		if ex == nil || obj.GetKind() == "Namespace" {
			continue
		}
		if !ownership.Managed(ex.GetLabels()) || ex.GetAnnotations()[ownership.AdoptedAnnotation] == "true" {
			setAnnotation(obj, ownership.AdoptedAnnotation, "true")
		}
	}
}

// recordTakeovers annotates the namespace and each adopted object with the
// fields a forced apply takes from other managers (from checked, parallel
// to objs), keeping what earlier runs recorded: the apply would otherwise
// drop the annotation, and with it the values to give back. Run it after
// markAdopted. Objects unsecure deletes need no record.
func recordTakeovers(objs []*unstructured.Unstructured, checked []apply.Checked) error {
	for i, obj := range objs {
		ex := checked[i].Existing
		if ex == nil || (obj.GetKind() != "Namespace" && obj.GetAnnotations()[ownership.AdoptedAnnotation] != "true") {
			continue
		}
		earlier, err := apply.DecodeTakeovers(ex.GetAnnotations()[ownership.TakeoversAnnotation])
		if err != nil {
			return apply.BadTakeoversRecord(ex, err)
		}
		all := apply.MergeTakeovers(earlier, apply.Takeovers(obj, ex, checked[i].Conflicts))
		if len(all) == 0 {
			continue
		}
		value, err := apply.EncodeTakeovers(all)
		if err != nil {
			return err
		}
		setAnnotation(obj, ownership.TakeoversAnnotation, value)
	}
	return nil
}

func setAnnotation(obj *unstructured.Unstructured, key, value string) {
	ann := obj.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[key] = value
	obj.SetAnnotations(ann)
}
