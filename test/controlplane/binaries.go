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

// Binaries are the paths of the control-plane programs, of the kubectl that
// end-to-end tests run the plugin through, and of Istio's own programs.
type Binaries struct {
	Etcd                  string
	KubeAPIServer         string
	KubeControllerManager string
	KubeScheduler         string
	// Kwok stands in for the kubelet of the nodes it manages: it runs
	// their pods through the stages of its own module (see kwok.go).
	Kwok    string
	Kubectl string
	// Istiod is pilot-discovery, the istiod control plane.
	Istiod string
	// Istioctl renders Istio's install manifests (istioctl manifest generate).
	Istioctl string
	// RenderChart renders the Helm charts embedded in Istio that istioctl
	// has no component for, such as the gateway chart.
	RenderChart string
	// CertManagerControllers runs cert-manager's own controllers (see
	// test/certmanagertools).
	CertManagerControllers string
}

// binary names a program and the package its tools module builds it from.
type binary struct {
	name       string
	pkg        string
	kubernetes bool   // stamp the Kubernetes version in, as release builds do
	expects    string // how long a cold build takes on 2 cores, for the progress line
}

// toolModule is a Go module under test/ that exists only to build programs
// the tests run, so that their dependencies stay out of the plugin's go.mod.
type toolModule struct {
	// dir is the module's folder, relative to the repository root.
	dir string
	// cache names its folder in the binary cache.
	cache    string
	binaries []binary
}

// The Kubernetes programs, Istio's and cert-manager's live in three modules:
// Istio pins its own Kubernetes libraries, which k8s.io/kubernetes' staging
// replaces would otherwise override, and cert-manager requires newer
// releases of libraries kube-apiserver is built with.
var toolModules = []toolModule{
	{dir: "test/tools", cache: "control-plane", binaries: []binary{
		{name: "kube-apiserver", pkg: "k8s.io/kubernetes/cmd/kube-apiserver", kubernetes: true, expects: "about 10 minutes"},
		{name: "kube-controller-manager", pkg: "k8s.io/kubernetes/cmd/kube-controller-manager", kubernetes: true, expects: "about 5 minutes"},
		{name: "kube-scheduler", pkg: "k8s.io/kubernetes/cmd/kube-scheduler", kubernetes: true, expects: "about a minute"},
		{name: "etcd", pkg: "go.etcd.io/etcd/server/v3", expects: "under a minute"},
		{name: "kwok", pkg: "sigs.k8s.io/kwok/cmd/kwok", expects: "about a minute"},
		{name: "kubectl", pkg: "k8s.io/kubernetes/cmd/kubectl", kubernetes: true, expects: "about 2 minutes"},
	}},
	{dir: "test/istiotools", cache: "istio", binaries: []binary{
		{name: "pilot-discovery", pkg: "istio.io/istio/pilot/cmd/pilot-discovery", expects: "about 4 minutes"},
		{name: "istioctl", pkg: "istio.io/istio/istioctl/cmd/istioctl", expects: "about 2 minutes"},
		{name: "render-chart", pkg: "./render-chart", expects: "under a minute"},
	}},
	{dir: "test/certmanagertools", cache: "cert-manager", binaries: []binary{
		{name: "cert-manager-controllers", pkg: "./cert-manager-controllers", expects: "about 4 minutes"},
	}},
}

// buildRecipe changes whenever the way binaries are built changes, so that
// cached binaries built the old way are not reused.
const buildRecipe = "version-stamped-2"

// BinDirEnv, when set, names a folder that already holds every binary;
// nothing is built then.
const BinDirEnv = "OPEA_CONTROL_PLANE_BIN_DIR"

