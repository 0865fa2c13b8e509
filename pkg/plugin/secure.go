package plugin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/opea-project/kubectl-opea/pkg/apply"
	"github.com/opea-project/kubectl-opea/pkg/clients"
	"github.com/opea-project/kubectl-opea/pkg/desired"
	"github.com/opea-project/kubectl-opea/pkg/gatewayapi"
	"github.com/opea-project/kubectl-opea/pkg/istio"
	"github.com/opea-project/kubectl-opea/pkg/owned"
	"github.com/opea-project/kubectl-opea/pkg/ownership"
	"github.com/opea-project/kubectl-opea/pkg/secure"
)

const secureLong = `Put an OPEA application behind an Istio ingress gateway with TLS, and
enforce STRICT mutual TLS between its pods.

secure applies, with server-side apply (field manager kubectl-opea):
  - the label istio.io/dataplane-mode=ambient on the namespace (--enroll)
  - PeerAuthentication "default" with mtls.mode STRICT in the namespace
  - in the namespace of the gateway pods: a private CA made with cert-manager
    (self-signed Issuer, CA Certificate, CA Issuer) and the gateway's
    Certificate for the hosts; or only the Certificate from --issuer; or
    nothing, with --tls-secret
  - the ingress, in one of two modes:
    classic (the default): an Istio Gateway selecting the existing ingress
    gateway pods, HTTPS on 443 with that certificate, HTTP on 80 redirecting
    to HTTPS (--http-redirect), and a VirtualService routing the hosts to the
    application's entry Service; the certificate goes to the gateway pods'
    namespace;
    --gateway-api: a Kubernetes Gateway API Gateway "opea-ingress" of
    --gateway-class (istio) in the application namespace, an HTTPS listener
    per host with that certificate and an HTTP one per host, an HTTPRoute to
    the entry Service and one redirecting HTTP to HTTPS. Istio deploys the
    gateway pods for it in the application namespace, so no shared ingress
    gateway is needed; the certificate goes there too. istio.io recommends
    the Gateway API for ambient mode.
  - with --lockdown, deny by default: AuthorizationPolicies that admit to
    the application's pods only its own workloads (the service accounts its
    pods run as), the callers named with --allow-principal, and the ingress
    gateway to the entry workload's port. They stay on later runs without
    --lockdown; --lockdown=false removes them.
  - with --auth jwt (--jwt-issuer, --jwks-uri) or --auth ext-authz
    (--auth-provider), authentication on the ingress gateway for the
    application's hosts only: a RequestAuthentication and a DENY
    AuthorizationPolicy refusing requests without a valid token of the
    issuer (or lacking a --require-claim), or a CUSTOM AuthorizationPolicy
    asking an extension provider of Istio's mesh config. In ambient mode
    the gateway is where HTTP policy is enforced: the application's pods
    have no sidecar. They stay on later runs without --auth; --auth=none
    removes them.

Before reading anything it checks that you have every permission it needs,
and names all that you lack; --print-rbac prints them as RBAC objects.
Before writing anything it checks that the namespace, the entry Service, the
ingress gateway (or the Gateway API and an accepted GatewayClass) and the
Istio and cert-manager APIs exist, that you may make every change, and that
no other tool owns what would change. Running it again changes nothing;
running it with other hosts updates the objects in place. With --diff it
checks the same, then prints what would change as kubectl diff does (the
server's dry run of each apply against the live object, and what it would
remove) and writes nothing.`

