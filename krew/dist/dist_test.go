package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/opea-project/kubectl-opea/test/controlplane"
)

// root runs commands from the repository root, where make and go run work.
func root() string { return controlplane.RepoRoot() }

func mustRun(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = root()
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

// make dist twice gives byte-identical archives; the rendered manifest
// passes krew's validation; krew installs the linux/amd64 archive without
// network, and kubectl then runs the plugin with the stamped version.
func TestDistIsReproducibleAndInstallsWithKrew(t *testing.T) {
	first, second := t.TempDir(), t.TempDir()
	const version = "v0.1.0-test"
	mustRun(t, nil, "make", "--no-print-directory", "dist", "DIST="+first, "VERSION="+version, "COMMIT=0123456789abcdef")
	mustRun(t, nil, "make", "--no-print-directory", "dist", "DIST="+second, "VERSION="+version, "COMMIT=0123456789abcdef")
	entries, err := os.ReadDir(first)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 8 { // 6 archives, sha256sums.txt, opea.yaml
		t.Errorf("dist holds %d files, want 8", len(entries))
	}
	for _, e := range entries {
		a, _ := os.ReadFile(filepath.Join(first, e.Name()))
		b, err := os.ReadFile(filepath.Join(second, e.Name()))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs between two runs of make dist (%v)", e.Name(), err)
		}
	}

	tools := buildKrew(t)
	manifest := filepath.Join(first, "opea.yaml")
	mustRun(t, nil, filepath.Join(tools, "validate-krew-manifest"), "-manifest", manifest, "-skip-install")

	krewRoot := t.TempDir()
	env := []string{"KREW_ROOT=" + krewRoot, "KREW_NO_UPGRADE_CHECK=1", "HOME=" + t.TempDir()}
	mustRun(t, env, filepath.Join(tools, "krew"), "install", "--manifest="+manifest, "--archive="+filepath.Join(first, "kubectl-opea_linux_amd64.tar.gz"))

	bins, err := controlplane.EnsureBinaries(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	path := "PATH=" + filepath.Join(krewRoot, "bin") + string(os.PathListSeparator) + os.Getenv("PATH")
	out := mustRun(t, []string{path, "KUBECONFIG=/nonexistent"}, bins.Kubectl, "opea", "version", "-o", "json")
	var info map[string]string
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatalf("kubectl opea version -o json: %v\n%s", err, out)
	}
	if info["version"] != version || info["commit"] != "0123456789abcdef" || info["platform"] != "linux/amd64" {
		t.Errorf("the installed plugin reports %v", info)
	}
	if _, err := os.Stat(filepath.Join(krewRoot, "bin", "kubectl-opea")); err != nil {
		t.Errorf("krew did not link the plugin: %v", err)
	}
}

// buildKrew builds krew and its manifest validator into a folder it returns.
func buildKrew(t *testing.T) string {
	t.Helper()
	tools := t.TempDir()
	cmd := exec.Command("go", "build", "-o", tools+"/", "sigs.k8s.io/krew/cmd/krew", "sigs.k8s.io/krew/cmd/validate-krew-manifest")
	cmd.Dir = filepath.Join(root(), "tools")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building krew: %v\n%s", err, out)
	}
	return tools
}

// kubectlCompletes asks kubectl, with PATH starting at dir, to complete
// "kubectl opea ver": kubectl finds kubectl_complete-opea on PATH and runs
// it, as the shell's completion of kubectl does.
func kubectlCompletes(t *testing.T, dir string, env ...string) []string {
	t.Helper()
	bins, err := controlplane.EnsureBinaries(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	path := "PATH=" + dir + string(os.PathListSeparator) + os.Getenv("PATH")
	cmd := exec.Command(bins.Kubectl, "__complete", "opea", "ver")
	cmd.Env = append(append(os.Environ(), path, "KUBECONFIG=/nonexistent"), env...)
	// Only stdout: kubectl writes debugging lines to stderr.
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl __complete opea ver: %v", err)
	}
	out := string(stdout)
	var got []string
	for _, line := range strings.Split(out, "\n") {
		if line != "" && !strings.HasPrefix(line, ":") && !strings.HasPrefix(line, "Completion ended") {
			got = append(got, strings.SplitN(line, "\t", 2)[0])
		}
	}
	return got
}

