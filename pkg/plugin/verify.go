package plugin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/opea-project/kubectl-opea/pkg/audit"
	"github.com/opea-project/kubectl-opea/pkg/audit/probe"
	"github.com/opea-project/kubectl-opea/pkg/audit/read"
	"github.com/opea-project/kubectl-opea/pkg/audit/report"
	"github.com/opea-project/kubectl-opea/pkg/await"
	"github.com/opea-project/kubectl-opea/pkg/clients"
	"github.com/opea-project/kubectl-opea/pkg/istio"
)

const verifyLong = `Prove that an OPEA application's TLS ingress and STRICT mTLS are in place and
effective, whoever set them up (kubectl opea secure, or manifests applied by hand).

verify reads the cluster once, then runs its checks: the Istio and cert-manager
APIs; the ambient data plane (istiod, ztunnel, istio-cni); the namespace's and
pods' enrolment; the effective mTLS mode of every workload; the ingress that
routes to the application, found whatever its kind (an Istio Gateway and
VirtualService, or a Gateway API Gateway and HTTPRoute, judged by the status
istiod writes on them); the credential Secret and its certificate, and
their renewal; the mesh root in the namespace's istio-ca-root-cert; a live
TLS probe that validates the certificate as a client would; and the ambient
pitfalls (NetworkPolicies that refuse HBONE, policies naming missing service
accounts or needing an Envoy the pods lack, waypoints that do not exist).
Each check passes (√), warns (‼) or fails (×); a failure says why, what to
run, and links to docs/checks.md.

The probe connects to --probe-address, else to the load balancer address of
the gateway Service (or the Gateway API Gateway's status address), else,
as on kind or minikube, through a port-forward to a ready gateway pod via
the API server, as kubectl port-forward does (--probe-via chooses). A
port-forward does not pass through the gateway Service or a load balancer,
and needs create pods/portforward in the gateway's namespace: without it the
probe is skipped, saying so. With -A, verify port-forwards only with
--probe-via port-forward, so that its requests do not grow with the
namespaces.

With --all-namespaces (-A), verify audits every namespace that holds an OPEA
application: one where kubectl opea secure wrote objects, one with an OPEA
release's <release>-nginx Service beside its <release> megaservice, or one an
ingress (Istio Gateway or Gateway API) leads to a <release>-nginx Service of;
--selector (-l) narrows them by namespace labels. It reads the cluster once
for all of them, prints one summary table (entry Service, verdict, counts,
the failed checks' IDs) and then the failing namespaces' warnings and
failures, and what kubectl opea secure left for namespaces since deleted
(certificates cert-manager keeps renewing) with the unsecure that removes
it; -o short prints a line per namespace, and -o json (or yaml) one document
with every namespace's report. A namespace whose pods you may not read is reported
as such, and so is a search for applications that refused reads left
incomplete; the others are still audited.

With --contexts (or --all-contexts), verify audits several kube contexts of the
kubeconfig(s) kubectl reads (--kubeconfig, or every file of $KUBECONFIG) in one
report: a CONTEXT column in the table, "context" on every namespace of -o json,
a line per namespace prefixed with its context in -o short. --contexts takes
names, /regular expressions/ (matching anywhere in the name) and ^ before
either to leave contexts out, comma-separated and applied in order; with only
exclusions it starts from every context. -A still means namespaces: every
OPEA application of each context; without it, the namespace of -n in each
context, or each context's own namespace. --parallel contexts are audited at
once, each within --context-timeout; one that cannot be reached or read could
not run (exit code 3 for it), says why, and never stops the others. The
fleet check fleet.trust-root then compares the contexts of one mesh (the same
meshId, else the same trust domain): the same root certificate and trust
domain, or a warning with each root's SHA-256 fingerprint. The exit code is
the worst of the contexts'.

--reachability prints, instead of the checks, the matrix of who ztunnel lets
into the application's pods: one row per port of every Service of the
namespace (resolved to the pods' ports through its EndpointSlices), one
column per kind of caller (plaintext from outside the mesh, the ingress
gateway, the application's own service accounts, a mesh workload of another
namespace, and each --as-principal), and the policies that decide. -o json
and -o yaml carry the same matrix in each namespace's reachability document.

A read the API server refuses does not stop verify: every check whose inputs
were read still runs, each check that needed a refused read is reported as
unknown (?), naming it, and the report ends with the list of the permissions
you lack.

Exit codes: 0 when nothing failed (warnings allowed) and every check ran,
1 when a check failed (with -A: in any namespace), 2 for bad flags, 3 when
the audit could not run or not in full (cluster unreachable or not answering
within --timeout, credentials rejected, namespace missing or holding no OPEA
application, reads refused) and nothing failed, 124 when --wait timed out with
checks still failing, 130 when interrupted; whatever the output format. A
namespace that does not exist or holds no OPEA application is reported in one
line, with the namespaces that hold one.`

