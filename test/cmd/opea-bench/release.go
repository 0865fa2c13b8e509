package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/opea-project/kubectl-opea/test/controlplane"
)

// timeHelp returns the median wall time of `kubectl-opea --help` over runs
// runs, after one warm-up run that brings the binary into the page cache.
func timeHelp(ctx context.Context, plugin string, runs int) (time.Duration, error) {
	var walls []float64
	for i := 0; i <= runs; i++ {
		cmd := exec.CommandContext(ctx, plugin, "--help")
		start := time.Now()
		if err := cmd.Run(); err != nil {
			return 0, fmt.Errorf("kubectl-opea --help: %w", err)
		}
		if i > 0 {
			walls = append(walls, float64(time.Since(start)))
		}
	}
	return time.Duration(median(walls)), nil
}

// releaseArchiveSize builds the linux/amd64 release archive with the
// release's own program (krew/dist, as make dist runs it, for this one
// platform) and returns its size in bytes.
func releaseArchiveSize(ctx context.Context, work string) (int64, error) {
	out := filepath.Join(work, "dist")
	cmd := exec.CommandContext(ctx, "go", "run", "./krew/dist", "-platforms", "linux/amd64", "-version", "v0.0.0-bench", "-commit", gitCommit(ctx), "-out", out)
	cmd.Dir = controlplane.RepoRoot()
	if output, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("building the linux/amd64 release archive: %w\n%s", err, output)
	}
	info, err := os.Stat(filepath.Join(out, "kubectl-opea_linux_amd64.tar.gz"))
	if err != nil {
		return 0, err
	}
	return info.Size(), nil
}

// gitCommit is the commit to stamp, as make dist does; its length, not its
// value, is what matters to the size.
func gitCommit(ctx context.Context) string {
	cmd := exec.CommandContext(ctx, "git", "rev-parse", "HEAD")
	cmd.Dir = controlplane.RepoRoot()
	output, err := cmd.Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(output))
}

// istioVersion is the istio.io/istio version test/istiotools pins, which
// istioctl is built from.
func istioVersion(ctx context.Context) string {
	cmd := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Version}}", "istio.io/istio")
	cmd.Dir = filepath.Join(controlplane.RepoRoot(), "test", "istiotools")
	out, err := cmd.Output()
	if err != nil {
		return "(unknown version)"
	}
	return strings.TrimSpace(string(out))
}