const secureExample = `  # Secure ChatQnA in namespace chatqna for one host
  kubectl opea secure -n chatqna --host chatqna.example.com

  # The same with the Kubernetes Gateway API: Istio deploys a gateway for
  # ChatQnA in its namespace (a ClusterIP Service on a cluster without load
  # balancers)
  kubectl opea secure -n chatqna --host chatqna.example.com --gateway-api --gateway-service-type ClusterIP

  # See what would be applied, without applying it
  kubectl opea secure -n chatqna --host chatqna.example.com --dry-run=client -o yaml

  # See what another host would change on the shared gateway, as kubectl
  # diff shows it (exit code 1 when something would change)
  kubectl opea secure -n chatqna --host chatqna.example.com --host chat.example.com --diff

  # Use an existing ACME ClusterIssuer and wait for the certificate
  kubectl opea secure -n chatqna --host chatqna.example.com \
    --issuer letsencrypt --issuer-kind ClusterIssuer --wait

  # Use a TLS Secret you already have in the gateway namespace (no cert-manager)
  kubectl opea secure -n codetrans --host codetrans.example.com --tls-secret codetrans-tls

  # Deny by default: only ChatQnA's own workloads, the ingress gateway and
  # a Prometheus in namespace monitoring may call ChatQnA's pods
  kubectl opea secure -n chatqna --host chatqna.example.com --lockdown \
    --allow-principal cluster.local/ns/monitoring/sa/prometheus

  # Remove the lockdown again, keeping the rest
  kubectl opea secure -n chatqna --host chatqna.example.com --lockdown=false

  # Require a token of a Keycloak realm, with audience chatqna and group
  # opea-users, for the host (other applications on the gateway untouched)
  kubectl opea secure -n chatqna --host chatqna.example.com --auth jwt \
    --jwt-issuer https://idp.example.com/realms/opea \
    --jwks-uri https://idp.example.com/realms/opea/protocol/openid-connect/certs \
    --audience chatqna --require-claim groups=opea-users

  # Ask oauth2-proxy, an extension provider of the mesh config, instead
  kubectl opea secure -n chatqna --host chatqna.example.com --auth ext-authz --auth-provider oauth2-proxy

  # Remove the authentication again, keeping the rest
  kubectl opea secure -n chatqna --host chatqna.example.com --auth=none

  # The Roles and ClusterRole to ask a cluster admin for
  kubectl opea secure --print-rbac -n chatqna --gateway-api --lockdown`

// SecureOptions holds the flags and state of `kubectl opea secure`. The
// flags that say what to do are bound to the embedded secure.Request, which
// Complete finishes and Run hands to the planner.
type SecureOptions struct {
	secure.Request

	// GatewaySelectorFlag is --gateway-selector, which Complete parses
	// into Request.GatewaySelector.
	GatewaySelectorFlag string
	// LockdownFlag is --lockdown, which Complete turns into
	// Request.Lockdown: not given at all, a lockdown in place stays.
	LockdownFlag bool
	// --auth and its settings are bound to Request.AuthSettings; Complete
	// sets Request.AuthGiven.
	DryRun         DryRunStrategy
	PrintFlags     *genericclioptions.PrintFlags
	ForceConflicts bool
	Wait           bool
	Timeout        time.Duration
	// PrintRBAC prints the Roles and ClusterRole secure needs, and does
	// nothing else.
	PrintRBAC bool
	// Diff prints what would change, as kubectl diff does, and writes
	// nothing.
	Diff bool

	// Set by Complete: what is wrong with --host and --gateway-selector,
	// for Validate to report with the rest.
	hostsErr    error
	selectorErr error

	clients clients.Getter
	genericiooptions.IOStreams
}

// NewSecureOptions returns secure's options with the flags' defaults.
func NewSecureOptions(getter clients.Getter, streams genericiooptions.IOStreams) *SecureOptions {
	return &SecureOptions{
		Request: secure.Request{
			Enroll: true, HTTPRedirect: true, IssuerKind: "Issuer", FieldManager: ownership.ManagedByValue,
		},
		IOStreams: streams, clients: getter, PrintFlags: genericclioptions.NewPrintFlags(""), Timeout: 5 * time.Minute,
	}
}