const verifyExample = `  # Audit the ChatQnA application in namespace chatqna
  kubectl opea verify -n chatqna

  # In CI: JSON, and wait up to 5 minutes for a certificate still being issued
  kubectl opea verify -n chatqna -o json --wait --timeout 5m

  # Every OPEA application of the cluster, a line each; those of team rag only
  kubectl opea verify -A -o short
  kubectl opea verify -A -l team=rag

  # Every OPEA application of dev, stage and the prod- clusters but prod-old
  kubectl opea verify -A --contexts 'dev,stage,/^prod-/,^prod-old'

  # Namespace chatqna in every context of the kubeconfig, two at a time
  kubectl opea verify -n chatqna --all-contexts --parallel 2 --context-timeout 1m

  # Who ztunnel lets into each port of the application, and which policy decides
  kubectl opea verify -n chatqna --reachability

  # The same with a column for a caller of your own
  kubectl opea verify -n chatqna --reachability --as-principal cluster.local/ns/monitoring/sa/prometheus

  # Probe the gateway through a port-forward to one of its pods
  kubectl opea verify -n chatqna --probe-via port-forward

  # Probe the gateway at an address of your own
  kubectl port-forward -n istio-ingress svc/istio-ingress 8443:443 8080:80 &
  kubectl opea verify -n chatqna --probe-address 127.0.0.1:8443 --probe-http-address 127.0.0.1:8080`

// VerifyOptions holds the flags of `kubectl opea verify`.
type VerifyOptions struct {
	Output           string
	AllNamespaces    bool
	Selector         string
	Probe            bool
	Service          string
	Port             int32
	MinValidity      time.Duration
	ProbeAddress     string
	ProbeHTTPAddress string
	ProbeVia         string
	ProbeTimeout     time.Duration
	// ProbeTokenFile holds a bearer token the probe sends to reach the
	// application through the gateway's authentication.
	ProbeTokenFile string
	WarnExpiry     time.Duration
	Wait           bool
	Timeout        time.Duration
	// Contexts and AllContexts choose the kube contexts to audit, Parallel
	// how many at once, ContextTimeout how long each may take.
	Contexts       string
	AllContexts    bool
	Parallel       int
	ContextTimeout time.Duration

	// Reachability prints the reachability matrix instead of the checks.
	Reachability bool
	// AsPrincipals each get a column of the matrix.
	AsPrincipals []string

	// waitFor is the duration of the older form --wait=DURATION.
	waitFor *time.Duration

	namespace string
	// set are the flags given on the command line: a value given
	// explicitly must make sense, even where the default means "none".
	set map[string]bool
	// selectorErr is why --selector does not parse, reported by Validate
	// with the other flags' problems.
	selectorErr error
	// contexts are the kube contexts chosen by --contexts or
	// --all-contexts; contextsErr why the choice is wrong, reported by
	// Validate.
	contexts    []string
	contextsErr error
	// token is --probe-token-file's content, tokenErr why it could not be
	// read. The token is a secret: never printed.
	token      string
	tokenErr   error
	clients    clients.Getter
	forContext ContextClients
	genericiooptions.IOStreams
}

// NewVerifyOptions returns verify's options with the flags' defaults.
func NewVerifyOptions(getter clients.Getter, forContext ContextClients, streams genericiooptions.IOStreams) *VerifyOptions {
	return &VerifyOptions{
		IOStreams: streams, clients: getter, forContext: forContext,
		Output: "table", Probe: true, MinValidity: 30 * 24 * time.Hour, ProbeVia: probe.ViaAuto, ProbeTimeout: 5 * time.Second,
		WarnExpiry: 30 * 24 * time.Hour, Timeout: defaultTimeout,
		Parallel: defaultParallel, ContextTimeout: defaultContextTimeout,
	}
}

