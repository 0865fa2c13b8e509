package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/opea-project/kubectl-opea/test/controlplane"
)

var (
	pluginOnce sync.Once
	pluginDir  string
	pluginErr  error
)

// pluginPath builds kubectl-opea once per test run, with a version stamped in,
// into a folder that also holds the completion shim and the tests' kubectl.
// Put the folder first on PATH to run "kubectl opea".
func pluginPath(t testing.TB) string {
	t.Helper()
	pluginOnce.Do(func() {
		pluginDir, pluginErr = os.MkdirTemp("", "kubectl-opea-e2e-")
		if pluginErr != nil {
			return
		}
		root := controlplane.RepoRoot()
		build := exec.Command("go", "build",
			"-ldflags", "-X github.com/opea-project/kubectl-opea/pkg/buildinfo.Version=v0.0.0-e2e",
			"-o", filepath.Join(pluginDir, "kubectl-opea"), "./cmd/kubectl-opea")
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			pluginErr = fmt.Errorf("go build: %w: %s", err, out)
			return
		}
		bins, err := controlplane.EnsureBinaries(context.Background(), os.Stderr)
		if err != nil {
			pluginErr = err
			return
		}
		for src, dst := range map[string]string{
			filepath.Join(root, "cmd/kubectl-opea/kubectl_complete-opea"): "kubectl_complete-opea",
			bins.Kubectl: "kubectl",
		} {
			if err := os.Symlink(src, filepath.Join(pluginDir, dst)); err != nil {
				pluginErr = err
				return
			}
		}
	})
	if pluginErr != nil {
		t.Fatalf("preparing kubectl-opea: %v", pluginErr)
	}
	return pluginDir
}

type cmdResult struct {
	stdout, stderr string
	code           int
}

// runIn runs name with args in an environment where PATH starts with the
// plugin folder, as a user who installed the plugin has it.
func runIn(t *testing.T, dir, name string, args ...string) cmdResult {
	t.Helper()
	cmd := exec.Command(filepath.Join(dir, name), args...)
	cmd.Env = append(os.Environ(), "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"), "KUBECONFIG=/nonexistent")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if exitErr, ok := err.(*exec.ExitError); ok {
		code = exitErr.ExitCode()
	} else if err != nil {
		t.Fatalf("running %s %v: %v", name, args, err)
	}
	return cmdResult{stdout.String(), stderr.String(), code}
}

func TestPluginHelpStandaloneAndThroughKubectl(t *testing.T) {
	dir := pluginPath(t)
	standalone := runIn(t, dir, "kubectl-opea", "--help")
	viaKubectl := runIn(t, dir, "kubectl", "opea", "--help")
	for name, r := range map[string]cmdResult{"kubectl-opea --help": standalone, "kubectl opea --help": viaKubectl} {
		if r.code != 0 || r.stderr != "" {
			t.Errorf("%s: exit %d, stderr %q", name, r.code, r.stderr)
		}
		for _, want := range []string{"Usage:\n  kubectl opea [flags]", "Available Commands:", "version", "--kubeconfig string", "--context string", "-n, --namespace string"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("%s lacks %q:\n%s", name, want, r.stdout)
			}
		}
	}
	if standalone.stdout != viaKubectl.stdout {
		t.Errorf("kubectl opea --help differs from kubectl-opea --help")
	}
}

func TestPluginVersionJSONThroughKubectl(t *testing.T) {
	r := runIn(t, pluginPath(t), "kubectl", "opea", "version", "-o", "json")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, r.stdout)
	}
	if got["version"] != "v0.0.0-e2e" || got["goVersion"] != runtime.Version() || got["commit"] == "" {
		t.Errorf("version -o json = %v", got)
	}
}

// writeTwoContextKubeconfig writes a kubeconfig whose current context points
// at a closed port, and whose other context "opea-local" is the local control
// plane: only honoured --kubeconfig and --context flags reach the cluster.
func writeTwoContextKubeconfig(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := cluster.WriteKubeconfig(path, controlplane.AdminUser); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Clusters["nowhere"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:1"}
	cfg.Contexts["nowhere"] = &clientcmdapi.Context{Cluster: "nowhere", AuthInfo: controlplane.AdminUser}
	cfg.CurrentContext = "nowhere"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// Namespace completion is the plugin's first read of a cluster: it shows
// that --kubeconfig and --context select the cluster, and that kubectl's
// plugin completion reaches the kubectl_complete-opea shim.
func TestKubeconfigFlagsSelectTheCluster(t *testing.T) {
	ns := newNamespace(t)
	dir := pluginPath(t)
	kubeconfig := writeTwoContextKubeconfig(t)

	for _, tc := range []struct {
		name       string
		args       []string
		wantListed bool // the test's namespace is among the completions
	}{
		{"kubectl-opea", []string{"kubectl-opea", "__complete", "--kubeconfig", kubeconfig, "--context", "opea-local", "version", "-n", ""}, true},
		{"kubectl opea", []string{"kubectl", "opea", "__complete", "--kubeconfig", kubeconfig, "--context", "opea-local", "version", "-n", ""}, true},
		{"kubectl's own completion through the shim", []string{"kubectl", "__complete", "opea", "--kubeconfig", kubeconfig, "--context", "opea-local", "version", "-n", ""}, true},
		{"prefix", []string{"kubectl-opea", "__complete", "--kubeconfig", kubeconfig, "--context", "opea-local", "version", "-n", ns[:12]}, true},
		{"the current context is unreachable", []string{"kubectl-opea", "__complete", "--kubeconfig", kubeconfig, "version", "-n", ""}, false},
		{"no --kubeconfig: KUBECONFIG names no file", []string{"kubectl-opea", "__complete", "--context", "opea-local", "version", "-n", ""}, false},
		{"another prefix", []string{"kubectl-opea", "__complete", "--kubeconfig", kubeconfig, "--context", "opea-local", "version", "-n", "zz"}, false},
	} {
		r := runIn(t, dir, tc.args[0], tc.args[1:]...)
		got := completions(r.stdout)
		if slices.Contains(got, ns) != tc.wantListed {
			t.Errorf("%s: completions %v; namespace %s listed: want %v (stderr %q)", tc.name, got, ns, tc.wantListed, r.stderr)
		}
	}
	// The whole list, not just our namespace, comes from the cluster.
	r := runIn(t, dir, "kubectl-opea", "__complete", "--kubeconfig", kubeconfig, "--context", "opea-local", "version", "-n", "")
	if got := completions(r.stdout); !slices.Contains(got, "kube-system") || !slices.Contains(got, "default") {
		t.Errorf("completions %v lack kube-system and default", got)
	}
}

func completions(out string) []string {
	var names []string
	for _, line := range strings.Split(out, "\n") {
		if line != "" && !strings.HasPrefix(line, ":") && !strings.HasPrefix(line, "Completion ended") {
			names = append(names, strings.SplitN(line, "\t", 2)[0])
		}
	}
	return names
}
