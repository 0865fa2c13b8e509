package controlplane

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// Binaries are the paths of the three control-plane programs and of the
// kubectl that end-to-end tests run the plugin through.
type Binaries struct {
	Etcd                  string
	KubeAPIServer         string
	KubeControllerManager string
	Kubectl               string
}

// binary names a program and the package the tools module builds it from.
type binary struct {
	name       string
	pkg        string
	kubernetes bool   // stamp the Kubernetes version in, as release builds do
	expects    string // how long a cold build takes on 2 cores, for the progress line
}

var binaries = []binary{
	{name: "kube-apiserver", pkg: "k8s.io/kubernetes/cmd/kube-apiserver", kubernetes: true, expects: "about 10 minutes"},
	{name: "kube-controller-manager", pkg: "k8s.io/kubernetes/cmd/kube-controller-manager", kubernetes: true, expects: "about 5 minutes"},
	{name: "etcd", pkg: "go.etcd.io/etcd/server/v3", expects: "under a minute"},
	{name: "kubectl", pkg: "k8s.io/kubernetes/cmd/kubectl", kubernetes: true, expects: "about 2 minutes"},
}

// buildRecipe changes whenever the way binaries are built changes, so that
// cached binaries built the old way are not reused.
const buildRecipe = "version-stamped-2"

// BinDirEnv, when set, names a folder that already holds the four binaries;
// nothing is built then.
const BinDirEnv = "OPEA_CONTROL_PLANE_BIN_DIR"

// RepoRoot is the root of the kubectl-opea source tree, found from this
// file's own location so that it works from any package's test.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

func toolsDir() string { return filepath.Join(RepoRoot(), "test", "tools") }

// CacheDir is where built binaries are kept, one folder per content of the
// tools module's go.mod and go.sum, so a version bump builds afresh and
// nothing else does.
func CacheDir() (string, error) {
	h := sha256.New()
	h.Write([]byte(buildRecipe))
	for _, f := range []string{"go.mod", "go.sum"} {
		data, err := os.ReadFile(filepath.Join(toolsDir(), f))
		if err != nil {
			return "", fmt.Errorf("reading the tools module: %w", err)
		}
		h.Write(data)
	}
	return filepath.Join(RepoRoot(), ".cache", "control-plane", hex.EncodeToString(h.Sum(nil))[:16]), nil
}

// EnsureBinaries returns the control-plane binaries, building any that are
// missing from the tools module. Concurrent callers (test packages run in
// parallel) wait on a file lock, so each binary is built once.
func EnsureBinaries(ctx context.Context, progress io.Writer) (Binaries, error) {
	if progress == nil {
		progress = io.Discard
	}
	if dir := os.Getenv(BinDirEnv); dir != "" {
		b := binariesIn(dir)
		for _, p := range []string{b.Etcd, b.KubeAPIServer, b.KubeControllerManager, b.Kubectl} {
			if _, err := os.Stat(p); err != nil {
				return Binaries{}, fmt.Errorf("%s=%s: %w", BinDirEnv, dir, err)
			}
		}
		return b, nil
	}
	dir, err := CacheDir()
	if err != nil {
		return Binaries{}, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Binaries{}, err
	}
	unlock, err := lockFile(filepath.Join(dir, ".lock"))
	if err != nil {
		return Binaries{}, err
	}
	defer unlock()

	for _, b := range binaries {
		target := filepath.Join(dir, b.name)
		if _, err := os.Stat(target); err == nil {
			continue
		}
		fmt.Fprintf(progress, "building %s from %s (first run only; %s on 2 cores)...\n", b.name, b.pkg, b.expects)
		start := time.Now()
		tmp := target + ".tmp"
		args := []string{"build", "-o", tmp}
		if b.kubernetes {
			version, err := kubernetesVersion(ctx)
			if err != nil {
				return Binaries{}, err
			}
			args = append(args, "-ldflags", versionFlags(version))
		}
		cmd := exec.CommandContext(ctx, "go", append(args, b.pkg)...)
		cmd.Dir = toolsDir()
		cmd.Stdout = progress
		cmd.Stderr = progress
		if err := cmd.Run(); err != nil {
			_ = os.Remove(tmp)
			return Binaries{}, fmt.Errorf("building %s: %w", b.name, err)
		}
		if err := os.Rename(tmp, target); err != nil {
			return Binaries{}, err
		}
		fmt.Fprintf(progress, "built %s in %s\n", b.name, time.Since(start).Round(time.Second))
	}
	return binariesIn(dir), nil
}

// versionFlags stamps a Kubernetes version such as v1.37.2 into a binary
// the way Kubernetes' release builds do: major, minor and full version
// together (the API server derives its compatibility version from them).
func versionFlags(version string) string {
	parts := strings.SplitN(strings.TrimPrefix(version, "v"), ".", 3)
	var flags []string
	for _, pkg := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		flags = append(flags, "-X "+pkg+".gitVersion="+version)
		if len(parts) >= 2 {
			flags = append(flags, "-X "+pkg+".gitMajor="+parts[0], "-X "+pkg+".gitMinor="+parts[1])
		}
	}
	return strings.Join(flags, " ")
}

// kubernetesVersion is the k8s.io/kubernetes version the tools module pins.
func kubernetesVersion(ctx context.Context) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Version}}", "k8s.io/kubernetes")
	cmd.Dir = toolsDir()
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("reading the k8s.io/kubernetes version of the tools module: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

func binariesIn(dir string) Binaries {
	return Binaries{
		Etcd:                  filepath.Join(dir, "etcd"),
		KubeAPIServer:         filepath.Join(dir, "kube-apiserver"),
		KubeControllerManager: filepath.Join(dir, "kube-controller-manager"),
		Kubectl:               filepath.Join(dir, "kubectl"),
	}
}

func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
