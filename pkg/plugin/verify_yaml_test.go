package plugin

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

// -o yaml prints the document -o json prints, in YAML: for one namespace,
// for every namespace (-A), and when the audit could not run; with the same
// exit code and stderr.
func TestVerifyYAMLIsTheJSONDocument(t *testing.T) {
	c := fakeClusterWith(t, chatQnANotSecured()...)
	unreachable := writeKubeconfig(t) // its server does not exist
	for _, tc := range []struct {
		name string
		run  func(format string) result
		want string // in the YAML
	}{
		{"one namespace", func(f string) result { return runOn(t, c, "verify", "-n", "chatqna", "-o", f) }, "namespace: chatqna\n"},
		{"every namespace", func(f string) result { return runOn(t, c, "verify", "-A", "-o", f) }, "allNamespaces: true\n"},
		{"could not run", func(f string) result {
			return run(t, nil, "--kubeconfig", unreachable, "verify", "-n", "chatqna", "-o", f)
		}, "error: "},
	} {
		js, ym := tc.run("json"), tc.run("yaml")
		if js.code != ym.code || js.err != ym.err {
			t.Errorf("%s: -o json exit %d, stderr %q; -o yaml exit %d, stderr %q", tc.name, js.code, js.err, ym.code, ym.err)
		}
		if strings.HasPrefix(strings.TrimSpace(ym.out), "{") || !strings.Contains(ym.out, tc.want) {
			t.Errorf("%s: -o yaml is not the YAML document (want %q in it):\n%s", tc.name, tc.want, ym.out)
		}
		converted, err := yaml.YAMLToJSON([]byte(ym.out))
		if err != nil {
			t.Fatalf("%s: -o yaml: %v\n%s", tc.name, err, ym.out)
		}
		var fromJSON, fromYAML any
		if err := json.Unmarshal([]byte(js.out), &fromJSON); err != nil {
			t.Fatalf("%s: -o json: %v\n%s", tc.name, err, js.out)
		}
		if err := json.Unmarshal(converted, &fromYAML); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(fromJSON, fromYAML); diff != "" {
			t.Errorf("%s: -o yaml differs from -o json (-json +yaml):\n%s", tc.name, diff)
		}
	}
}
