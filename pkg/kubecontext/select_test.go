package kubecontext

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

var kubeconfig = []string{"prod-us", "dev", "prod-old", "stage", "prod-eu", "arn:aws:eks:eu-west-1:1:cluster/prod"}

func TestSelect(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want []string
	}{
		{"dev", []string{"dev"}},
		{"stage,dev", []string{"dev", "stage"}},
		{"dev,stage,/prod-.*/,^prod-old", []string{"dev", "prod-eu", "prod-us", "stage"}},
		// Only exclusions: they start from every context.
		{"^dev,^/prod-/", []string{"arn:aws:eks:eu-west-1:1:cluster/prod", "stage"}},
		// In order: an exclusion before an inclusion removes nothing it adds.
		{"^prod-old,/^prod-/", []string{"prod-eu", "prod-old", "prod-us"}},
		{"/^prod-/,^prod-old", []string{"prod-eu", "prod-us"}},
		// A regular expression matches anywhere in the name.
		{"/prod/", []string{"arn:aws:eks:eu-west-1:1:cluster/prod", "prod-eu", "prod-old", "prod-us"}},
		// A name holding a slash is a name; a regular expression may hold commas.
		{"arn:aws:eks:eu-west-1:1:cluster/prod", []string{"arn:aws:eks:eu-west-1:1:cluster/prod"}},
		{"/^prod-[a-z]{2,2}$/,dev", []string{"dev", "prod-eu", "prod-us"}},
		{" dev , stage ", []string{"dev", "stage"}},
		// The same context twice is selected once.
		{"dev,/^d/", []string{"dev"}},
	} {
		patterns, err := Parse(tc.spec)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.spec, err)
			continue
		}
		got, err := Select(kubeconfig, patterns)
		if err != nil {
			t.Errorf("Select(%q): %v", tc.spec, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("Select(%q) (-want +got):\n%s", tc.spec, diff)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	for spec, want := range map[string]string{
		"":             "no context named: give names, /regular expressions/ or ^exclusions, separated by commas",
		"dev,,stage":   `"dev,,stage" has an empty entry: separate names with single commas`,
		"dev,":         `"dev," ends with a comma`,
		"^":            `"^" has an empty entry: separate names with single commas`,
		"/prod-(/":     "\"/prod-(/\" is not a valid regular expression: error parsing regexp: missing closing ): `prod-(`",
		"/prod-.*":     `"/prod-.*": a regular expression must end with /`,
		"dev,^/prod/x": `"^/prod/x": a regular expression must end with /`,
	} {
		_, err := Parse(spec)
		if err == nil || err.Error() != want {
			t.Errorf("Parse(%q): %v; want %s", spec, err, want)
		}
	}
}

func TestSelectRefuses(t *testing.T) {
	for spec, want := range map[string]string{
		"dev,prod": `"prod" matches no context; the kubeconfig has arn:aws:eks:eu-west-1:1:cluster/prod, dev, prod-eu, prod-old, prod-us, stage`,
		"^qa":      `"^qa" matches no context; the kubeconfig has arn:aws:eks:eu-west-1:1:cluster/prod, dev, prod-eu, prod-old, prod-us, stage`,
		"/^eu-/":   `"/^eu-/" matches no context; the kubeconfig has arn:aws:eks:eu-west-1:1:cluster/prod, dev, prod-eu, prod-old, prod-us, stage`,
		"dev,^/d/": "the selection leaves no context: its exclusions remove every context it would choose",
		"^/./":     "the selection leaves no context: its exclusions remove every context it would choose",
	} {
		patterns, err := Parse(spec)
		if err != nil {
			t.Fatalf("Parse(%q): %v", spec, err)
		}
		_, err = Select(kubeconfig, patterns)
		if err == nil || err.Error() != want {
			t.Errorf("Select(%q): %v; want %s", spec, err, want)
		}
	}
	if _, err := Select(nil, []Pattern{{Text: "dev", Name: "dev"}}); err == nil || err.Error() != `"dev" matches no context: the kubeconfig has none` {
		t.Errorf("an empty kubeconfig: %v", err)
	}
}
