package controlplane

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// process is one running control-plane program. cmd is set when this process
// started it (a test); a process found again from a state file (cluster-down)
// has only its pid.
type process struct {
	Name string `json:"name"`
	Pid  int    `json:"pid"`

	cmd  *exec.Cmd
	done chan struct{}
}

// startProcess runs bin with args, its output going to <dir>/<name>.log.
// Detached processes start a session of their own and outlive the caller
// (cluster-up); the others die with the caller even if it crashes, so a
// failed test leaves nothing running.
// env, when not nil, is the whole environment of the process.
func startProcess(dir, name, bin string, args, env []string, detached bool) (*process, error) {
	logFile, err := os.OpenFile(filepath.Join(dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child holds its own copy of the descriptor

	cmd := exec.Command(bin, args...)
	cmd.Env = env
	// Programs that write files relative to their working folder (istiod
	// does) write them next to their log.
	cmd.Dir = dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if detached {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	} else {
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{Name: name, Pid: cmd.Process.Pid}
	if detached {
		_ = cmd.Process.Release()
		return p, nil
	}
	p.cmd = cmd
	p.done = make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	if p.done != nil {
		select {
		case <-p.done:
			return true
		default:
			return false
		}
	}
	return !pidAlive(p.Pid)
}

// stop sends SIGTERM, waits up to grace for the process to end, then sends
// SIGKILL and waits again. A kube-apiserver can hang in shutdown for minutes,
// hence the hard stop.
func (p *process) stop(grace time.Duration) error {
	if p.exited() {
		return nil
	}
	_ = syscall.Kill(p.Pid, syscall.SIGTERM)
	if p.waitExit(grace) {
		return nil
	}
	_ = syscall.Kill(p.Pid, syscall.SIGKILL)
	if p.waitExit(10 * time.Second) {
		return nil
	}
	return fmt.Errorf("%s (pid %d) did not exit after SIGKILL", p.Name, p.Pid)
}

func (p *process) waitExit(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if p.exited() {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return p.exited()
}

// pidAlive reports whether pid names a live process that is not a zombie.
func pidAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return !errors.Is(err, syscall.ESRCH)
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name: "pid (comm) S ...".
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}
