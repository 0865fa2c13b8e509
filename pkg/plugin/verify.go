package plugin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/opea-project/kubectl-opea/pkg/audit"
	"github.com/opea-project/kubectl-opea/pkg/clients"
)

const verifyLong = `Prove that an OPEA application's TLS ingress and STRICT mTLS are in place and
effective, whoever set them up (kubectl opea secure, or manifests applied by hand).

verify reads the cluster once, then runs its checks: the Istio and cert-manager
APIs; the ambient data plane (istiod, ztunnel, istio-cni); the namespace's and
pods' enrolment; the effective mTLS mode of every workload; the Gateway and
VirtualService that route to the application; the credential Secret and its
certificate; and, when an address is known, a live TLS probe that validates the
certificate as a client would. Each check passes (√), warns (‼) or fails (×);
a failure says why, what to run, and links to docs/checks.md.

Exit codes: 0 when nothing failed (warnings allowed), 1 when a check failed,
2 when the audit could not run (bad flags, cluster unreachable, no namespace),
whatever the output format.`

const verifyExample = `  # Audit the ChatQnA application in namespace chatqna
  kubectl opea verify -n chatqna

  # In CI: JSON, and wait up to 5 minutes for a certificate still being issued
  kubectl opea verify -n chatqna -o json --wait 5m

  # Probe the gateway through a port-forward
  kubectl port-forward -n istio-ingress svc/istio-ingress 8443:443 8080:80 &
  kubectl opea verify -n chatqna --probe-address 127.0.0.1:8443 --probe-http-address 127.0.0.1:8080`

// VerifyOptions holds the flags of `kubectl opea verify`.
type VerifyOptions struct {
	Output           string
	Service          string
	Port             int32
	MinValidity      time.Duration
	ProbeAddress     string
	ProbeHTTPAddress string
	ProbeTimeout     time.Duration
	Wait             time.Duration

	namespace string
	clients   clients.Getter
	genericiooptions.IOStreams
}

// NewCmdVerify returns the `verify` command.
func NewCmdVerify(getter clients.Getter, streams genericiooptions.IOStreams) *cobra.Command {
	o := &VerifyOptions{IOStreams: streams, clients: getter}
	cmd := &cobra.Command{
		Use:     "verify",
		Short:   "Audit that an OPEA application's TLS ingress and STRICT mTLS are in place and effective",
		Long:    verifyLong,
		Example: verifyExample,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Complete(); err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			if err := o.Validate(); err != nil {
				return usageError(cmd, err)
			}
			return o.Run(contextOf(cmd))
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.Output, "output", "o", "table", "Output format: table, short (warnings and failures only) or json")
	f.StringVar(&o.Service, "service", "", "Entry Service of the application that the ingress must route to (default: any Service in the namespace)")
	f.Int32Var(&o.Port, "port", 0, "Port of the entry Service")
	f.DurationVar(&o.MinValidity, "min-validity", 30*24*time.Hour, "Warn when the certificate expires sooner than this")
	f.StringVar(&o.ProbeAddress, "probe-address", "", "HOST:PORT of the gateway's HTTPS listener to probe (default: the gateway Service's load balancer address)")
	f.StringVar(&o.ProbeHTTPAddress, "probe-http-address", "", "HOST:PORT of the gateway's plain HTTP listener, to check the redirect")
	f.DurationVar(&o.ProbeTimeout, "probe-timeout", 5*time.Second, "Timeout of each probe connection")
	f.DurationVar(&o.Wait, "wait", 0, "Re-run failing checks until they pass or this long has passed (e.g. 5m)")
	_ = cmd.RegisterFlagCompletionFunc("output", fixedCompletions("table", "short", "json"))
	return cmd
}

// Complete resolves the namespace.
func (o *VerifyOptions) Complete() error {
	ns, err := namespaceOf(o.clients)
	if err != nil {
		return err
	}
	o.namespace = ns
	return nil
}