// NewCmdVerify returns the `verify` command.
func NewCmdVerify(getter clients.Getter, forContext ContextClients, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewVerifyOptions(getter, forContext, streams)
	cmd := &cobra.Command{
		Use:     "verify",
		Short:   "Audit that an OPEA application's TLS ingress and STRICT mTLS are in place and effective",
		Long:    verifyLong,
		Example: verifyExample,
		Args:    o.legacyWaitArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Complete(cmd); err != nil {
				return &ExitError{Code: ExitIncomplete, Err: err}
			}
			if err := o.Validate(); err != nil {
				return usageError(cmd, err)
			}
			return o.Run(contextOf(cmd))
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.Output, "output", "o", o.Output, "Output format: table, short (warnings and failures only; with -A, a line per namespace), json or yaml (the same document)")
	f.BoolVarP(&o.AllNamespaces, "all-namespaces", "A", o.AllNamespaces, "Audit every namespace that holds an OPEA application, from one read of the cluster (-n is then ignored)")
	f.StringVarP(&o.Selector, "selector", "l", o.Selector, "With -A, audit only the namespaces whose labels match this selector (e.g. team=rag,env!=dev)")
	f.BoolVar(&o.Probe, "probe", o.Probe, "Run the live TLS probe when the gateway's address is known (--probe=false skips it); with -A, several gateways at once")
	f.StringVar(&o.Service, "service", o.Service, "Entry Service of the application that the ingress must route to (default: any Service in the namespace)")
	f.Int32Var(&o.Port, "port", o.Port, "Port of the entry Service that the routes must use (default: any)")
	f.DurationVar(&o.MinValidity, "min-validity", o.MinValidity, "Warn when the certificate expires sooner than this")
	f.StringVar(&o.ProbeAddress, "probe-address", o.ProbeAddress, "HOST:PORT of the gateway's HTTPS listener to probe (default: the gateway Service's load balancer address, or a Gateway API Gateway's status address)")
	f.StringVar(&o.ProbeHTTPAddress, "probe-http-address", o.ProbeHTTPAddress, "HOST:PORT of the gateway's plain HTTP listener, to check the redirect")
	f.StringVar(&o.ProbeVia, "probe-via", o.ProbeVia, "How the probe reaches the gateway: auto (--probe-address, else the load balancer address, else a port-forward to a gateway pod; with -A, never a port-forward), address (never a port-forward) or port-forward")
	f.DurationVar(&o.ProbeTimeout, "probe-timeout", o.ProbeTimeout, "Timeout of the live probe: each host's, and all hosts' together")
	f.StringVar(&o.ProbeTokenFile, "probe-token-file", o.ProbeTokenFile, "File holding a token (a JWT, with or without \"Bearer \") the probe sends over HTTPS to check that a caller with it reaches an application behind secure --auth; never printed")
	f.DurationVar(&o.WarnExpiry, "warn-expiry", o.WarnExpiry, "Warn when the mesh root certificate (istio-ca-root-cert) expires sooner than this")
	f.Var(waitValue{o}, "wait", "Re-run failing checks until they pass (exit code 124 if --timeout passes first)")
	f.Lookup("wait").NoOptDefVal = "true"
	f.DurationVar(&o.Timeout, "timeout", o.Timeout, timeoutUsage)
	addContextsFlags(f, o)
	f.BoolVar(&o.Reachability, "reachability", o.Reachability, "Print the matrix of who ztunnel lets into each port of the application, and the policy that decides, instead of the checks (the exit code is still the checks' verdict)")
	f.StringArrayVar(&o.AsPrincipals, "as-principal", nil, "Add a column to the reachability matrix for this caller, as <trust domain>/ns/<namespace>/sa/<service account>; repeat for several (with --reachability, or -o json or yaml)")
	_ = cmd.RegisterFlagCompletionFunc("contexts", o.completeContextNames)
	_ = cmd.RegisterFlagCompletionFunc("output", fixedCompletions("table", "short", "json", "yaml"))
	_ = cmd.RegisterFlagCompletionFunc("probe-via", fixedCompletions(probe.ViaValues...))
	return cmd
}

