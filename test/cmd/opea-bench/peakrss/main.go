// Command peakrss runs a program and writes its peak RSS and wall time to a
// file, for opea-bench.
//
//	peakrss REPORT-FILE PROGRAM [ARG...]
//
// It exists because the peak RSS that Linux reports for a child (wait4's
// ru_maxrss) is never below the RSS of the process that started it, as it was
// when the child called exec: a tool started straight from opea-bench, which
// holds API clients and a proxy, would show opea-bench's own peak instead of
// its own whenever that is the larger. This launcher is small, so the floor
// it puts under its child's peak is a few MiB; opea-bench measures and
// reports it.
//
// The program inherits stdin, stdout, stderr and the environment; peakrss
// exits with its exit code, and REPORT-FILE holds "<peak RSS KiB> <wall
// nanoseconds>".
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: peakrss REPORT-FILE PROGRAM [ARG...]")
		os.Exit(2)
	}
	cmd := exec.Command(os.Args[2], os.Args[3:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// The program must not outlive a launcher that opea-bench kills.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		fmt.Fprintln(os.Stderr, "peakrss:", err)
		os.Exit(127)
	}
	rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss // KiB on Linux
	if err := os.WriteFile(os.Args[1], fmt.Appendf(nil, "%d %d\n", rss, wall.Nanoseconds()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "peakrss:", err)
		os.Exit(127)
	}
	os.Exit(cmd.ProcessState.ExitCode())
}
