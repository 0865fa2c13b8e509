package main

import (
	"archive/tar"
	"compress/gzip"
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

// releaseArchiveSize builds the linux/amd64 release archive as krew/dist
// does (same flags, files and compression) and returns its size in bytes.
// Only this one platform is built: the others are not measured.
func releaseArchiveSize(ctx context.Context, work string) (int64, error) {
	root := controlplane.RepoRoot()
	bin := filepath.Join(work, "release", "kubectl-opea")
	ldflags := "-s -w -X github.com/opea-project/kubectl-opea/pkg/buildinfo.Version=v0.0.0-bench" +
		" -X github.com/opea-project/kubectl-opea/pkg/buildinfo.Commit=" + gitCommit(ctx, root)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags", ldflags, "-o", bin, "./cmd/kubectl-opea")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("building the linux/amd64 release binary: %w\n%s", err, out)
	}
	files := []struct {
		name string
		path string
		mode int64
	}{
		{"LICENSE", filepath.Join(root, "LICENSE"), 0o644},
		{"kubectl-opea", bin, 0o755},
		{"kubectl_complete-opea", filepath.Join(root, "cmd", "kubectl-opea", "kubectl_complete-opea"), 0o755},
	}
	var size countingWriter
	gz, err := gzip.NewWriterLevel(&size, gzip.BestCompression)
	if err != nil {
		return 0, err
	}
	tw := tar.NewWriter(gz)
	for _, f := range files {
		data, err := os.ReadFile(f.path)
		if err != nil {
			return 0, err
		}
		hdr := &tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(data)), ModTime: archiveTime, Typeflag: tar.TypeReg, Format: tar.FormatUSTAR}
		if err := tw.WriteHeader(hdr); err != nil {
			return 0, err
		}
		if _, err := tw.Write(data); err != nil {
			return 0, err
		}
	}
	if err := tw.Close(); err != nil {
		return 0, err
	}
	if err := gz.Close(); err != nil {
		return 0, err
	}
	return int64(size), nil
}

// archiveTime is krew/dist's fixed modification time of every entry.
var archiveTime = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// countingWriter counts the bytes of an archive that need not be kept.
type countingWriter int64

func (c *countingWriter) Write(p []byte) (int, error) {
	*c += countingWriter(len(p))
	return len(p), nil
}

// gitCommit is the commit to stamp, as make dist does; its length, not its
// value, is what matters to the size.
func gitCommit(ctx context.Context, root string) string {
	cmd := exec.CommandContext(ctx, "git", "rev-parse", "HEAD")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
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
