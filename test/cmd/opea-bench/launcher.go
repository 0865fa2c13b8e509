package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/opea-project/kubectl-opea/test/controlplane"
)

// launcher runs the measured tools through peakrss (see its doc comment for
// why a tool is not started straight from this process).
type launcher struct {
	bin    string
	report string
}

// usage is what peakrss measured of one run.
type usage struct {
	rssKiB int64
	wall   time.Duration
}

// buildLauncher builds peakrss into dir.
func buildLauncher(ctx context.Context, dir string) (*launcher, error) {
	l := &launcher{bin: filepath.Join(dir, "peakrss"), report: filepath.Join(dir, "peakrss.report")}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", l.bin, "./test/cmd/opea-bench/peakrss")
	cmd.Dir = controlplane.RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building peakrss: %w\n%s", err, out)
	}
	return l, nil
}

// run runs bin with args and returns its exit code and usage. An exit code
// other than 0 is no error here: the tool's check judges it.
func (l *launcher) run(ctx context.Context, stdout, stderr io.Writer, env []string, bin string, args ...string) (int, usage, error) {
	_ = os.Remove(l.report)
	cmd := exec.CommandContext(ctx, l.bin, append([]string{l.report, bin}, args...)...)
	cmd.Env = append(toolEnv(), env...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		return 0, usage{}, ctx.Err()
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		return 0, usage{}, err
	}
	data, err := os.ReadFile(l.report)
	if err != nil {
		return 0, usage{}, fmt.Errorf("peakrss wrote no report: %w", err)
	}
	var u usage
	var wallNs int64
	if _, err := fmt.Sscan(string(data), &u.rssKiB, &wallNs); err != nil {
		return 0, usage{}, fmt.Errorf("reading %s: %w", l.report, err)
	}
	u.wall = time.Duration(wallNs)
	return cmd.ProcessState.ExitCode(), u, nil
}

// floor is the peak RSS peakrss reports for a program that does nothing:
// the launcher's own, below which no peak it reports can be.
func (l *launcher) floor(ctx context.Context) (int64, error) {
	noop, err := exec.LookPath("true")
	if err != nil {
		return 0, err
	}
	_, u, err := l.run(ctx, io.Discard, io.Discard, nil, noop)
	return u.rssKiB, err
}
