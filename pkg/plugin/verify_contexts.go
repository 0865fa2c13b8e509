package plugin

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/opea-project/kubectl-opea/pkg/audit"
	"github.com/opea-project/kubectl-opea/pkg/audit/read"
	"github.com/opea-project/kubectl-opea/pkg/audit/report"
	"github.com/opea-project/kubectl-opea/pkg/clients"
	"github.com/opea-project/kubectl-opea/pkg/kubecontext"
)

const (
	// defaultParallel is how many contexts --contexts audits at once.
	defaultParallel = 4
	// defaultContextTimeout bounds each context's audit.
	defaultContextTimeout = 2 * time.Minute
)

func addContextsFlags(f *pflag.FlagSet, o *VerifyOptions) {
	f.StringVar(&o.Contexts, "contexts", o.Contexts, "Audit these kube contexts of the kubeconfig, in one report: names, /regular expressions/ and ^exclusions, comma-separated, applied in order (e.g. dev,stage,/^prod-/,^prod-old)")
	f.BoolVar(&o.AllContexts, "all-contexts", o.AllContexts, "Audit every context of the kubeconfig, in one report")
	f.IntVar(&o.Parallel, "parallel", o.Parallel, "With --contexts or --all-contexts, how many contexts to audit at once")
	f.DurationVar(&o.ContextTimeout, "context-timeout", o.ContextTimeout, "With --contexts or --all-contexts, how long each context's audit may take; one that takes longer could not run")
}

// completeContextNames completes the entry being typed in --contexts with
// the kubeconfig's context names, after the entries already given and a
// leading ^ kept.
func (o *VerifyOptions) completeContextNames(_ *cobra.Command, _ []string, typed string) ([]cobra.Completion, cobra.ShellCompDirective) {
	raw, err := o.clients.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	head, entry := "", typed
	if i := strings.LastIndexByte(typed, ','); i >= 0 {
		head, entry = typed[:i+1], typed[i+1:]
	}
	if strings.HasPrefix(entry, "^") {
		head, entry = head+"^", entry[1:]
	}
	var out []cobra.Completion
	for name := range raw.Contexts {
		if strings.HasPrefix(name, entry) {
			out = append(out, head+name)
		}
	}
	sort.Strings(out)
	return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
}

// manyContexts reports whether verify audits several kube contexts.
func (o *VerifyOptions) manyContexts() bool { return o.set["contexts"] || o.AllContexts }

// completeContexts chooses the contexts from the kubeconfig(s) kubectl
// would read: --kubeconfig, else every file of $KUBECONFIG, else
// ~/.kube/config. A kubeconfig that cannot be read is a problem of the
// cluster's access, not of the flags (exit code 3); a selection that does
// not fit it is the flags' (left to Validate).
func (o *VerifyOptions) completeContexts() error {
	raw, err := o.clients.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return clients.KubeconfigProblem(err)
	}
	all := make([]string, 0, len(raw.Contexts))
	for name := range raw.Contexts {
		all = append(all, name)
	}
	sort.Strings(all)
	if o.AllContexts {
		if len(all) == 0 {
			return &clients.ClusterError{What: "no context in the kubeconfig", Fix: "pass --kubeconfig with the path of a kubeconfig that names contexts (or set KUBECONFIG): kubectl config get-contexts"}
		}
		o.contexts = all
		return nil
	}
	patterns, err := kubecontext.Parse(o.Contexts)
	if err != nil {
		o.contextsErr = fmt.Errorf("invalid --contexts: %w", err)
		return nil
	}
	if o.contexts, err = kubecontext.Select(all, patterns); err != nil {
		o.contextsErr = fmt.Errorf("invalid --contexts: %w", err)
	}
	return nil
}

// validateContexts checks the flags that choose and bound contexts, and
// those that make no sense across several.
func (o *VerifyOptions) validateContexts() []string {
	var errs []string
	if !o.manyContexts() {
		for _, flag := range []string{"parallel", "context-timeout"} {
			if o.set[flag] {
				errs = append(errs, fmt.Sprintf("--%s goes with --contexts or --all-contexts", flag))
			}
		}
		return errs
	}
	if o.set["contexts"] && o.AllContexts {
		errs = append(errs, "--contexts and --all-contexts both choose contexts: give one")
	}
	if o.contextsErr != nil {
		errs = append(errs, o.contextsErr.Error())
	}
	for _, flag := range []string{"context", "cluster", "user", "server"} {
		if o.set[flag] {
			errs = append(errs, fmt.Sprintf("--%s names one context's cluster or user: leave it out with --contexts or --all-contexts, which use each context's own", flag))
		}
	}
	if o.Parallel < 1 {
		errs = append(errs, fmt.Sprintf("invalid --parallel %d: audit at least 1 context at once", o.Parallel))
	}
	if o.ContextTimeout <= 0 {
		errs = append(errs, fmt.Sprintf("invalid --context-timeout %s: give a duration above zero, e.g. 2m", o.ContextTimeout))
	}
	if o.Wait {
		errs = append(errs, "--wait waits for one cluster: leave it out with --contexts or --all-contexts")
	}
	for _, flag := range []string{"probe-address", "probe-http-address"} {
		if o.set[flag] && !o.AllNamespaces {
			errs = append(errs, fmt.Sprintf("--%s names one gateway: leave it out with --contexts or --all-contexts, where each cluster's gateway is probed at its own address", flag))
		}
	}
	if o.set["probe-token-file"] && !o.AllNamespaces {
		errs = append(errs, "--probe-token-file holds a token of one cluster's application: leave it out with --contexts or --all-contexts, and verify that application with --context")
	}
	return errs
}