// NewCmdSecure returns the `secure` command.
func NewCmdSecure(getter clients.Getter, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewSecureOptions(getter, streams)
	cmd := &cobra.Command{
		Use:     "secure",
		Short:   "Put an OPEA application behind an Istio TLS gateway with STRICT mTLS",
		Long:    secureLong,
		Example: secureExample,
		Args:    appArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Complete(cmd); err != nil {
				return err
			}
			if o.PrintRBAC {
				return o.printRBAC(cmd)
			}
			if err := o.Validate(); err != nil {
				return usageError(cmd, err)
			}
			err := o.Run(contextOf(cmd))
			if o.Diff {
				return diffExit(err)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Service, "service", "", "Entry Service of the application (default: the one Service named <release>-nginx)")
	f.Int32Var(&o.Port, "port", 0, "Port of the entry Service (default: its only port, or the one named nginx or http)")
	f.StringVar(&o.GatewayNamespace, "gateway-namespace", "", "Namespace of the Istio ingress gateway pods (default: found by their labels)")
	f.StringVar(&o.GatewaySelectorFlag, "gateway-selector", "", "Labels of the ingress gateway pods, e.g. istio=ingress (default: found)")
	f.BoolVar(&o.GatewayAPI, "gateway-api", false, "Use the Kubernetes Gateway API: a Gateway in the application namespace, for which Istio deploys the gateway pods there")
	f.StringVar(&o.GatewayClass, "gateway-class", "", "GatewayClass of the Gateway, with --gateway-api (default "+gatewayapi.IstioClass+")")
	f.StringVar(&o.GatewayServiceType, "gateway-service-type", "", "Type of the Service Istio deploys for the Gateway, with --gateway-api: ClusterIP, NodePort or LoadBalancer (default: Istio's, LoadBalancer)")
	f.StringArrayVar(&o.Hosts, "host", nil, "Host name clients use, in a domain you control (required); repeat for several; wildcards as *.example.com")
	f.BoolVar(&o.Enroll, "enroll", o.Enroll, "Label the namespace istio.io/dataplane-mode=ambient")
	f.BoolVar(&o.HTTPRedirect, "http-redirect", o.HTTPRedirect, "Serve port 80 with a redirect to HTTPS")
	f.StringVar(&o.Issuer, "issuer", "", "Existing cert-manager issuer for the gateway certificate, instead of a private CA")
	f.StringVar(&o.IssuerKind, "issuer-kind", o.IssuerKind, "Kind of --issuer: Issuer (in the gateway namespace, the application's with --gateway-api) or ClusterIssuer")
	f.StringVar(&o.TLSSecret, "tls-secret", "", "Existing Secret with tls.crt and tls.key (or cert and key) in the gateway namespace (the application's with --gateway-api); cert-manager is then not used")
	addDryRunFlag(cmd, &o.DryRun, `"none" applies; "server" sends every change with dryRun and stores nothing; "client" prints what would be applied and sends nothing`)
	o.PrintFlags.AddFlags(cmd)
	f.StringVar(&o.FieldManager, "field-manager", o.FieldManager, "Field manager of the server-side apply")
	f.BoolVar(&o.ForceConflicts, "force-conflicts", false, "Take over fields that another field manager owns")
	f.BoolVar(&o.Wait, "wait", false, "Wait until the certificate is issued (exit code 124 if --timeout passes first)")
	f.DurationVar(&o.Timeout, "timeout", o.Timeout, timeoutUsage)
	f.BoolVar(&o.LockdownFlag, "lockdown", false, "Deny by default: AuthorizationPolicies admitting to the application's pods only its own workloads, --allow-principal callers and the ingress gateway (not given: a lockdown in place stays; false: removes it)")
	f.StringArrayVar(&o.AllowPrincipals, "allow-principal", nil, "With --lockdown, also admit this caller, as <trust domain>/ns/<namespace>/sa/<service account>; repeat for several")
	f.StringVar(&o.AuthSettings.Mode, "auth", "", "Authentication on the ingress gateway for the hosts: jwt (a valid token of --jwt-issuer), ext-authz (ask --auth-provider), or none (remove it); not given: what an earlier --auth set up stays")
	f.StringVar(&o.AuthSettings.Issuer, "jwt-issuer", "", "With --auth jwt, the issuer of the tokens (their iss claim), an https URL, e.g. https://idp.example.com/realms/opea")
	f.StringVar(&o.AuthSettings.JWKSURI, "jwks-uri", "", "With --auth jwt, the https URL of the issuer's signing keys (JWKS), which istiod fetches")
	f.StringArrayVar(&o.AuthSettings.Audiences, "audience", nil, "With --auth jwt, an audience the token must have (its aud claim); repeat for several (any of them)")
	f.StringArrayVar(&o.AuthSettings.Claims, "require-claim", nil, "With --auth jwt, a claim the token must carry, as key=value (e.g. groups=opea-users; a list claim must contain the value); repeat for several (all of them)")
	f.StringVar(&o.AuthSettings.Provider, "auth-provider", "", "With --auth ext-authz, the name of an extensionProviders entry of Istio's mesh config (e.g. oauth2-proxy)")
	f.BoolVar(&o.Diff, "diff", false, "Print what would change, as kubectl diff does: per object, a unified diff of the live object against the server's dry run of the apply (and removals); writes nothing. Exit code 0: no differences, 1: differences, 2 or 3: an error")
	f.BoolVar(&o.PrintRBAC, "print-rbac", false, "Print the Roles and the ClusterRole that grant what secure needs with these flags, for a cluster admin to apply and bind; contacts no cluster")
	_ = cmd.RegisterFlagCompletionFunc("issuer-kind", fixedCompletions("Issuer", "ClusterIssuer"))
	_ = cmd.RegisterFlagCompletionFunc("gateway-service-type", fixedCompletions(gatewayServiceTypes...))
	return cmd
}

// Complete finishes the request from the flags: the namespace, what
// --lockdown asks (whether it was given at all), the defaults that depend
// on other flags, the hosts in their canonical form and the parsed
// --gateway-selector. What cannot be parsed is kept for Validate.
func (o *SecureOptions) Complete(cmd *cobra.Command) error {
	ns, err := namespaceOf(o.clients)
	if err != nil {
		return err
	}
	o.Namespace = ns
	o.Lockdown = lockdownChoice(cmd.Flags().Changed("lockdown"), o.LockdownFlag)
	o.AuthGiven = cmd.Flags().Changed("auth")
	if o.GatewayAPI && o.GatewayClass == "" {
		o.GatewayClass = gatewayapi.IstioClass
	}
	if len(o.Hosts) > 0 {
		o.Hosts, o.hostsErr = desired.ValidateHosts(o.Hosts)
	}
	if o.GatewaySelectorFlag != "" {
		o.GatewaySelector, o.selectorErr = parseLabelSet(o.GatewaySelectorFlag)
	}
	// A client-side dry run sends no request but reads.
	o.NoPermissionCheck = o.DryRun == DryRunClient
	return nil
}

// lockdownChoice is what --lockdown asks of the plan: given says whether
// it was given at all, on its value.
func lockdownChoice(given, on bool) secure.LockdownChoice {
	switch {
	case !given:
		return secure.LockdownAsIs
	case on:
		return secure.LockdownOn
	}
	return secure.LockdownOff
}

// printSteps prints what removing the objects secure no longer wants did
// (the lockdown with --lockdown=false, the redirect route with
// --gateway-api --http-redirect=false), as unsecure does: on stdout with
// the other lines, on stderr when stdout holds -o output.
func (o *SecureOptions) printSteps(steps []owned.Step) {
	out := o.Out
	if !humanOutput(o.PrintFlags) {
		out = o.ErrOut
	}
	for _, s := range steps {
		fmt.Fprintf(out, "%s %s%s\n", s.Ref, s.What, o.DryRun.Suffix())
	}
}

// gatewayServiceTypes are the Service types istiod makes for a Gateway's
// networking.istio.io/service-type annotation.
var gatewayServiceTypes = []string{"ClusterIP", "NodePort", "LoadBalancer"}

// Validate checks the flags on their own, before any API call, and
// reports every problem at once; it changes nothing.
func (o *SecureOptions) Validate() error {
	var errs []string
	switch {
	case o.hostsErr != nil:
		errs = append(errs, o.hostsErr.Error())
	case len(o.Hosts) == 0:
		// No default: the certificate is issued for the hosts, and only
		// the user knows a name in a domain of theirs.
		errs = append(errs, fmt.Sprintf("--host is required: the name clients use to reach the application, in a domain you control; e.g. kubectl opea secure -n %s --host %s.example.com", o.Namespace, o.Namespace))
	}
	if _, err := o.PrintFlags.ToPrinter(); err != nil {
		errs = append(errs, outputFormatError(o.PrintFlags).Error())
	}
	if o.Issuer != "" && o.TLSSecret != "" {
		errs = append(errs, "--issuer and --tls-secret exclude each other: a certificate comes from one of them")
	}
	if o.IssuerKind != "Issuer" && o.IssuerKind != "ClusterIssuer" {
		errs = append(errs, fmt.Sprintf("invalid --issuer-kind %q: use Issuer or ClusterIssuer", o.IssuerKind))
	}
	if o.Wait && o.DryRun != DryRunNone {
		errs = append(errs, "--wait waits for a certificate to be issued and cannot be used with --dry-run")
	}
	errs = append(errs, o.validateDiff()...)
	if o.Port < 0 || o.Port > 65535 {
		errs = append(errs, fmt.Sprintf("invalid --port %d", o.Port))
	}
	if o.selectorErr != nil {
		errs = append(errs, fmt.Sprintf("invalid --gateway-selector %q: %v", o.GatewaySelectorFlag, o.selectorErr))
	}
	errs = append(errs, validateNamespace(o.Namespace)...)
	errs = append(errs, validateFieldManager(o.FieldManager)...)
	if o.Timeout <= 0 {
		errs = append(errs, fmt.Sprintf("invalid --timeout %s: give a duration above zero, e.g. 5m", o.Timeout))
	}
	errs = append(errs, o.validateGatewayAPI()...)
	errs = append(errs, o.validateLockdown()...)
	errs = append(errs, o.validateAuth()...)
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "\n"))
	}
	return nil
}

