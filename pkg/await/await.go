// Package await is the one way kubectl-opea waits for the cluster: poll a
// condition until it holds, the timeout passes or the context ends. Every
// command's --wait uses it, so every timeout is the same error (and the
// same exit code, 124).
package await

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// TimeoutError says what was still awaited when the timeout passed.
type TimeoutError struct {
	After time.Duration
	// What was awaited, e.g. "certificate istio-ingress/opea-chatqna-tls to be issued".
	What string
	// State is the last state seen, when the condition reported one.
	State string
}

func (e *TimeoutError) Error() string {
	if e.State == "" {
		return fmt.Sprintf("timed out after %s waiting for %s", e.After, e.What)
	}
	return fmt.Sprintf("timed out after %s waiting for %s (%s)", e.After, e.What, e.State)
}

// Condition reports whether the awaited state is reached and, if not, the
// state seen. An error stops the wait.
type Condition func(ctx context.Context) (done bool, state string, err error)

// Until checks cond at once and then every interval until it is done, it
// fails, timeout or ctx's deadline passes (a *TimeoutError) or ctx is
// cancelled (ctx's error).
func Until(ctx context.Context, timeout, interval time.Duration, what string, cond Condition) error {
	waitCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var state string
	err := wait.PollUntilContextCancel(waitCtx, interval, true, func(context.Context) (bool, error) {
		// The condition's requests run under ctx, not the wait's deadline:
		// a request cut short there would read as a failure, not the
		// timeout it is. The deadline is checked between checks.
		done, s, err := cond(ctx)
		if s != "" {
			state = s
		}
		return done, err
	})
	switch {
	case err == nil:
		return nil
	case errors.Is(ctx.Err(), context.Canceled):
		return ctx.Err()
	case errors.Is(waitCtx.Err(), context.DeadlineExceeded):
		// ctx's own deadline as well: a command's --timeout bounds its
		// wait, and a wait that ran out of time is a timeout.
		return &TimeoutError{After: timeout, What: what, State: state}
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return err
}