// RepoRoot is the root of the kubectl-opea source tree, found from this
// file's own location so that it works from any package's test.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// cacheDir is where a module's binaries are kept: in the user's cache
// (binaryCacheRoot), one folder per content of its go.mod and go.sum (and
// the source of the programs it holds itself) and per Go release, as Go keeps its
// own build cache. A version bump builds afresh and nothing else does: a
// second clone of the repository, or a CI run in a fresh checkout, reuses
// the binaries instead of linking them again.
func (m toolModule) cacheDir() (string, error) {
	h := sha256.New()
	h.Write([]byte(buildRecipe))
	h.Write([]byte(runtime.Version()))
	files := []string{"go.mod", "go.sum"}
	for _, b := range m.binaries {
		if strings.HasPrefix(b.pkg, "./") {
			sources, err := filepath.Glob(filepath.Join(RepoRoot(), m.dir, b.pkg, "*.go"))
			if err != nil {
				return "", err
			}
			for _, s := range sources {
				files = append(files, filepath.Join(b.pkg, filepath.Base(s)))
			}
		}
	}
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(RepoRoot(), m.dir, f))
		if err != nil {
			return "", fmt.Errorf("reading the tools module %s: %w", m.dir, err)
		}
		h.Write(data)
	}
	return filepath.Join(binaryCacheRoot(), m.cache, hex.EncodeToString(h.Sum(nil))[:16]), nil
}

// BinaryCacheEnv, when set, names the folder that holds the cached
// binaries instead of the user's cache.
const BinaryCacheEnv = "OPEA_BINARY_CACHE"

// binaryCacheRoot is $OPEA_BINARY_CACHE, else kubectl-opea's folder in the
// user's cache ($XDG_CACHE_HOME or ~/.cache on Linux), else .cache in the
// repository when the user has no cache folder.
func binaryCacheRoot() string {
	if dir := os.Getenv(BinaryCacheEnv); dir != "" {
		return dir
	}
	if dir, err := os.UserCacheDir(); err == nil {
		return filepath.Join(dir, "kubectl-opea")
	}
	return filepath.Join(RepoRoot(), ".cache")
}

// EnsureBinaries returns the binaries, building any that are missing from
// the tools modules. Concurrent callers (test packages run in parallel) wait
// on a file lock, so each binary is built once.
func EnsureBinaries(ctx context.Context, progress io.Writer) (Binaries, error) {
	if progress == nil {
		progress = io.Discard
	}
	if dir := os.Getenv(BinDirEnv); dir != "" {
		paths := map[string]string{}
		for _, m := range toolModules {
			for _, b := range m.binaries {
				paths[b.name] = filepath.Join(dir, b.name)
				if _, err := os.Stat(paths[b.name]); err != nil {
					return Binaries{}, fmt.Errorf("%s=%s: %w", BinDirEnv, dir, err)
				}
			}
		}
		return binariesFrom(paths), nil
	}
	paths := map[string]string{}
	for _, m := range toolModules {
		if err := m.ensure(ctx, progress, paths); err != nil {
			return Binaries{}, err
		}
	}
	return binariesFrom(paths), nil
}

// ensure builds the module's missing binaries and records every path.
func (m toolModule) ensure(ctx context.Context, progress io.Writer, paths map[string]string) error {
	dir, err := m.cacheDir()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	unlock, err := lockFile(filepath.Join(dir, ".lock"))
	if err != nil {
		return err
	}
	defer unlock()

	for _, b := range m.binaries {
		target := filepath.Join(dir, b.name)
		paths[b.name] = target
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
				return err
			}
			args = append(args, "-ldflags", versionFlags(version))
		}
		cmd := exec.CommandContext(ctx, "go", append(args, b.pkg)...)
		cmd.Dir = filepath.Join(RepoRoot(), m.dir)
		cmd.Stdout = progress
		cmd.Stderr = progress
		if err := cmd.Run(); err != nil {
			_ = os.Remove(tmp)
			return fmt.Errorf("building %s: %w", b.name, err)
		}
		if err := os.Rename(tmp, target); err != nil {
			return err
		}
		fmt.Fprintf(progress, "built %s in %s\n", b.name, time.Since(start).Round(time.Second))
	}
	return nil
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
	cmd.Dir = filepath.Join(RepoRoot(), "test", "tools")
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("reading the k8s.io/kubernetes version of the tools module: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

func binariesFrom(paths map[string]string) Binaries {
	return Binaries{
		Etcd:                  paths["etcd"],
		KubeAPIServer:         paths["kube-apiserver"],
		KubeControllerManager: paths["kube-controller-manager"],
		KubeScheduler:         paths["kube-scheduler"],
		Kwok:                  paths["kwok"],
		Kubectl:               paths["kubectl"],
		Istiod:                paths["pilot-discovery"],
		Istioctl:              paths["istioctl"],
		RenderChart:           paths["render-chart"],

		CertManagerControllers: paths["cert-manager-controllers"],
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