// validateGatewayAPI checks the flags of the two modes: each mode's own
// flags only in that mode.
func (o *SecureOptions) validateGatewayAPI() []string {
	var errs []string
	if !o.GatewayAPI {
		const why = " needs --gateway-api: it sets the Gateway API Gateway, which only --gateway-api creates"
		if o.GatewayClass != "" {
			errs = append(errs, "--gateway-class"+why)
		}
		if o.GatewayServiceType != "" {
			errs = append(errs, "--gateway-service-type"+why)
		}
		return errs
	}
	if o.GatewayNamespace != "" || o.GatewaySelectorFlag != "" {
		errs = append(errs, "--gateway-namespace and --gateway-selector name a classic Istio ingress gateway; with --gateway-api Istio deploys a gateway in the application namespace: leave them out")
	}
	if msgs := validation.IsDNS1123Subdomain(o.GatewayClass); len(msgs) > 0 {
		errs = append(errs, fmt.Sprintf("invalid --gateway-class %q: %s", o.GatewayClass, strings.Join(msgs, "; ")))
	}
	if o.GatewayServiceType != "" && !slices.Contains(gatewayServiceTypes, o.GatewayServiceType) {
		errs = append(errs, fmt.Sprintf("invalid --gateway-service-type %q: use ClusterIP, NodePort or LoadBalancer", o.GatewayServiceType))
	}
	if len(o.Hosts) > desired.MaxGatewayAPIHosts {
		errs = append(errs, fmt.Sprintf("--gateway-api takes at most %d --host values (an HTTPRoute holds at most %d hostnames), got %d", desired.MaxGatewayAPIHosts, desired.MaxGatewayAPIHosts, len(o.Hosts)))
	}
	return errs
}