// Complete resolves the namespace, notes which flags were given and parses
// the selector; Validate reports what does not make sense.
func (o *VerifyOptions) Complete(cmd *cobra.Command) error {
	o.set = map[string]bool{}
	cmd.Flags().Visit(func(f *pflag.Flag) { o.set[f.Name] = true })
	if o.manyContexts() {
		// Each context has its namespace: -n, or the context's own.
		if o.set["namespace"] {
			o.namespace = cmd.Flags().Lookup("namespace").Value.String()
		}
		if err := o.completeContexts(); err != nil {
			return err
		}
	} else {
		ns, err := namespaceOf(o.clients)
		if err != nil {
			return err
		}
		o.namespace = ns
	}
	_, o.selectorErr = labels.Parse(o.Selector)
	if o.set["probe-token-file"] {
		o.token, o.tokenErr = readToken(o.ProbeTokenFile)
	}
	if o.waitFor != nil {
		fmt.Fprintf(o.ErrOut, "--wait DURATION is deprecated: use --wait --timeout %s\n", *o.waitFor)
		if !o.set["timeout"] {
			o.Timeout = *o.waitFor
		}
	}
	return nil
}

// waitValue is --wait: a switch, with --timeout, as in secure and unsecure.
// The older form --wait=DURATION still works.
type waitValue struct{ o *VerifyOptions }

func (v waitValue) String() string { return strconv.FormatBool(v.o.Wait) }
func (v waitValue) Type() string   { return "bool" } // shown as secure's and unsecure's --wait

func (v waitValue) Set(s string) error {
	if b, err := strconv.ParseBool(s); err == nil {
		v.o.Wait = b
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return errors.New("use --wait with --timeout DURATION")
	}
	v.o.Wait, v.o.waitFor = true, &d
	return nil
}

// legacyWaitArgs takes "--wait 5m", the older form, for --wait=5m: a bare
// --wait took the flag, so the duration arrives as an argument.
func (o *VerifyOptions) legacyWaitArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 1 && o.Wait && o.waitFor == nil {
		if d, err := time.ParseDuration(args[0]); err == nil {
			o.waitFor = &d
			return nil
		}
	}
	return appArgs(cmd, args)
}

// Validate checks the flags, all of them: it reports every problem at
// once, before anything is read or probed, and changes nothing.
func (o *VerifyOptions) Validate() error {
	var errs []string
	switch o.Output {
	case "table", "short", "json", "yaml":
	default:
		errs = append(errs, fmt.Sprintf("unsupported output format %q: use table, short, json or yaml", o.Output))
	}
	switch {
	case o.AllNamespaces:
		errs = append(errs, o.validateAllNamespaces()...)
	case !o.manyContexts() || o.set["namespace"]:
		errs = append(errs, validateNamespace(o.namespace)...)
	}
	errs = append(errs, o.validateContexts()...)
	if o.set["selector"] && !o.AllNamespaces {
		errs = append(errs, "--selector chooses namespaces: use it with --all-namespaces (-A)")
	}
	if o.set["service"] {
		if msgs := validation.IsDNS1035Label(o.Service); len(msgs) > 0 {
			errs = append(errs, fmt.Sprintf("invalid --service %q: %s", o.Service, strings.Join(msgs, "; ")))
		}
	}
	if o.set["port"] && (o.Port < 1 || o.Port > 65535) {
		errs = append(errs, fmt.Sprintf("invalid --port %d: a port is 1 to 65535", o.Port))
	}
	if o.waitFor != nil && *o.waitFor <= 0 {
		errs = append(errs, fmt.Sprintf("invalid --wait %s: it must be positive (leave it out not to wait)", *o.waitFor))
	}
	if o.Timeout <= 0 {
		errs = append(errs, fmt.Sprintf("invalid --timeout %s: give a duration above zero, e.g. 5m", o.Timeout))
	}
	if o.ProbeTimeout <= 0 {
		errs = append(errs, fmt.Sprintf("invalid --probe-timeout %s: it must be positive", o.ProbeTimeout))
	}
	if o.MinValidity < 0 {
		errs = append(errs, fmt.Sprintf("invalid --min-validity %s: it must not be negative", o.MinValidity))
	}
	for _, flag := range []struct {
		name, value string
	}{{"probe-address", o.ProbeAddress}, {"probe-http-address", o.ProbeHTTPAddress}} {
		if o.set[flag.name] {
			if err := validateHostPort(flag.value); err != nil {
				errs = append(errs, fmt.Sprintf("invalid --%s %q: %v", flag.name, flag.value, err))
			}
		}
	}
	errs = append(errs, o.validateReachability()...)
	if !o.Probe && o.ProbeAddress != "" {
		errs = append(errs, "--probe=false skips the probe --probe-address points: give one or the other")
	}
	errs = append(errs, o.validateProbeVia()...)
	if o.WarnExpiry < 0 {
		errs = append(errs, fmt.Sprintf("invalid --warn-expiry %s: it must not be negative", o.WarnExpiry))
	}
	if o.ProbeHTTPAddress != "" && o.ProbeAddress == "" {
		errs = append(errs, "--probe-http-address needs --probe-address")
	}
	if o.tokenErr != nil {
		errs = append(errs, o.tokenErr.Error())
	}
	if !o.Probe && o.set["probe-token-file"] {
		errs = append(errs, "--probe=false skips the probe that sends --probe-token-file's token: give one or the other")
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "\n"))
	}
	return nil
}

