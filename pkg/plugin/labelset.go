package plugin

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// parseLabelSet reads "key=value[,key=value]" as exact labels to select
// pods by. Unlike labels.ConvertSelectorToLabelsMap it refuses a key given
// twice: "a=b,a=c" selects nothing a user could mean, and keeping either
// value silently would target pods the user did not name.
func parseLabelSet(s string) (map[string]string, error) {
	set := map[string]string{}
	for _, pair := range strings.Split(s, ",") {
		key, value, ok := strings.Cut(strings.TrimSpace(pair), "=")
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if !ok || key == "" || strings.ContainsAny(value, "=!") {
			return nil, fmt.Errorf("%q is not key=value; use key=value[,key=value]", pair)
		}
		if errs := validation.IsQualifiedName(key); len(errs) > 0 {
			return nil, fmt.Errorf("label key %q: %s", key, strings.Join(errs, "; "))
		}
		if errs := validation.IsValidLabelValue(value); len(errs) > 0 {
			return nil, fmt.Errorf("label value %q: %s", value, strings.Join(errs, "; "))
		}
		if prev, dup := set[key]; dup {
			return nil, fmt.Errorf("label %s is given twice (%s and %s); a pod has one value per label", key, prev, value)
		}
		set[key] = value
	}
	return set, nil
}
