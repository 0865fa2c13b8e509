package clients

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"k8s.io/client-go/rest"
)

// Failure is a request to the API server that did not succeed: the server
// answered with a status that says it failed or refused the credentials
// (Status), or no answer came (Err).
type Failure struct {
	// Request names it: "GET pods in namespace chatqna".
	Request string
	Status  int
	Err     error
}

func (f *Failure) String() string {
	if f.Status != 0 {
		return fmt.Sprintf("%s answered %d %s", f.Request, f.Status, http.StatusText(f.Status))
	}
	return fmt.Sprintf("%s: %v", f.Request, f.Err)
}

// Recorder remembers the requests to the API server that failed and have
// not succeeded since (client-go retries some), so that a command's error
// can say which request it was, whatever the code that made it.
type Recorder struct {
	mu     sync.Mutex
	seq    int
	failed map[string]recorded
	// stalled is the first request that timed out: once one has, the
	// deadline has passed and the later ones fail for that alone.
	stalled *Failure
}

type recorded struct {
	seq int
	f   *Failure
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder { return &Recorder{failed: map[string]recorded{}} }

// Wrap makes cfg's transport report to r.
func (r *Recorder) Wrap(cfg *rest.Config) {
	cfg.Wrap(func(next http.RoundTripper) http.RoundTripper { return &recording{next: next, r: r} })
}

// Stalled is the first request that got no answer in time, nil when
// none did.
func (r *Recorder) Stalled() *Failure {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stalled
}

// Last is the most recent request that failed and was not retried with
// success, nil when there is none.
func (r *Recorder) Last() *Failure {
	r.mu.Lock()
	defer r.mu.Unlock()
	var last recorded
	for _, rec := range r.failed {
		if rec.seq > last.seq {
			last = rec
		}
	}
	return last.f
}

func (r *Recorder) record(req *http.Request, status int, err error) {
	key := req.Method + " " + req.URL.String()
	r.mu.Lock()
	defer r.mu.Unlock()
	if status < 500 && status != http.StatusUnauthorized && status != http.StatusTooManyRequests && err == nil {
		delete(r.failed, key)
		return
	}
	r.seq++
	f := &Failure{Request: DescribeRequest(req.Method, req.URL), Status: status, Err: err}
	r.failed[key] = recorded{seq: r.seq, f: f}
	if r.stalled == nil && timedOut(req, err) {
		r.stalled = f
	}
}

// timedOut tells a request that got no answer in time (the command's
// deadline, or the per-request timeout) from one that failed otherwise.
func timedOut(req *http.Request, err error) bool {
	if err == nil {
		return false
	}
	var netErr net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(req.Context().Err(), context.DeadlineExceeded) ||
		errors.As(err, &netErr) && netErr.Timeout()
}

type recording struct {
	next http.RoundTripper
	r    *Recorder
}

func (t *recording) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		t.r.record(req, 0, err)
		return resp, err
	}
	t.r.record(req, resp.StatusCode, nil)
	return resp, nil
}

// DescribeRequest names a request to the API server by method, resource,
// name and namespace, as read from its path:
// "PATCH virtualservices.networking.istio.io "opea-ingress" in namespace chatqna".
func DescribeRequest(method string, u *url.URL) string {
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	var group string
	switch {
	case len(parts) >= 3 && parts[0] == "api":
		parts = parts[2:]
	case len(parts) >= 4 && parts[0] == "apis":
		group, parts = parts[1], parts[3:]
	default:
		return method + " " + u.Path
	}
	var namespace string
	if len(parts) >= 3 && parts[0] == "namespaces" {
		namespace, parts = parts[1], parts[2:]
	}
	s := method + " " + parts[0]
	if group != "" {
		s += "." + group
	}
	if len(parts) >= 2 {
		s += fmt.Sprintf(" %q", parts[1])
	}
	if len(parts) >= 3 {
		s += " (" + strings.Join(parts[2:], "/") + ")"
	}
	if namespace != "" {
		s += " in namespace " + namespace
	}
	if u.Query().Has("dryRun") {
		s += " (dry run)"
	}
	return s
}