// make build puts the completion shim next to the plugin, and after make
// install kubectl completes "kubectl opea ..." through it.
func TestMakeInstallCompletesThroughKubectl(t *testing.T) {
	bin, prefix := t.TempDir(), t.TempDir()
	mustRun(t, nil, "make", "--no-print-directory", "build", "BINDIR="+bin)
	for _, name := range []string{"kubectl-opea", "kubectl_complete-opea"} {
		if info, err := os.Stat(filepath.Join(bin, name)); err != nil || info.Mode()&0o111 == 0 {
			t.Errorf("make build left no executable %s in BINDIR (%v)", name, err)
		}
	}
	mustRun(t, nil, "make", "--no-print-directory", "install", "BINDIR="+bin, "PREFIX="+prefix)
	if got := kubectlCompletes(t, filepath.Join(prefix, "bin")); !slices.Equal(got, []string{"verify", "version"}) {
		t.Errorf("kubectl __complete opea ver = %v, want [verify version]", got)
	}
}

// After a krew install, the commands the manifest's caveats give put the
// completion shim on PATH, and kubectl then completes "kubectl opea ...".
func TestKrewCaveatsMakeCompletionWork(t *testing.T) {
	dist := t.TempDir()
	mustRun(t, nil, "go", "run", "./krew/dist", "-version", "v0.1.0-test", "-commit", "0123456789abcdef", "-out", dist, "-platforms", "linux/amd64")
	tools := buildKrew(t)
	manifest := filepath.Join(dist, "opea.yaml")
	mustRun(t, nil, filepath.Join(tools, "validate-krew-manifest"), "-manifest", manifest, "-skip-install")

	krewRoot := t.TempDir()
	env := []string{"KREW_ROOT=" + krewRoot, "KREW_NO_UPGRADE_CHECK=1", "HOME=" + t.TempDir()}
	installed := mustRun(t, env, filepath.Join(tools, "krew"), "install", "--manifest="+manifest, "--archive="+filepath.Join(dist, "kubectl-opea_linux_amd64.tar.gz"))
	krewBin := filepath.Join(krewRoot, "bin")
	if got := kubectlCompletes(t, krewBin, env...); len(got) != 0 {
		t.Errorf("kubectl completed %v before the caveats' commands ran: the test would prove nothing", got)
	}

	const intro = "To put one next to kubectl-opea:"
	if !strings.Contains(installed, intro) {
		t.Fatalf("krew install printed no completion caveat:\n%s", installed)
	}
	commands := caveatCommands(t, manifest, intro)
	mustRun(t, env, "sh", "-c", strings.Join(commands, "\n"))
	if got := kubectlCompletes(t, krewBin, env...); !slices.Equal(got, []string{"verify", "version"}) {
		t.Errorf("after the caveats' commands, kubectl __complete opea ver = %v, want [verify version]", got)
	}
}

// caveatCommands returns the indented lines of the manifest's caveats that
// follow the line ending in intro: the commands a user pastes.
func caveatCommands(t *testing.T, manifest, intro string) []string {
	t.Helper()
	data, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	var plugin struct {
		Spec struct {
			Caveats string `json:"caveats"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(data, &plugin); err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(plugin.Spec.Caveats, intro+"\n")
	if !ok {
		t.Fatalf("the caveats have no line ending in %q:\n%s", intro, plugin.Spec.Caveats)
	}
	var commands []string
	for _, line := range strings.Split(after, "\n") {
		if strings.TrimSpace(line) == "" && len(commands) == 0 {
			continue
		}
		if !strings.HasPrefix(line, "  ") {
			break
		}
		commands = append(commands, strings.TrimSpace(line))
	}
	if len(commands) == 0 {
		t.Fatalf("no commands follow %q in the caveats", intro)
	}
	return commands
}
