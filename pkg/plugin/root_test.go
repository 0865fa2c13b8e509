package plugin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/opea-project/kubectl-opea/pkg/buildinfo"
	"github.com/opea-project/kubectl-opea/pkg/clients"
	"github.com/opea-project/kubectl-opea/pkg/clients/clientstest"
)

type result struct {
	out, err string
	code     int
}

// run executes the root command as main does, building clients with
// newClients (nil: the real ones from the kubeconfig flags).
func run(t *testing.T, newClients ClientsFunc, args ...string) result {
	t.Helper()
	if newClients == nil {
		newClients = clients.New
	}
	var out, errOut bytes.Buffer
	streams := genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}
	cmd := NewCmdOpeaWithClients(streams, newClients)
	cmd.SetArgs(args)
	err := cmd.Execute()
	PrintError(&errOut, err)
	return result{out: out.String(), err: errOut.String(), code: ExitCode(err)}
}

func TestHelpReadsAsKubectlPlugin(t *testing.T) {
	r := run(t, nil, "--help")
	if r.code != 0 || r.err != "" {
		t.Fatalf("--help: code %d, stderr %q", r.code, r.err)
	}
	for _, want := range []string{
		"Usage:\n  kubectl opea [flags]\n  kubectl opea [command]",
		"kubectl opea version",
		"--kubeconfig string", "--context string", "--cluster string", "--user string",
		"-n, --namespace string", "--as string", "--as-group stringArray", "--request-timeout string",
		`Use "kubectl opea [command] --help"`,
	} {
		if !strings.Contains(r.out, want) {
			t.Errorf("--help lacks %q; got:\n%s", want, r.out)
		}
	}
	if strings.Contains(r.out, "kubectl-opea [") {
		t.Errorf("--help shows the binary name instead of the plugin form:\n%s", r.out)
	}
}

func TestVersionJSON(t *testing.T) {
	buildinfo.Version, buildinfo.Commit = "v1.2.3", "0123abcd"
	t.Cleanup(func() { buildinfo.Version, buildinfo.Commit = "", "" })

	r := run(t, nil, "version", "-o", "json")
	if r.code != 0 {
		t.Fatalf("code %d, stderr %q", r.code, r.err)
	}
	var got buildinfo.Info
	if err := json.Unmarshal([]byte(r.out), &got); err != nil {
		t.Fatalf("version -o json is not JSON: %v\n%s", err, r.out)
	}
	want := buildinfo.Info{Version: "v1.2.3", Commit: "0123abcd", GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("version -o json (-want +got):\n%s", diff)
	}

	text := run(t, nil, "version")
	if want := "kubectl-opea v1.2.3 (commit 0123abcd, " + runtime.Version(); !strings.HasPrefix(text.out, want) {
		t.Errorf("version = %q, want prefix %q", text.out, want)
	}
	yaml := run(t, nil, "version", "-o", "yaml")
	if !strings.Contains(yaml.out, "version: v1.2.3\n") || !strings.Contains(yaml.out, "goVersion: "+runtime.Version()) {
		t.Errorf("version -o yaml = %q", yaml.out)
	}
}

func TestUsageErrorsExitTwo(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"version", "-o", "xml"}, `unsupported output format "xml"`},
		{[]string{"version", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"frobnicate"}, `unknown command "frobnicate" for "kubectl opea"`},
		// A mistyped subcommand is named with what it is close to, as kubectl does.
		{[]string{"verfy"}, "unknown command \"verfy\" for \"kubectl opea\"\n\nDid you mean this?\n\tverify\n"},
		{[]string{"unsecur", "-n", "chatqna"}, "Did you mean this?\n\tunsecure\n"},
		{[]string{"completion"}, "name one shell"},
		{[]string{"completion", "tcsh"}, `unsupported shell "tcsh"`},
	} {
		r := run(t, nil, tc.args...)
		if r.code != ExitUsage {
			t.Errorf("%v: exit code %d, want %d", tc.args, r.code, ExitUsage)
		}
		if !strings.HasPrefix(r.err, "error: ") || !strings.Contains(r.err, tc.want) || !strings.Contains(r.err, "--help' for usage") {
			t.Errorf("%v: stderr %q, want an error with %q and a pointer to --help", tc.args, r.err, tc.want)
		}
		if r.out != "" {
			t.Errorf("%v: wrote to stdout on error: %q", tc.args, r.out)
		}
	}
	if r := run(t, nil, "frobnicate"); strings.Contains(r.err, "Did you mean") {
		t.Errorf("a word close to no command got a suggestion: %q", r.err)
	}
}