// validateLockdown checks --allow-principal: only with --lockdown, each a
// full principal.
func (o *SecureOptions) validateLockdown() []string {
	if len(o.AllowPrincipals) == 0 {
		return nil
	}
	if !o.LockdownFlag {
		return []string{"--allow-principal needs --lockdown: it admits a caller to a namespace the lockdown closes"}
	}
	var errs []string
	for _, p := range o.AllowPrincipals {
		if _, _, _, err := istio.ParsePrincipal(p); err != nil {
			errs = append(errs, "invalid --allow-principal "+err.Error())
		}
	}
	return errs
}

// validateAuth checks --auth and its settings: the settings only with the
// mode they belong to, none with --auth=none, and the hosts concrete.
func (o *SecureOptions) validateAuth() []string {
	s := o.AuthSettings
	given := s.Issuer != "" || s.JWKSURI != "" || len(s.Audiences) > 0 || len(s.Claims) > 0 || s.Provider != ""
	switch {
	case !o.AuthGiven && given:
		return []string{"--jwt-issuer, --jwks-uri, --audience, --require-claim and --auth-provider need --auth jwt or --auth ext-authz"}
	case !o.AuthGiven:
		return nil
	case s.Mode == desired.AuthNone && given:
		return []string{"--auth=none removes the authentication: leave out --jwt-issuer, --jwks-uri, --audience, --require-claim and --auth-provider"}
	case s.Mode == desired.AuthNone:
		return nil
	}
	errs := s.Validate()
	if o.hostsErr == nil {
		if err := desired.AuthHostsProblem(o.Hosts); err != nil {
			errs = append(errs, err.Error())
		}
	}
	return errs
}