// Validate checks the flags.
func (o *VerifyOptions) Validate() error {
	var errs []string
	switch o.Output {
	case "table", "short", "json":
	default:
		errs = append(errs, fmt.Sprintf("unsupported output format %q: use table, short or json", o.Output))
	}
	if o.Wait < 0 || o.MinValidity < 0 || o.ProbeTimeout <= 0 {
		errs = append(errs, "--wait and --min-validity must not be negative, --probe-timeout must be positive")
	}
	if o.ProbeHTTPAddress != "" && o.ProbeAddress == "" {
		errs = append(errs, "--probe-http-address needs --probe-address")
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "\n"))
	}
	return nil
}

// Run audits, renders the report and returns an error whose exit code is the
// verdict.
func (o *VerifyOptions) Run(ctx context.Context) error {
	c, err := o.auditClients()
	if err != nil {
		return o.couldNotRun(err)
	}
	deadline := time.Now().Add(o.Wait)
	var outcomes []audit.Outcome
	for {
		snap, err := audit.Read(ctx, c, audit.ReadOptions{Namespace: o.namespace, EntryService: o.Service, EntryPort: o.Port, MinValidity: o.MinValidity})
		if err != nil {
			return o.couldNotRun(err)
		}
		snap.Probe = audit.Probe(ctx, snap, audit.ProbeOptions{Address: o.ProbeAddress, HTTPAddress: o.ProbeHTTPAddress, Timeout: o.ProbeTimeout})
		outcomes = audit.Run(snap)
		if !audit.Failed(outcomes) || time.Now().After(deadline) {
			break
		}
		fmt.Fprintf(o.ErrOut, "Waiting for %s...\n", strings.Join(failingIDs(outcomes), ", "))
		select {
		case <-ctx.Done():
			return o.couldNotRun(ctx.Err())
		case <-time.After(2 * time.Second):
		}
	}
	if err := o.render(outcomes); err != nil {
		return err
	}
	if audit.Failed(outcomes) {
		return &ExitError{Code: ExitFailure, Err: fmt.Errorf("%d checks failed", audit.Summarize(outcomes).Failed)}
	}
	return nil
}

func (o *VerifyOptions) auditClients() (audit.Clients, error) {
	kube, err := o.clients.Kubernetes()
	if err != nil {
		return audit.Clients{}, err
	}
	dyn, err := o.clients.Dynamic()
	if err != nil {
		return audit.Clients{}, err
	}
	meta, err := o.clients.Metadata()
	if err != nil {
		return audit.Clients{}, err
	}
	disco, err := o.clients.ToDiscoveryClient()
	if err != nil {
		return audit.Clients{}, err
	}
	// A cached list of APIs could predate an Istio or cert-manager install.
	disco.Invalidate()
	return audit.Clients{Kube: kube, Dynamic: dyn, Metadata: meta, Discovery: disco}, nil
}

func failingIDs(outcomes []audit.Outcome) []string {
	var ids []string
	for _, o := range outcomes {
		if o.Status == audit.Fail {
			ids = append(ids, o.ID)
		}
	}
	return ids
}

// couldNotRun reports an audit that could not run: exit code 2, and for
// -o json a document that says so.
func (o *VerifyOptions) couldNotRun(err error) error {
	var unreachable *audit.UnreachableError
	if errors.As(err, &unreachable) {
		err = fmt.Errorf("%w\n  fix: check --kubeconfig and --context, then 'kubectl cluster-info'", err)
	}
	if o.Output == "json" {
		_ = audit.RenderJSON(o.Out, audit.Report{Namespace: o.namespace, Categories: []audit.ReportCategory{}, Error: err.Error()})
	}
	return &ExitError{Code: ExitUsage, Err: err}
}

func (o *VerifyOptions) render(outcomes []audit.Outcome) error {
	if o.Output == "json" {
		return audit.RenderJSON(o.Out, audit.NewReport(o.namespace, outcomes))
	}
	return audit.RenderTable(o.Out, o.namespace, outcomes, o.style(), o.Output == "short")
}

// style puts glyphs and colour on a terminal only, and no colour when
// NO_COLOR is set (https://no-color.org).
func (o *VerifyOptions) style() audit.Style {
	f, ok := o.Out.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return audit.Style{}
	}
	return audit.Style{Glyphs: true, Colour: os.Getenv("NO_COLOR") == ""}
}
