package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unicode"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/klog/v2"

	"github.com/opea-project/kubectl-opea/pkg/apply"
	"github.com/opea-project/kubectl-opea/pkg/await"
	"github.com/opea-project/kubectl-opea/pkg/clients"
)

// silenceClientLogs keeps client-go's own log lines (retries, discovery
// trouble) off stderr: every failure that matters reaches the user as the
// command's error, which says what to do.
func silenceClientLogs() {
	klog.SetLogger(logr.Discard())
}

// validateImpersonation refuses --as, --as-uid, --as-group and --as-user-extra
// values that cannot travel in an HTTP header (a newline, say): a usage
// error, before a request fails with a transport error.
func validateImpersonation(f *genericclioptions.ConfigFlags) error {
	values := map[string][]string{}
	if f.Impersonate != nil {
		values["--as"] = []string{*f.Impersonate}
	}
	if f.ImpersonateUID != nil {
		values["--as-uid"] = []string{*f.ImpersonateUID}
	}
	if f.ImpersonateGroup != nil {
		values["--as-group"] = *f.ImpersonateGroup
	}
	if f.ImpersonateUserExtra != nil {
		values["--as-user-extra"] = *f.ImpersonateUserExtra
	}
	var errs []string
	for _, flag := range []string{"--as", "--as-uid", "--as-group", "--as-user-extra"} {
		for _, v := range values[flag] {
			if strings.ContainsFunc(v, unicode.IsControl) {
				errs = append(errs, fmt.Sprintf("invalid %s %q: it must not hold control characters (a newline, a tab)", flag, v))
			}
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "\n"))
	}
	return nil
}

// validateNamespace checks the namespace a command acts on, given with -n
// or by the kubeconfig's context, as the API server would: a DNS label.
func validateNamespace(ns string) []string {
	if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
		return []string{fmt.Sprintf("invalid namespace %q: %s", ns, strings.Join(msgs, "; "))}
	}
	return nil
}

// validateFieldManager checks --field-manager as the API server would.
func validateFieldManager(manager string) []string {
	if manager == "" {
		return []string{"--field-manager must not be empty"}
	}
	// The API server refuses it; take-over records name it.
	if err := apply.ValidateFieldManager(manager); err != nil {
		return []string{"invalid --field-manager " + err.Error()}
	}
	return nil
}

// deadline is the context a command runs under: its --timeout from now, for
// every request it makes and every wait.
func deadline(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, timeout)
}

// surviveInterrupt is ctx without the cancellation an interrupt brings but
// with its deadline: the writes run under it, so that Ctrl-C never cuts one
// short, leaving the user to guess whether it was made. The writer stops at
// the next request instead (apply.Applier.Stop).
func surviveInterrupt(ctx context.Context) (context.Context, context.CancelFunc) {
	out := context.WithoutCancel(ctx)
	if d, ok := ctx.Deadline(); ok {
		return context.WithDeadline(out, d)
	}
	return context.WithCancel(out)
}

// interrupted reports whether the command's context was cancelled: main
// cancels it on SIGINT or SIGTERM.
func interrupted(c *cobra.Command) bool {
	return errors.Is(contextOf(c).Err(), context.Canceled)
}

// commandRun is what the root command knows of the command it runs: the
// requests that failed, the command's --timeout, and its context, which an
// interrupt cancels.
type commandRun struct {
	requests *clients.Recorder
	timeout  time.Duration
	ctx      atomic.Pointer[context.Context]
}

// cutReads makes an interrupt end the reads in flight at once, discovery's
// too (they take no context): a read cut short changes nothing. Writes are
// left to finish, and the writer stops after them (apply.Applier.Stop).
func (r *commandRun) cutReads(next http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		cmdCtx := r.ctx.Load()
		if cmdCtx == nil || writes(req) {
			return next.RoundTrip(req)
		}
		ctx, cancel := context.WithCancel(req.Context())
		unwatch := context.AfterFunc(*cmdCtx, cancel)
		done := func() { unwatch(); cancel() }
		resp, err := next.RoundTrip(req.WithContext(ctx))
		if err != nil {
			done()
			return resp, err
		}
		resp.Body = &closeHook{ReadCloser: resp.Body, hook: done}
		return resp, nil
	})
}

