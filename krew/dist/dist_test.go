package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

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

	tools := t.TempDir()
	cmd := exec.Command("go", "build", "-o", tools+"/", "sigs.k8s.io/krew/cmd/krew", "sigs.k8s.io/krew/cmd/validate-krew-manifest")
	cmd.Dir = filepath.Join(root(), "tools")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building krew: %v\n%s", err, out)
	}
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