func TestCompletionScripts(t *testing.T) {
	for shell, want := range map[string]string{
		"bash":       "__start_kubectl-opea",
		"zsh":        "#compdef kubectl-opea",
		"fish":       "complete -c kubectl-opea",
		"powershell": "Register-ArgumentCompleter",
	} {
		r := run(t, nil, "completion", shell)
		if r.code != 0 || !strings.Contains(r.out, want) {
			t.Errorf("completion %s: code %d, output lacks %q", shell, r.code, want)
		}
	}
}

// writeKubeconfig writes a kubeconfig with two contexts and returns its path.
func writeKubeconfig(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config")
	data := `apiVersion: v1
kind: Config
clusters:
- name: lab
  cluster: {server: "https://127.0.0.1:1"}
- name: prod
  cluster: {server: "https://127.0.0.1:2"}
users:
- name: alice
  user: {token: a}
- name: bob
  user: {token: b}
contexts:
- name: lab-admin
  context: {cluster: lab, user: alice, namespace: chatqna}
- name: prod-view
  context: {cluster: prod, user: bob}
current-context: lab-admin
`
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCompletesKubeconfigNames(t *testing.T) {
	kubeconfig := writeKubeconfig(t)
	for flag, want := range map[string][]string{
		"--context": {"lab-admin", "prod-view"},
		"--cluster": {"lab", "prod"},
		"--user":    {"alice", "bob"},
	} {
		r := run(t, nil, "__complete", "--kubeconfig", kubeconfig, flag, "")
		got := completionLines(r.out)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("completing %s (-want +got):\n%s", flag, diff)
		}
	}
	r := run(t, nil, "__complete", "--kubeconfig", kubeconfig, "--context", "pr")
	if diff := cmp.Diff([]string{"prod-view"}, completionLines(r.out)); diff != "" {
		t.Errorf("completing --context pr (-want +got):\n%s", diff)
	}
}

func TestCompletesNamespacesFromCluster(t *testing.T) {
	cluster := clientstest.New(t,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "chatqna"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "codetrans"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "istio-system"}},
	)
	r := run(t, cluster.Getter, "__complete", "version", "-n", "c")
	if diff := cmp.Diff([]string{"chatqna", "codetrans"}, completionLines(r.out)); diff != "" {
		t.Errorf("completing -n c (-want +got):\n%s", diff)
	}
}

// completionLines returns the candidates of a cobra __complete answer,
// without the trailing ":<directive>" line.
func completionLines(out string) []string {
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" || strings.HasPrefix(l, ":") {
			continue
		}
		lines = append(lines, strings.SplitN(l, "\t", 2)[0])
	}
	return lines
}

// Flags whose values are not files complete no file names; those that name
// files still do.
func TestValueFlagsCompleteNoFileNames(t *testing.T) {
	for _, args := range [][]string{
		{"secure", "--host", ""},
		{"secure", "--service", ""},
		{"secure", "--tls-secret", ""},
		{"unsecure", "--field-manager", ""},
		{"verify", "-o", ""},
		{"--as", ""},
	} {
		r := run(t, nil, append([]string{"__complete"}, args...)...)
		if !strings.Contains(r.out, fmt.Sprintf(":%d\n", cobra.ShellCompDirectiveNoFileComp)) {
			t.Errorf("completing %v: %q, want no file completion", args, r.out)
		}
	}
	r := run(t, nil, "__complete", "--kubeconfig", "")
	if !strings.Contains(r.out, fmt.Sprintf(":%d\n", cobra.ShellCompDirectiveDefault)) {
		t.Errorf("completing --kubeconfig: %q, want file names", r.out)
	}
}
