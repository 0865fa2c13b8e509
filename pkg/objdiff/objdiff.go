// Package objdiff prints how an object would change as kubectl diff prints
// it: a unified diff of the live object against the object after the
// change, in YAML, under the headers of `diff -u -N` with paths that name
// the object. It leaves out what the server keeps for its own bookkeeping,
// and never prints a Secret's data.
package objdiff

import (
	"fmt"
	"io"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// Context is the number of unchanged lines around each change, as diff -u.
const Context = 3

// Name names obj's files as kubectl diff names them:
// group.version.Kind.namespace.name, e.g.
// networking.istio.io.v1.Gateway.chatqna.opea-ingress, or v1.Namespace..chatqna
// for an object of no namespace.
func Name(obj *unstructured.Unstructured) string {
	gvk := obj.GroupVersionKind()
	group := ""
	if gvk.Group != "" {
		group = gvk.Group + "."
	}
	return fmt.Sprintf("%s%s.%s.%s.%s", group, gvk.Version, gvk.Kind, obj.GetNamespace(), obj.GetName())
}

// Write prints the diff of live against merged to w, and reports whether
// they differ. Either may be nil: an object to be created (live nil) shows
// as all additions, one to be deleted (merged nil) as all removals. Both
// nil, or equal once cleaned, print nothing.
func Write(w io.Writer, live, merged *unstructured.Unstructured) (bool, error) {
	named := live
	if named == nil {
		named = merged
	}
	if named == nil {
		return false, nil
	}
	live, merged = cleaned(live), cleaned(merged)
	if isSecret(named) {
		maskSecretData(live, merged)
	}
	a, err := lines(live)
	if err != nil {
		return false, err
	}
	b, err := lines(merged)
	if err != nil {
		return false, err
	}
	if strings.Join(a, "") == strings.Join(b, "") {
		return false, nil
	}
	name := Name(named)
	from, to := "LIVE/"+name, "MERGED/"+name
	if _, err := fmt.Fprintf(w, "diff -u -N %s %s\n", from, to); err != nil {
		return false, err
	}
	return true, difflib.WriteUnifiedDiff(w, difflib.UnifiedDiff{A: a, B: b, FromFile: from, ToFile: to, Context: Context})
}

// bookkeeping are the fields the server sets on every write, or on
// creation, that no apply sets: they would show on every object and say
// nothing about the change.
var bookkeeping = [][]string{
	{"metadata", "managedFields"},
	{"metadata", "generation"},
	{"metadata", "resourceVersion"},
	{"metadata", "uid"},
	{"metadata", "creationTimestamp"},
	// Written by controllers (cert-manager, istiod), never by an apply:
	// a dry run returns the live status, a creation none.
	{"status"},
}

// cleaned is a copy of obj without its bookkeeping; nil stays nil.
func cleaned(obj *unstructured.Unstructured) *unstructured.Unstructured {
	if obj == nil {
		return nil
	}
	c := obj.DeepCopy()
	for _, path := range bookkeeping {
		unstructured.RemoveNestedField(c.Object, path...)
	}
	if len(c.GetAnnotations()) == 0 {
		unstructured.RemoveNestedField(c.Object, "metadata", "annotations")
	}
	return c
}

// lines is obj as YAML, a line each, each with its newline; none for nil.
func lines(obj *unstructured.Unstructured) ([]string, error) {
	if obj == nil {
		return nil, nil
	}
	data, err := yaml.Marshal(obj.Object)
	if err != nil {
		return nil, fmt.Errorf("printing %s: %w", Name(obj), err)
	}
	out := strings.SplitAfter(string(data), "\n")
	if out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out, nil
}

func isSecret(obj *unstructured.Unstructured) bool {
	gvk := obj.GroupVersionKind()
	return gvk.Group == "" && gvk.Kind == "Secret"
}

// maskSecretData replaces every value of a Secret's data and stringData
// with asterisks, as kubectl diff does: "***" where the value stays,
// "*** (before)" and "*** (after)" where it changes, so that the diff says
// which keys change without showing a byte of them.
func maskSecretData(live, merged *unstructured.Unstructured) {
	for _, field := range []string{"data", "stringData"} {
		before := stringMap(live, field)
		after := stringMap(merged, field)
		for key, v := range before {
			w, stays := after[key]
			switch {
			case !stays:
				before[key] = "***"
			case v == w:
				before[key], after[key] = "***", "***"
			default:
				before[key], after[key] = "*** (before)", "*** (after)"
			}
		}
		for key := range after {
			if _, was := before[key]; !was {
				after[key] = "***"
			}
		}
	}
}

// stringMap is the map at field of obj, which a change of its values
// changes in obj; nil when obj is nil or holds none.
func stringMap(obj *unstructured.Unstructured, field string) map[string]interface{} {
	if obj == nil {
		return nil
	}
	m, _ := obj.Object[field].(map[string]interface{})
	return m
}
