package apply

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"unicode"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/opea-project/kubectl-opea/pkg/ownership"
	"github.com/opea-project/kubectl-opea/pkg/problems"
)

// Takeover is a field a forced apply took from another field manager, with
// the value it held then: enough to give it back.
type Takeover struct {
	Path    []string    `json:"path"`
	Manager string      `json:"manager"`
	Value   interface{} `json:"value"`
}

// Takeovers matches the conflicts the server reported for applying obj to
// the fields obj sets, and reads what existing held there. A conflict on an
// element of a list obj sets is matched to the whole list: that is what the
// apply replaces.
func Takeovers(obj, existing *unstructured.Unstructured, conflicts []Conflict) []Takeover {
	if existing == nil {
		return nil
	}
	leaves := leafPaths(obj.Object, nil)
	var out []Takeover
	for _, c := range conflicts {
		path := matchField(leaves, c.Field)
		if path == nil {
			continue
		}
		value, found, err := unstructured.NestedFieldNoCopy(existing.Object, path...)
		if err != nil || !found {
			continue
		}
		out = append(out, Takeover{Path: path, Manager: c.Manager, Value: runtime.DeepCopyJSONValue(value)})
	}
	return MergeTakeovers(nil, out)
}

// MergeTakeovers adds the takeovers of later to those of earlier, keeping
// the earlier record of a path: that one holds the value from before the
// first forced apply. The result is sorted by path.
func MergeTakeovers(earlier, later []Takeover) []Takeover {
	out := append([]Takeover(nil), earlier...)
	for _, t := range later {
		if !slices.ContainsFunc(out, func(o Takeover) bool { return slices.Equal(o.Path, t.Path) }) {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return slices.Compare(out[i].Path, out[j].Path) < 0 })
	return out
}

// EncodeTakeovers writes takeovers as the JSON an annotation holds.
func EncodeTakeovers(ts []Takeover) (string, error) {
	b, err := json.Marshal(ts)
	return string(b), err
}

// DecodeTakeovers reads what EncodeTakeovers wrote; an empty string is none.
// The record lives in an annotation anyone who may patch the object can
// edit, and unsecure gives each value back as its manager: it is checked
// as Takeovers builds it (ValidateTakeovers), and refused otherwise.
func DecodeTakeovers(s string) ([]Takeover, error) {
	if s == "" {
		return nil, nil
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	var ts []Takeover
	if err := dec.Decode(&ts); err != nil {
		return nil, fmt.Errorf("not a JSON list of {path, manager, value}: %w", err)
	}
	if dec.More() {
		return nil, errors.New("not a JSON list of {path, manager, value}: text after the list")
	}
	if err := ValidateTakeovers(ts); err != nil {
		return nil, err
	}
	return ts, nil
}

// BadTakeoversRecord is the problem of an object whose takeovers
// annotation (ownership.TakeoversAnnotation) is not what secure records
// (err says why): secure and unsecure refuse to merge it or give its values
// back, before writing anything.
func BadTakeoversRecord(obj *unstructured.Unstructured, err error) error {
	what := Ref(obj)
	where := ""
	if ns := obj.GetNamespace(); ns != "" {
		where = " -n " + ns
	}
	return problems.New(
		fmt.Sprintf("%s: annotation %s is not what kubectl opea secure records: %v", what, ownership.TakeoversAnnotation, err),
		fmt.Sprintf("restore it as secure wrote it, or remove it (kubectl annotate %s%s %s-) if the fields it recorded need not be given back", what, where, ownership.TakeoversAnnotation))
}

// ValidateTakeovers checks takeovers as Takeovers and MergeTakeovers make
// them: each a path of non-empty keys that an apply can own (never the
// object's kind, name, namespace, status or managed fields), a field
// manager name the API server accepts (ValidateFieldManager), and a value;
// each path once.
func ValidateTakeovers(ts []Takeover) error {
	var bad []string
	for i, t := range ts {
		if problem := takeoverProblem(t); problem != "" {
			bad = append(bad, fmt.Sprintf("entry %d: %s", i+1, problem))
		}
		if slices.ContainsFunc(ts[:i], func(o Takeover) bool { return slices.Equal(o.Path, t.Path) }) {
			bad = append(bad, fmt.Sprintf("entry %d: path %s recorded twice", i+1, strings.Join(t.Path, ".")))
		}
	}
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, "; "))
	}
	return nil
}

// takeoverProblem says what is wrong with one takeover, "" if nothing.
func takeoverProblem(t Takeover) string {
	if len(t.Path) == 0 || slices.Contains(t.Path, "") {
		return fmt.Sprintf("path %q is empty or has an empty key", t.Path)
	}
	switch {
	case len(t.Path) == 1 && slices.Contains([]string{"apiVersion", "kind", "metadata", "status"}, t.Path[0]),
		t.Path[0] == "status",
		t.Path[0] == "metadata" && slices.Contains([]string{"name", "namespace", "uid", "resourceVersion", "generation", "managedFields", "creationTimestamp", "deletionTimestamp"}, t.Path[1]):
		return fmt.Sprintf("path %s is no field an apply takes over", strings.Join(t.Path, "."))
	}
	if err := ValidateFieldManager(t.Manager); err != nil {
		return "manager " + err.Error()
	}
	if t.Value == nil {
		return fmt.Sprintf("path %s has no value to give back", strings.Join(t.Path, "."))
	}
	return ""
}

// MaxFieldManagerLength is the API server's limit on a field manager's
// name.
const MaxFieldManagerLength = 128

// ValidateFieldManager checks a field manager's name as the API server
// does (at most 128 bytes, printable characters), and that it is given.
func ValidateFieldManager(m string) error {
	if m == "" {
		return errors.New(`"" is empty`)
	}
	if len(m) > MaxFieldManagerLength {
		return fmt.Errorf("%q is %d bytes long, more than the API server's %d", m, len(m), MaxFieldManagerLength)
	}
	for i, r := range m {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("%q has the unprintable character %U at byte %d", m, r, i)
		}
	}
	return nil
}

// leafPaths lists the paths of the values obj sets that are not maps, but
// for apiVersion, kind and the object's name, which an apply cannot change.
func leafPaths(m map[string]interface{}, prefix []string) [][]string {
	var out [][]string
	for k, v := range m {
		path := append(slices.Clone(prefix), k)
		if len(path) == 1 && (k == "apiVersion" || k == "kind") {
			continue
		}
		if len(path) == 2 && path[0] == "metadata" && (k == "name" || k == "namespace") {
			continue
		}
		if sub, ok := v.(map[string]interface{}); ok && len(sub) > 0 {
			out = append(out, leafPaths(sub, path)...)
			continue
		}
		out = append(out, path)
	}
	return out
}

// matchField finds the leaf the server's field path names: the same path
// written out (".spec.mtls.mode"), else the longest leaf it lies under
// (".spec.servers[...]" under ".spec.servers"). Map keys may hold dots, so
// paths are compared as the server writes them.
func matchField(leaves [][]string, field string) []string {
	var best []string
	bestLen := -1
	for _, p := range leaves {
		s := "." + strings.Join(p, ".")
		if s == field {
			return p
		}
		if strings.HasPrefix(field, s) && len(s) > bestLen {
			if next := field[len(s)]; next == '[' || next == '.' {
				best, bestLen = p, len(s)
			}
		}
	}
	return best
}