// validateReachability checks --reachability and --as-principal: the
// matrix is a table of one namespace, or part of the json and yaml
// documents; each principal is one a policy could name.
func (o *VerifyOptions) validateReachability() []string {
	var errs []string
	if o.Reachability {
		if o.set["output"] && o.Output != "table" {
			errs = append(errs, fmt.Sprintf("--reachability prints a table: leave out -o %s (-o json and -o yaml carry the matrix in each namespace's reachability document)", o.Output))
		}
		if o.AllNamespaces {
			errs = append(errs, "--reachability prints one namespace's matrix: name it with -n, or use -A with -o json or yaml, whose documents carry each namespace's")
		}
		if o.manyContexts() {
			errs = append(errs, "--reachability prints the matrix of one cluster's namespace: name the context with --context, or use -o json or yaml with --contexts, whose documents carry each namespace's")
		}
	}
	if len(o.AsPrincipals) > 0 && !o.Reachability && !o.document() {
		errs = append(errs, "--as-principal adds a column to the reachability matrix: use it with --reachability, or with -o json or yaml")
	}
	seen := map[string]bool{}
	for _, p := range o.AsPrincipals {
		if _, _, _, err := istio.ParsePrincipal(p); err != nil {
			errs = append(errs, fmt.Sprintf("invalid --as-principal: %v", err))
		} else if seen[p] {
			errs = append(errs, fmt.Sprintf("--as-principal %s is given twice: name each caller once", p))
		}
		seen[p] = true
	}
	return errs
}

// validateProbeVia checks --probe-via, and that it goes with the other
// probe flags.
func (o *VerifyOptions) validateProbeVia() []string {
	if !slices.Contains(probe.ViaValues, o.ProbeVia) {
		return []string{fmt.Sprintf("invalid --probe-via %q: use %s", o.ProbeVia, strings.Join(probe.ViaValues, ", "))}
	}
	var errs []string
	if o.ProbeVia == probe.ViaPortForward && o.ProbeAddress != "" {
		errs = append(errs, "--probe-via port-forward probes a gateway pod, not --probe-address: give one or the other")
	}
	if !o.Probe && o.set["probe-via"] {
		errs = append(errs, "--probe=false skips the probe --probe-via chooses the way of: give one or the other")
	}
	return errs
}

// validateAllNamespaces checks the flags that go with --all-namespaces.
func (o *VerifyOptions) validateAllNamespaces() []string {
	var errs []string
	if o.selectorErr != nil {
		errs = append(errs, fmt.Sprintf("invalid --selector %q: %v", o.Selector, o.selectorErr))
	}
	if o.set["probe-token-file"] {
		errs = append(errs, "--probe-token-file holds one application's token: leave it out with --all-namespaces, and verify that application with -n")
	}
	for _, flag := range []string{"probe-address", "probe-http-address"} {
		if o.set[flag] {
			errs = append(errs, fmt.Sprintf("--%s names one gateway: leave it out with --all-namespaces, where each namespace's gateway is probed at its own address", flag))
		}
	}
	for _, flag := range []string{"service", "port"} {
		if o.set[flag] {
			errs = append(errs, fmt.Sprintf("--%s names one application's entry: leave it out with --all-namespaces, where each namespace's is found by itself", flag))
		}
	}
	return errs
}

