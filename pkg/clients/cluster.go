package clients

import (
	"errors"
	"fmt"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/opea-project/kubectl-opea/pkg/problems"
)

// ClusterError is a command that could not run because of the cluster, not
// because of what it found there: the API server unreachable, failing, too
// slow for the command's deadline, or refusing the credentials. Every
// command reports it the same way, with the same exit code.
type ClusterError struct {
	// What went wrong, in one line.
	What string
	// Request is the request that failed, when known: "GET pods in
	// namespace chatqna".
	Request string
	// Fix says what to do.
	Fix string
	Err error
}

func (e *ClusterError) Error() string {
	s := e.What
	if e.Request != "" {
		s += "\n  request: " + e.Request
	}
	if e.Fix != "" {
		s += "\n  fix: " + e.Fix
	}
	return s
}

func (e *ClusterError) Unwrap() error { return e.Err }

// The fixes, one per kind of cluster trouble.
const (
	fixUnreachable = "check --kubeconfig and --context, then 'kubectl cluster-info'"
	fixCredentials = "refresh your kubeconfig's credentials (log in again, or renew the token or client certificate of the context's user), then 'kubectl auth whoami'"
	fixServer      = "check the API server's health ('kubectl get --raw=/readyz?verbose'), then run the same command again"
)

// Unreachable explains a first request (the server's version) that
// failed: the credentials rejected (401) are told apart from a cluster that
// does not answer. host names the API server ("" when unknown).
func Unreachable(host string, err error) error {
	where := "the cluster"
	if host != "" {
		where += " at " + host
	}
	if apierrors.IsUnauthorized(err) {
		return &ClusterError{What: "the cluster rejected your credentials (401): " + err.Error(), Fix: fixCredentials, Err: err}
	}
	return &ClusterError{What: "cannot reach " + where + ": " + err.Error(), Fix: fixUnreachable, Err: err}
}

// Host is the API server g's kubeconfig names, or "" when it names none.
func Host(g genericclioptions.RESTClientGetter) string {
	cfg, err := g.ToRESTConfig()
	if err != nil {
		return ""
	}
	return cfg.Host
}

// Explained is what a command knows of its own failure, for Explain.
type Explained struct {
	// Err is the command's error.
	Err error
	// Done says what the command did before it failed, "" for nothing:
	// "3 of 8 objects applied (listed above)".
	Done string
	// Late says that the command's deadline, --timeout (Timeout), passed.
	Late    bool
	Timeout string
}

// Explain turns the error of a command that failed after requests to the
// API server did not succeed (last the most recent, stalled the first
// that got no answer in time) into a ClusterError that names the request
// and says what to do. It returns the error unchanged when nothing failed
// on the cluster's side, or the error says so already.
func Explain(e Explained, last, stalled *Failure) error {
	err := e.Err
	var already *ClusterError
	if err == nil || errors.As(err, &already) {
		return err
	}
	done := ""
	if e.Done != "" {
		done = "; " + e.Done
	}
	if e.Late {
		// The request that stalled says it all; the errors of the ones
		// the deadline cut short after it add nothing.
		if stalled == nil {
			stalled = last
		}
		ce := &ClusterError{
			What: fmt.Sprintf("the API server did not answer within --timeout %s%s", e.Timeout, done),
			Fix:  "check the API server's health ('kubectl get --raw=/readyz?verbose'), then run the same command again (give a slow cluster a longer --timeout)",
			Err:  err,
		}
		if stalled != nil {
			ce.Request = stalled.Request + " stalled"
		}
		return ce
	}
	f := last
	switch {
	case f == nil:
		return err
	case f.Status == http.StatusUnauthorized:
		return &ClusterError{What: "the cluster rejected your credentials (401): " + whatFailed(err), Request: f.String(), Fix: fixCredentials, Err: err}
	case f.Status != 0:
		return &ClusterError{What: "the API server failed: " + whatFailed(err), Request: f.String(), Fix: fixServer, Err: err}
	}
	return &ClusterError{What: "the connection to the API server failed: " + whatFailed(err), Request: f.String(), Fix: fixServer, Err: err}
}

// whatFailed is err's message without its own fix, when it is one problem:
// the request that failed and its fix say what to do instead.
func whatFailed(err error) string {
	var one *problems.Problem
	if errors.As(err, &one) {
		return one.What
	}
	var list problems.List
	if errors.As(err, &list) && len(list) == 1 {
		return list[0].What
	}
	return err.Error()
}