// runContexts audits every chosen context, --parallel at once, renders one
// report and returns the worst verdict's error.
func (o *VerifyOptions) runContexts(ctx context.Context) error {
	result := audit.AuditContexts(ctx, o.contexts, o.Parallel, o.ContextTimeout, o.auditContext)
	if err := o.renderContexts(result); err != nil {
		return err
	}
	if err := result.Err(); err != nil {
		return &ExitError{Code: result.Verdict().ExitCode(), Err: &contextsVerdict{err: err}}
	}
	return nil
}

// contextsVerdict is the verdict of several contexts: each context's
// trouble with its cluster is already explained in the report, by context,
// and the command's error is not explained again as one cluster's.
type contextsVerdict struct{ err error }

func (e *contextsVerdict) Error() string { return e.err.Error() }
func (e *contextsVerdict) Unwrap() error { return e.err }

// auditContext audits one context: every namespace holding an OPEA
// application with -A, else the namespace of -n or the context's own, and
// names its mesh from the same reads. What stops it is the context's
// "could not run", never the others'.
func (o *VerifyOptions) auditContext(ctx context.Context, name string) audit.ContextResult {
	getter := o.forContext(name, o.ContextTimeout)
	fleet, err := o.auditOneContext(ctx, getter)
	if err != nil {
		return audit.ContextResult{Err: o.contextError(ctx, getter, err)}
	}
	return audit.ContextResult{Fleet: fleet}
}

func (o *VerifyOptions) auditOneContext(ctx context.Context, getter clients.Getter) (*audit.FleetResult, error) {
	c, err := auditClients(getter)
	if err != nil {
		return nil, err
	}
	if o.AllNamespaces {
		return audit.AuditAll(ctx, c, read.ReadOptions{AllNamespaces: true, NamespaceSelector: o.Selector, MinValidity: o.MinValidity, WarnExpiry: o.WarnExpiry, ExtraPrincipals: o.AsPrincipals, MeshIdentity: true},
			o.probeOptions(getter, c), o.Probe)
	}
	return o.auditContextNamespace(ctx, c, getter)
}

// auditContextNamespace audits the namespace of -n, or the context's own,
// as verify -n does.
func (o *VerifyOptions) auditContextNamespace(ctx context.Context, c read.Clients, getter clients.Getter) (*audit.FleetResult, error) {
	ns, err := namespaceOf(getter)
	if err != nil {
		return nil, err
	}
	if msgs := validateNamespace(ns); len(msgs) > 0 {
		return nil, errors.New(msgs[0])
	}
	r, err := audit.Audit(ctx, c, read.ReadOptions{Namespace: ns, EntryService: o.Service, EntryPort: o.Port, MinValidity: o.MinValidity, WarnExpiry: o.WarnExpiry, ExtraPrincipals: o.AsPrincipals, MeshIdentity: true},
		o.probeOptions(getter, c), o.Probe)
	var none *audit.NoApplicationError
	if errors.As(err, &none) {
		return nil, noApplication(none.Namespace, none.Found)
	}
	if err != nil {
		return nil, namespaceMissing(ctx, c, err)
	}
	return &audit.FleetResult{Namespaces: []audit.Result{*r}, Mesh: r.Mesh}, nil
}

// contextError explains why a context could not be audited: the cluster
// unreachable or refusing the credentials (as verify -n says it), or too
// slow for --context-timeout.
func (o *VerifyOptions) contextError(ctx context.Context, getter clients.Getter, err error) error {
	var unreachable *read.UnreachableError
	switch {
	case errors.As(err, &unreachable):
		return clients.Unreachable(clients.Host(getter), unreachable.Err)
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("the cluster did not answer within --context-timeout %s (or --timeout %s): %w", o.ContextTimeout, o.Timeout, err)
	}
	return err
}

func (o *VerifyOptions) renderContexts(result *audit.ContextsResult) error {
	switch o.Output {
	case "json", "yaml":
		return o.renderDocument(report.NewContexts(o.AllNamespaces, o.Selector, result))
	case "short":
		return report.ContextsShort(o.Out, result)
	}
	return report.ContextsTable(o.Out, result, o.style())
}