// readToken reads a bearer token from file: one line, "Bearer " in front
// of it or not. Its errors name the file, never what it holds.
func readToken(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("could not read --probe-token-file %q: %v", file, errors.Unwrap(err))
	}
	token := strings.TrimSpace(string(b))
	if t, ok := strings.CutPrefix(token, "Bearer "); ok {
		token = strings.TrimSpace(t)
	}
	switch {
	case token == "":
		return "", fmt.Errorf("invalid --probe-token-file %q: it is empty; put the token (e.g. a JWT from your IdP) in it", file)
	case strings.ContainsAny(token, " \t\r\n") || !isPrintable(token):
		return "", fmt.Errorf("invalid --probe-token-file %q: it must hold one token, without spaces or line breaks inside", file)
	}
	return token, nil
}

// isPrintable reports whether s is printable ASCII, as an HTTP header
// value must be.
func isPrintable(s string) bool {
	for _, c := range s {
		if c < '!' || c > '~' {
			return false
		}
	}
	return true
}

// validateHostPort accepts HOST:PORT, where HOST is an IP address or a DNS
// name, [IPv6]:PORT, and PORT a number from 1 to 65535.
func validateHostPort(address string) error {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return errors.New("want HOST:PORT, e.g. 127.0.0.1:8443 or [::1]:8443")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q is not a number from 1 to 65535", port)
	}
	if host == "" {
		return errors.New("the host is missing")
	}
	if net.ParseIP(host) == nil && len(validation.IsDNS1123Subdomain(strings.ToLower(host))) > 0 {
		return fmt.Errorf("host %q is neither an IP address nor a DNS name", host)
	}
	return nil
}

// Run audits, renders the report and returns the verdict's error, whose
// exit code is the verdict's.
func (o *VerifyOptions) Run(ctx context.Context) error {
	ctx, cancel := deadline(ctx, o.Timeout)
	defer cancel()
	if o.manyContexts() {
		return o.runContexts(ctx)
	}
	c, err := auditClients(o.clients)
	if err != nil {
		return o.couldNotRun(err)
	}
	if o.AllNamespaces {
		return o.runAll(ctx, c)
	}
	result, err := o.audit(ctx, c)
	var timeout *await.TimeoutError
	if err != nil && !errors.As(err, &timeout) {
		return o.couldNotRun(namespaceMissing(ctx, c, err))
	}
	if err := o.render(result); err != nil {
		return err
	}
	if timeout != nil {
		return timeout
	}
	return verdictError(result.Verdict(), result.Err())
}

// audit audits the namespace once or, with --wait, until no check fails.
// Its result is the last audit's; when --wait ran out of time before one
// finished, a result of no checks.
func (o *VerifyOptions) audit(ctx context.Context, c read.Clients) (*audit.Result, error) {
	result := &audit.Result{Namespace: o.namespace}
	once := func(ctx context.Context) (bool, string, error) {
		r, err := audit.Audit(ctx, c, o.readOptions(), o.probeOptions(o.clients, c), o.Probe)
		var none *audit.NoApplicationError
		if errors.As(err, &none) {
			return false, "", noApplication(none.Namespace, none.Found)
		}
		if err != nil {
			return false, "", err
		}
		result = r
		failing := r.FailedIDs()
		if len(failing) > 0 && o.Wait {
			fmt.Fprintf(o.ErrOut, "Waiting for %s...\n", strings.Join(failing, ", "))
		}
		return len(failing) == 0, strings.Join(failing, ", ") + " failing", nil
	}
	if !o.Wait {
		_, _, err := once(ctx)
		return result, err
	}
	return result, commandTimeout(await.Until(ctx, timeLeft(ctx), 2*time.Second, "every check of namespace "+o.namespace+" to pass", once), o.Timeout)
}

// readOptions say what to read: with --reachability, the service
// accounts of the application's pods too, the APP column's callers.
func (o *VerifyOptions) readOptions() read.ReadOptions {
	return read.ReadOptions{Namespace: o.namespace, EntryService: o.Service, EntryPort: o.Port, MinValidity: o.MinValidity,
		WarnExpiry: o.WarnExpiry, AppServiceAccounts: o.Reachability, ExtraPrincipals: o.AsPrincipals}
}

