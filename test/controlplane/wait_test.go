package controlplane

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Waiting for a process to answer stops as soon as it has exited, and its
// log's end says why; one that answers is ready.
func TestWaitHTTPWhileStopsWhenTheProcessExits(t *testing.T) {
	dir := t.TempDir()
	p, err := startProcess(dir, "quitter", "/bin/sh", []string{"-c", "echo starting; echo listen tcp: address already in use; exit 1"}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	// errExited comes only from the check of the process, so the wait
	// ended at the exit, not at its minute's deadline.
	err = waitHTTPWhile(context.Background(), &http.Client{Timeout: time.Second}, "http://127.0.0.1:"+strconv.Itoa(ports[0])+"/ready", "quitter", p)
	if !errors.Is(err, errExited) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want errExited and no deadline", err)
	}
	if tail := logTail(filepath.Join(dir, "quitter.log"), 1); tail != "listen tcp: address already in use" {
		t.Errorf("log tail %q, want the last line", tail)
	}
	if tail := logTail(filepath.Join(dir, "quitter.log"), 5); !strings.HasPrefix(tail, "starting\n") {
		t.Errorf("log tail %q, want both lines", tail)
	}

	ready := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer ready.Close()
	alive, err := startProcess(dir, "sleeper", "/bin/sh", []string{"-c", "sleep 30"}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = alive.stop(time.Second) }()
	if err := waitHTTPWhile(context.Background(), ready.Client(), ready.URL, "sleeper", alive); err != nil {
		t.Errorf("a running process that answers: %v", err)
	}
}