// Run checks every precondition, then applies.
func (o *SecureOptions) Run(ctx context.Context) error {
	interrupt := ctx.Done()
	ctx, cancel := deadline(ctx, o.Timeout)
	defer cancel()
	plan, err := secure.NewPlan(ctx, o.clients, o.Request, o.ErrOut)
	if err != nil {
		return err
	}
	if o.Diff {
		return o.printDiff(ctx, plan)
	}
	if o.DryRun == DryRunClient {
		results := make([]apply.Result, len(plan.Objects))
		for i, obj := range plan.Objects {
			results[i] = apply.Result{Ref: apply.Ref(obj), Action: apply.Applied, Object: obj}
		}
		if err := tryPrinting(o.PrintFlags, plan.Objects); err != nil {
			return err
		}
		if err := printResults(o.Out, o.PrintFlags, results, o.DryRun); err != nil {
			return err
		}
		if plan.Unlock != nil {
			o.printSteps(plan.Unlock.Plan())
		}
		return nil
	}

	applier, err := newApplier(o.clients, o.FieldManager, o.DryRun == DryRunServer)
	if err != nil {
		return err
	}
	applier.Force = o.ForceConflicts
	applier.Stop = interrupt
	writeCtx, cancelWrites := surviveInterrupt(ctx)
	defer cancelWrites()
	var steps []owned.Step
	results, err := secure.Apply(writeCtx, applier, plan, func(s owned.Step) { steps = append(steps, s) },
		func(answers []*unstructured.Unstructured) error { return tryPrinting(o.PrintFlags, answers) })
	var partial *secure.PartialError
	if errors.As(err, &partial) {
		// Say what is in place already, and that a rerun completes it:
		// every write is an idempotent apply.
		_ = printResults(o.Out, o.PrintFlags, partial.Applied, o.DryRun)
		o.printSteps(steps)
		return rerun(err, fmt.Sprintf("%d of %d objects applied (listed above)", len(partial.Applied), partial.Total), "it applies the rest and leaves the applied ones unchanged")
	}
	if err != nil {
		return err
	}
	if err := printResults(o.Out, o.PrintFlags, results, o.DryRun); err != nil {
		return printedNot(o.ErrOut, results, err)
	}
	o.printSteps(steps)
	if o.Wait {
		kube, err := o.clients.Kubernetes()
		if err != nil {
			return err
		}
		dyn, err := o.clients.Dynamic()
		if err != nil {
			return err
		}
		left := timeLeft(ctx)
		fmt.Fprintf(o.ErrOut, "Waiting up to %s for certificate %s/%s to be issued...\n", left, plan.Params.GatewayNamespace, ownership.NamesFor(o.Namespace).Certificate)
		if err := secure.WaitForCertificate(ctx, kube, dyn, plan, left); err != nil {
			return interruptedWaiting(commandTimeout(err, o.Timeout), "every object is applied")
		}
		fmt.Fprintf(o.Out, "certificate.cert-manager.io/%s ready\n", ownership.NamesFor(o.Namespace).Certificate)
	}
	if humanOutput(o.PrintFlags) && o.DryRun == DryRunNone {
		o.printNextSteps(plan)
	}
	return nil
}