// verdictError is err, the verdict's, with the verdict's exit code; nil
// when there is nothing to say.
func verdictError(v audit.Verdict, err error) error {
	if err == nil {
		return nil
	}
	return &ExitError{Code: v.ExitCode(), Err: err}
}

// probeOptions are the probe's flags, with the port-forwards it may open
// as the user getter's credentials name.
func (o *VerifyOptions) probeOptions(getter clients.Getter, c read.Clients) probe.Options {
	p := probe.Options{Address: o.ProbeAddress, HTTPAddress: o.ProbeHTTPAddress, Via: o.ProbeVia, Timeout: o.ProbeTimeout, Token: o.token}
	if o.AllNamespaces && !o.set["probe-via"] {
		// A port-forward for each application would make the requests
		// grow with the namespaces: -A forwards only when asked to.
		p.Via = probe.ViaAddress
	}
	if cfg, err := getter.ToRESTConfig(); err == nil {
		p.Forwarder = probe.PodForwarder{Config: cfg, Kube: c.Kube}
	}
	return p
}

// auditClients are the clients the audit reads the cluster of getter with.
func auditClients(getter clients.Getter) (read.Clients, error) {
	kube, err := getter.Kubernetes()
	if err != nil {
		return read.Clients{}, err
	}
	dyn, err := getter.Dynamic()
	if err != nil {
		return read.Clients{}, err
	}
	meta, err := getter.Metadata()
	if err != nil {
		return read.Clients{}, err
	}
	disco, err := getter.ToDiscoveryClient()
	if err != nil {
		return read.Clients{}, err
	}
	// A cached list of APIs could predate an Istio or cert-manager install.
	disco.Invalidate()
	return read.Clients{Kube: kube, Dynamic: dyn, Metadata: meta, Discovery: disco}, nil
}

// couldNotRun reports an audit that could not run: exit code 3, and for
// -o json a document that says so, printed once the error is explained
// (see reportsError).
func (o *VerifyOptions) couldNotRun(err error) error {
	var unreachable *read.UnreachableError
	if errors.As(err, &unreachable) {
		err = clients.Unreachable(clients.Host(o.clients), unreachable.Err)
	}
	return &ExitError{Code: audit.VerdictNotRun.ExitCode(), Err: &auditNotRun{err: err, o: o}}
}

// auditNotRun is the error of an audit that could not run.
type auditNotRun struct {
	err error
	o   *VerifyOptions
}

func (e *auditNotRun) Error() string { return e.err.Error() }
func (e *auditNotRun) Unwrap() error { return e.err }

// report prints, for -o json, the document that says why the audit could
// not run, with the message the user reads on stderr.
func (e *auditNotRun) report(final error) {
	o := e.o
	switch {
	case o.document() && o.AllNamespaces:
		_ = o.renderDocument(report.FleetNotRun(o.Selector, final))
	case o.document():
		_ = o.renderDocument(report.NotRun(o.namespace, final))
	}
}

func (o *VerifyOptions) render(r *audit.Result) error {
	if o.document() {
		return o.renderDocument(report.New(r))
	}
	if o.Reachability {
		return report.ReachabilityTable(o.Out, r)
	}
	return report.Table(o.Out, r, o.style(), o.Output == "short")
}

// document reports whether -o asks for one document (json or yaml) rather
// than text.
func (o *VerifyOptions) document() bool { return o.Output == "json" || o.Output == "yaml" }

// renderDocument writes r, a Report or a FleetReport, in the format -o
// names: YAML is the JSON document, converted.
func (o *VerifyOptions) renderDocument(r any) error {
	if o.Output == "yaml" {
		return report.YAML(o.Out, r)
	}
	return report.JSON(o.Out, r)
}

// style puts glyphs and colour on a terminal only, and no colour when
// NO_COLOR is set (https://no-color.org).
func (o *VerifyOptions) style() report.Style {
	f, ok := o.Out.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return report.Style{}
	}
	return report.Style{Glyphs: true, Colour: os.Getenv("NO_COLOR") == ""}
}