// writes tells a request that changes the cluster: not a read, not a dry
// run, not an access review.
func writes(req *http.Request) bool {
	switch {
	case req.Method == http.MethodGet || req.Method == http.MethodHead:
		return false
	case req.URL.Query().Has("dryRun"):
		return false
	case strings.HasSuffix(req.URL.Path, "/selfsubjectaccessreviews"):
		return false
	}
	return true
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// closeHook calls hook once the body is closed.
type closeHook struct {
	io.ReadCloser
	hook func()
}

func (c *closeHook) Close() error {
	err := c.ReadCloser.Close()
	c.hook()
	return err
}

// reportsError is an error a command reports in its own output too (verify
// -o json), once it is explained.
type reportsError interface {
	error
	report(final error)
}

// explainFailures wraps a command's RunE: an interrupt becomes exit code
// 130, and an error after a request the cluster failed (no answer before
// --timeout, a 5xx, a 401) names that request and says what to do, exit 3.
func (r *commandRun) explainFailures(run func(*cobra.Command, []string) error) func(*cobra.Command, []string) error {
	return func(c *cobra.Command, args []string) error {
		err := r.explain(c, args, run)
		var reports reportsError
		if errors.As(err, &reports) {
			final := err
			var exitErr *ExitError
			if errors.As(err, &exitErr) {
				final = exitErr.Err
			}
			reports.report(final)
		}
		return err
	}
}

// explain runs the command and explains its error, as explainFailures
// says.
func (r *commandRun) explain(c *cobra.Command, args []string, run func(*cobra.Command, []string) error) error {
	var limit time.Duration
	var shown string
	if f := c.Flags().Lookup("timeout"); f != nil {
		limit, _ = time.ParseDuration(f.Value.String())
		shown = f.Value.String()
	}
	r.timeout = limit
	cmdCtx := contextOf(c)
	r.ctx.Store(&cmdCtx)
	start := time.Now()
	err := run(c, args)
	if err == nil {
		return nil
	}
	requests := r.requests
	if interrupted(c) {
		// Only the errors that list what was done say so; any other
		// one stopped the command before its first write.
		var partial *rerunError
		var waiting *interruptedWhileWaiting
		if !errors.As(err, &partial) && !errors.As(err, &waiting) {
			err = errors.New("interrupted before anything was written")
		}
		return &ExitError{Code: ExitInterrupted, Err: err}
	}
	var timeout *await.TimeoutError
	if errors.As(err, &timeout) {
		return err
	}
	var contexts *contextsVerdict
	if errors.As(err, &contexts) {
		// Each context's trouble is explained in the report, per context.
		return err
	}
	late := limit > 0 && time.Since(start) >= limit
	var exitErr *ExitError
	if errors.As(err, &exitErr) {
		// Usage errors and verify's verdicts stand; only a verify
		// that could not run is explained further.
		if exitErr.Code != ExitIncomplete {
			return err
		}
		return &ExitError{Code: ExitIncomplete, Err: clients.Explain(clients.Explained{Err: exitErr.Err, Late: late, Timeout: shown}, requests.Last(), requests.Stalled())}
	}
	e := clients.Explained{Err: err, Late: late, Timeout: shown}
	var partial *rerunError
	if errors.As(err, &partial) && (late || requests.Last() != nil) {
		// The cluster's trouble comes with its own fix, a rerun.
		e.Err, e.Done = partial.err, partial.done
	}
	return clients.Explain(e, requests.Last(), requests.Stalled())
}

// timeoutUsage is --timeout's help, the same in every command.
const timeoutUsage = "How long the command may take in all, --wait included: a request the API server has not answered by then ends it (exit code 3)"

// timeLeft is the time until ctx's deadline, to the second.
func timeLeft(ctx context.Context) time.Duration {
	d, ok := ctx.Deadline()
	if !ok {
		return 0
	}
	return time.Until(d).Round(time.Second)
}

// rerunError is a run that stopped part-way, after the steps it listed:
// running the same command again does the rest.
type rerunError struct {
	err error
	// done says what was done, rest what a rerun does.
	done, rest string
}

func (e *rerunError) Error() string {
	if errors.Is(e.err, apply.ErrInterrupted) {
		return e.err.Error() + "\n  fix: run the same command again: " + e.rest
	}
	return e.err.Error() + "\n  fix: fix the cause, then run the same command again: " + e.rest
}

func (e *rerunError) Unwrap() error { return e.err }

// rerun says that running the command again completes what err stopped;
// done says what was done before, rest what that rerun does.
func rerun(err error, done, rest string) error {
	return &rerunError{err: err, done: done, rest: rest}
}

// interruptedWhileWaiting is a --wait that Ctrl-C ended, after every write.
type interruptedWhileWaiting struct{ done string }

func (e *interruptedWhileWaiting) Error() string { return "interrupted while waiting: " + e.done }

// interruptedWaiting turns a wait that Ctrl-C ended into an interrupted
// run; done says what was done before the wait.
func interruptedWaiting(err error, done string) error {
	if errors.Is(err, context.Canceled) {
		return &interruptedWhileWaiting{done: done}
	}
	return err
}

// defaultTimeout is --timeout's default in every command.
const defaultTimeout = 5 * time.Minute

// InterruptContext is the context a command runs under: SIGINT (Ctrl-C) or
// SIGTERM cancels it, and the command stops at its next request and says
// what it did (exit code 130). The first signal is acknowledged on errOut;
// a second one ends the process at once, as it would without the plugin.
func InterruptContext(errOut io.Writer) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case <-signals:
			signal.Stop(signals) // the next signal has its default effect
			cancel()             // before the notice: once it shows, the command is stopping
			fmt.Fprintln(errOut, "Interrupted: stopping after the request in flight (interrupt again to stop at once)...")
		case <-ctx.Done():
		}
	}()
	return ctx, func() {
		signal.Stop(signals)
		cancel()
	}
}

// commandTimeout reports a wait that ran into the command's deadline with
// the figure the user gave, --timeout, rather than what was left of it.
func commandTimeout(err error, timeout time.Duration) error {
	var t *await.TimeoutError
	if errors.As(err, &t) {
		t.After = timeout
	}
	return err
}
