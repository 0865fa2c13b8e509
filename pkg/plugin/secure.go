package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/opea-project/kubectl-opea/pkg/apply"
	"github.com/opea-project/kubectl-opea/pkg/clients"
	"github.com/opea-project/kubectl-opea/pkg/desired"
	"github.com/opea-project/kubectl-opea/pkg/discover"
	"github.com/opea-project/kubectl-opea/pkg/istio"
	"github.com/opea-project/kubectl-opea/pkg/problems"
)

const secureLong = `Put an OPEA application behind the Istio ingress gateway with TLS, and
enforce STRICT mutual TLS between its pods.

secure applies, with server-side apply (field manager kubectl-opea):
  - the label istio.io/dataplane-mode=ambient on the namespace (--enroll)
  - PeerAuthentication "default" with mtls.mode STRICT in the namespace
  - in the namespace of the gateway pods: a private CA made with cert-manager
    (self-signed Issuer, CA Certificate, CA Issuer) and the gateway's
    Certificate for the hosts; or only the Certificate from --issuer; or
    nothing, with --tls-secret
  - a Gateway selecting the ingress gateway pods: HTTPS on 443 with that
    certificate, HTTP on 80 redirecting to HTTPS (--http-redirect)
  - a VirtualService routing the hosts to the application's entry Service

Before writing anything it checks that the namespace, the entry Service, the
ingress gateway and the Istio and cert-manager APIs exist, that you may make
every change, and that no other tool owns what would change. Running it again
changes nothing; running it with other hosts updates the objects in place.`

const secureExample = `  # Secure ChatQnA in namespace chatqna for one host
  kubectl opea secure -n chatqna --host chatqna.example.com

  # See what would be applied, without applying it
  kubectl opea secure -n chatqna --host chatqna.example.com --dry-run=client -o yaml

  # Use an existing ACME ClusterIssuer and wait for the certificate
  kubectl opea secure -n chatqna --host chatqna.example.com \
    --issuer letsencrypt --issuer-kind ClusterIssuer --wait

  # Use a TLS Secret you already have in the gateway namespace (no cert-manager)
  kubectl opea secure -n codetrans --host codetrans.example.com --tls-secret codetrans-tls`

// Exit code of --wait when the certificate is not ready in time, as cmctl uses.
const ExitTimeout = 124

// SecureOptions holds the flags and state of `kubectl opea secure`.
type SecureOptions struct {
	Service          string
	Port             int32
	GatewayNamespace string
	GatewaySelector  string
	Hosts            []string
	Enroll           bool
	HTTPRedirect     bool
	Issuer           string
	IssuerKind       string
	TLSSecret        string
	DryRun           string
	Output           string
	FieldManager     string
	ForceConflicts   bool
	Wait             bool
	Timeout          time.Duration

	// Set by Complete.
	namespace       string
	selector        map[string]string
	usedDefaultHost bool
	clients         clients.Getter

	genericiooptions.IOStreams
}

// NewCmdSecure returns the `secure` command.
func NewCmdSecure(getter clients.Getter, streams genericiooptions.IOStreams) *cobra.Command {
	o := &SecureOptions{IOStreams: streams, clients: getter}
	cmd := &cobra.Command{
		Use:     "secure",
		Short:   "Put an OPEA application behind an Istio TLS gateway with STRICT mTLS",
		Long:    secureLong,
		Example: secureExample,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return usageError(cmd, err)
			}
			return o.Run(contextOf(cmd))
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Service, "service", "", "Entry Service of the application (default: the one Service named <release>-nginx)")
	f.Int32Var(&o.Port, "port", 0, "Port of the entry Service (default: its only port, or the one named nginx or http)")
	f.StringVar(&o.GatewayNamespace, "gateway-namespace", "", "Namespace of the Istio ingress gateway pods (default: found by their labels)")
	f.StringVar(&o.GatewaySelector, "gateway-selector", "", "Labels of the ingress gateway pods, e.g. istio=ingress (default: found)")
	f.StringArrayVar(&o.Hosts, "host", nil, "Host name clients use; repeat for several; wildcards as *.example.com (default "+desired.DefaultHost+")")
	f.BoolVar(&o.Enroll, "enroll", true, "Label the namespace istio.io/dataplane-mode=ambient")
	f.BoolVar(&o.HTTPRedirect, "http-redirect", true, "Serve port 80 with a redirect to HTTPS")
	f.StringVar(&o.Issuer, "issuer", "", "Existing cert-manager issuer for the gateway certificate, instead of a private CA")
	f.StringVar(&o.IssuerKind, "issuer-kind", "Issuer", "Kind of --issuer: Issuer (in the gateway namespace) or ClusterIssuer")
	f.StringVar(&o.TLSSecret, "tls-secret", "", "Existing Secret with tls.crt and tls.key (or cert and key) in the gateway namespace; cert-manager is then not used")
	f.StringVar(&o.DryRun, "dry-run", "none", `"none" applies; "server" sends every change with dryRun and stores nothing; "client" prints what would be applied and sends nothing`)
	f.StringVarP(&o.Output, "output", "o", "", "Print the objects instead of one line each: yaml or json")
	f.StringVar(&o.FieldManager, "field-manager", desired.ManagedByValue, "Field manager of the server-side apply")
	f.BoolVar(&o.ForceConflicts, "force-conflicts", false, "Take over fields that another field manager owns")
	f.BoolVar(&o.Wait, "wait", false, "Wait until the certificate is issued (exit code 124 when --timeout passes)")
	f.DurationVar(&o.Timeout, "timeout", 5*time.Minute, "How long --wait waits")
	_ = cmd.RegisterFlagCompletionFunc("output", fixedCompletions("yaml", "json"))
	_ = cmd.RegisterFlagCompletionFunc("dry-run", fixedCompletions("none", "client", "server"))
	_ = cmd.RegisterFlagCompletionFunc("issuer-kind", fixedCompletions("Issuer", "ClusterIssuer"))
	return cmd
}

// Complete resolves the namespace and the defaults that depend on flags.
func (o *SecureOptions) Complete() error {
	ns, err := namespaceOf(o.clients)
	if err != nil {
		return err
	}
	o.namespace = ns
	if len(o.Hosts) == 0 {
		o.Hosts = []string{desired.DefaultHost}
		o.usedDefaultHost = true
	}
	return nil
}

// Validate checks the flags on their own, before any API call.
func (o *SecureOptions) Validate() error {
	var errs []string
	hosts, err := desired.ValidateHosts(o.Hosts)
	if err != nil {
		errs = append(errs, err.Error())
	}
	o.Hosts = hosts
	switch o.DryRun {
	case "none", "client", "server":
	default:
		errs = append(errs, fmt.Sprintf(`invalid --dry-run %q: use "none", "client" or "server"`, o.DryRun))
	}
	switch o.Output {
	case "", "yaml", "json":
	default:
		errs = append(errs, fmt.Sprintf("unsupported output format %q: use yaml or json", o.Output))
	}
	if o.Issuer != "" && o.TLSSecret != "" {
		errs = append(errs, "--issuer and --tls-secret exclude each other: a certificate comes from one of them")
	}
	if o.IssuerKind != "Issuer" && o.IssuerKind != "ClusterIssuer" {
		errs = append(errs, fmt.Sprintf("invalid --issuer-kind %q: use Issuer or ClusterIssuer", o.IssuerKind))
	}
	if o.Wait && o.DryRun != "none" {
		errs = append(errs, "--wait waits for a certificate to be issued and cannot be used with --dry-run")
	}
	if o.Port < 0 || o.Port > 65535 {
		errs = append(errs, fmt.Sprintf("invalid --port %d", o.Port))
	}
	if o.GatewaySelector != "" {
		set, err := parseLabelSet(o.GatewaySelector)
		if err != nil {
			errs = append(errs, fmt.Sprintf("invalid --gateway-selector %q: %v", o.GatewaySelector, err))
		}
		o.selector = set
	}
	if o.FieldManager == "" {
		errs = append(errs, "--field-manager must not be empty")
	}
	if o.Timeout <= 0 {
		errs = append(errs, fmt.Sprintf("invalid --timeout %s: give a duration above zero, e.g. 5m", o.Timeout))
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "\n"))
	}
	return nil
}

// plan is everything secure found out before writing.
type plan struct {
	params  desired.Params
	gateway discover.Gateway
	objects []*unstructured.Unstructured
}

// Run checks every precondition, then applies.
func (o *SecureOptions) Run(ctx context.Context) error {
	if o.usedDefaultHost {
		fmt.Fprintf(o.ErrOut, "No --host given: using %s, as OPEA's Istio guide does. Pass --host with your own name.\n", desired.DefaultHost)
	}
	p, err := o.plan(ctx)
	if err != nil {
		return err
	}
	if o.DryRun == "client" {
		return o.print(p.objects, nil)
	}

	applier, err := newApplier(o.clients, o.FieldManager, o.DryRun == "server")
	if err != nil {
		return err
	}
	applier.Force = o.ForceConflicts
	checked, err := applier.Check(ctx, p.objects)
	if err != nil {
		return err
	}
	desired.MarkAdopted(p.objects, checked)
	if err := desired.RecordTakeovers(p.objects, checked); err != nil {
		return err
	}
	results, err := applier.Apply(ctx, p.objects, checked)
	if err != nil {
		// Say what is in place already, and that a rerun completes it:
		// every write is an idempotent apply.
		if len(results) > 0 {
			_ = o.print(nil, results)
		}
		return problems.New(
			fmt.Sprintf("%v (%d of %d objects applied)", err, len(results), len(p.objects)),
			"fix the cause, then run the same command again: it applies the rest and leaves the applied ones unchanged")
	}
	if err := o.print(nil, results); err != nil {
		return err
	}
	if o.Wait {
		kube, err := o.clients.Kubernetes()
		if err != nil {
			return err
		}
		if err := o.waitForCertificate(ctx, kube, p); err != nil {
			return err
		}
	}
	if o.Output == "" && o.DryRun == "none" {
		o.printNextSteps(p)
	}
	return nil
}

// plan reads the cluster and builds the desired objects. Every problem it
// can find is reported at once.
func (o *SecureOptions) plan(ctx context.Context) (*plan, error) {
	kube, err := o.clients.Kubernetes()
	if err != nil {
		return nil, err
	}
	disco, err := o.clients.ToDiscoveryClient()
	if err != nil {
		return nil, err
	}
	if _, err := disco.ServerVersion(); err != nil {
		host := "the cluster"
		if cfg, cfgErr := o.clients.ToRESTConfig(); cfgErr == nil {
			host = cfg.Host
		}
		return nil, problems.New(
			fmt.Sprintf("cannot reach %s: %v", host, err),
			"check --kubeconfig and --context, then 'kubectl cluster-info'")
	}

	var found problems.List
	note := func(err error) bool {
		if err == nil {
			return false
		}
		var p *problems.Problem
		if errors.As(err, &p) {
			found = append(found, p)
			return true
		}
		found = append(found, problems.New(err.Error(), ""))
		return true
	}

	params := desired.Params{
		AppNamespace: o.namespace,
		Hosts:        o.Hosts,
		HTTPRedirect: o.HTTPRedirect,
		Enroll:       o.Enroll,
	}
	nsOK := !note(o.checkNamespace(ctx, kube))
	if nsOK {
		entry, err := discover.EntryService(ctx, kube, o.namespace, o.Service, o.Port)
		if !note(err) {
			params.Service, params.ServicePort = entry.Service, entry.Port
		}
	}
	gw, err := discover.IngressGateway(ctx, kube, o.GatewayNamespace, o.selector)
	gwOK := !note(err)
	if gwOK {
		params.GatewayNamespace, params.GatewaySelector = gw.Namespace, gw.Selector
		// Server port numbers that istiod resolves to those pod ports.
		params.HTTPSPort, params.HTTPPort = gw.ServerPort(gw.HTTPSPort), gw.ServerPort(gw.HTTPPort)
		if o.HTTPRedirect && gw.HTTPPort == 0 {
			fmt.Fprintf(o.ErrOut, "The gateway Service %s/%s has no port 80: no HTTP redirect is configured.\n", gw.Namespace, gw.Service)
			params.HTTPRedirect = false
		}
	}

	// The disk cache may predate a fresh Istio or cert-manager install.
	disco.Invalidate()
	apis, err := discover.ServedAPIs(disco)
	if !note(err) {
		params.NetworkingVersion, params.SecurityVersion = apis.Networking, apis.Security
		if apis.Networking == "" || apis.Security == "" {
			note(problems.New(
				"the Istio APIs networking.istio.io and security.istio.io are not served (Istio's CRDs are not installed)",
				"install Istio in ambient mode: istioctl install --set profile=ambient (or the istio/base Helm chart)"))
		}
		if o.TLSSecret == "" && apis.CertManager == "" {
			note(problems.New(
				"the cert-manager API cert-manager.io/v1 is not served (cert-manager is not installed)",
				"install cert-manager (helm install cert-manager jetstack/cert-manager --set crds.enabled=true), or pass --tls-secret with an existing Secret"))
		}
	}

	if nsOK && apis.Security != "" {
		for _, err := range o.checkPeerAuthentications(ctx, apis.Security) {
			note(err)
		}
	}

	switch {
	case o.TLSSecret != "":
		params.Certificates, params.TLSSecret = desired.ExistingSecret, o.TLSSecret
		if gwOK {
			note(o.checkTLSSecret(ctx, kube, gw.Namespace))
		}
	case o.Issuer != "":
		params.Certificates, params.IssuerName, params.IssuerKind = desired.ExistingIssuer, o.Issuer, o.IssuerKind
		if gwOK && apis.CertManager != "" {
			for _, err := range o.checkIssuer(ctx, gw.Namespace) {
				note(err)
			}
		}
	default:
		params.Certificates = desired.OwnCA
	}
	if gwOK && o.TLSSecret == "" && apis.CertManager != "" {
		for _, err := range o.checkSecretsInTheWay(ctx, kube, gw.Namespace, apis.CertManager, params.Certificates) {
			note(err)
		}
	}
	if len(found) > 0 {
		return nil, found
	}
	objs, err := desired.Objects(params)
	if err != nil {
		return nil, err
	}
	if problems := o.checkGatewayHosts(ctx, gw, params.NetworkingVersion, objs); len(problems) > 0 {
		return nil, problems
	}
	return &plan{params: params, gateway: gw, objects: objs}, nil
}

// checkGatewayHosts refuses when istiod would drop a server of secure's
// Gateway: another Gateway on the same gateway pods, older, already claims
// one of its hosts on the same port (as with two applications secured with
// the default host).
func (o *SecureOptions) checkGatewayHosts(ctx context.Context, gw discover.Gateway, version string, objs []*unstructured.Unstructured) problems.List {
	var ours istio.Gateway
	found := false
	for _, obj := range objs {
		if obj.GetKind() == "Gateway" {
			g, err := istio.DecodeGateway(obj)
			if err != nil {
				return problems.List{problems.New(err.Error(), "")}
			}
			ours, found = g, true
		}
	}
	if !found {
		return nil
	}
	dyn, err := o.clients.Dynamic()
	if err != nil {
		return problems.List{problems.New(err.Error(), "")}
	}
	gvr := schema.GroupVersionResource{Group: "networking.istio.io", Version: version, Resource: "gateways"}
	list, err := dyn.Resource(gvr).List(ctx, metav1.ListOptions{})
	if apierrors.IsForbidden(err) {
		fmt.Fprintf(o.ErrOut, "Could not check for other Gateways serving the same hosts on the gateway pods (you may not list Gateways in every namespace): run kubectl opea verify afterwards.\n")
		return nil
	}
	if err != nil {
		return problems.List{problems.New(fmt.Sprintf("listing Gateways: %v", err), "")}
	}
	// Ours is created now, unless it exists: then its age counts.
	ours.CreationTimestamp = time.Now()
	onPods := []istio.Gateway{}
	for i := range list.Items {
		other, err := istio.DecodeGateway(&list.Items[i])
		if err != nil {
			continue // istiod rejects it as well
		}
		if other.Namespace == ours.Namespace && other.Name == ours.Name {
			ours.CreationTimestamp = other.CreationTimestamp
			continue
		}
		if istio.SelectsPod(other, gw.PodLabels) {
			onPods = append(onPods, other)
		}
	}
	var out problems.List
	seen := map[string]bool{}
	for _, d := range istio.DroppedServers(append(onPods, ours), gw.Listener) {
		keeper := d.Keeper.Namespace + "/" + d.Keeper.Name
		if d.Gateway.Namespace != ours.Namespace || d.Gateway.Name != ours.Name || seen[keeper] {
			continue
		}
		seen[keeper] = true
		out = append(out, problems.New(
			fmt.Sprintf("Gateway %s already serves host %s on port %d of the same gateway pods: istiod would keep it and drop this application's server", keeper, d.Host, d.Server.Port.Number),
			fmt.Sprintf("pass another --host for namespace %s (e.g. --host %s), or remove that host from Gateway %s", o.namespace, suggestHost(d.Host, o.namespace), keeper)))
	}
	return out
}

func (o *SecureOptions) checkNamespace(ctx context.Context, kube kubernetes.Interface) error {
	ns, err := kube.CoreV1().Namespaces().Get(ctx, o.namespace, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return problems.New(
			fmt.Sprintf("namespace %q does not exist", o.namespace),
			"install the application first, or name its namespace with -n")
	}
	if err != nil {
		return err
	}
	if !o.Enroll {
		return nil
	}
	for _, key := range []string{"istio-injection", "istio.io/rev"} {
		if v, ok := ns.Labels[key]; ok && (key != "istio-injection" || v == "enabled") {
			return problems.New(
				fmt.Sprintf("namespace %s uses Istio sidecar injection (%s=%s); ambient enrolment must not be mixed with it", o.namespace, key, v),
				fmt.Sprintf("remove it (kubectl label namespace %s %s-) and restart the pods, or keep sidecars with --enroll=false", o.namespace, key))
		}
	}
	return nil
}

// checkPeerAuthentications refuses when istiod would not make the namespace
// STRICT with secure's PeerAuthentication "default": an older namespace-wide
// policy wins over it, and workload policies override it for their pods.
func (o *SecureOptions) checkPeerAuthentications(ctx context.Context, version string) []error {
	dyn, err := o.clients.Dynamic()
	if err != nil {
		return []error{err}
	}
	gvr := schema.GroupVersionResource{Group: "security.istio.io", Version: version, Resource: "peerauthentications"}
	list, err := dyn.Resource(gvr).Namespace(o.namespace).List(ctx, metav1.ListOptions{})
	if apierrors.IsForbidden(err) {
		// Not a precondition: report it, without the error's text, which
		// would read as a missing permission secure needs.
		fmt.Fprintf(o.ErrOut, "Could not check for PeerAuthentications overriding STRICT in namespace %s (you may not list them): run kubectl opea verify afterwards.\n", o.namespace)
		return nil
	}
	if err != nil {
		return []error{err}
	}
	var pas []istio.PeerAuthentication
	// Ours is created now, unless it exists: then its age counts.
	ours := istio.PeerAuthentication{Namespace: o.namespace, Name: "default", CreationTimestamp: time.Now()}
	for i := range list.Items {
		pa, err := istio.DecodePeerAuthentication(&list.Items[i])
		if err != nil {
			return []error{fmt.Errorf("reading PeerAuthentication %s/%s: %w", o.namespace, list.Items[i].GetName(), err)}
		}
		if pa.Name == ours.Name {
			ours.CreationTimestamp = pa.CreationTimestamp
		}
		pas = append(pas, pa)
	}
	var errs []error
	for _, ob := range istio.StrictObstacles(pas, ours) {
		errs = append(errs, problems.New(
			fmt.Sprintf("PeerAuthentication %s/%s %s", ob.Policy.Namespace, ob.Policy.Name, ob.Reason),
			fmt.Sprintf("delete it (kubectl delete peerauthentication %s -n %s) or make it STRICT (mtls.mode and every portLevelMtls entry), then run secure again", ob.Policy.Name, ob.Policy.Namespace)))
	}
	return errs
}

// suggestHost proposes a host of the application's own in the domain of a
// taken one: chatqna.example.com for *.example.com or ui.example.com.
func suggestHost(taken, namespace string) string {
	taken = taken[strings.IndexByte(taken, '/')+1:]
	if _, domain, ok := strings.Cut(taken, "."); ok && strings.Contains(domain, ".") {
		return namespace + "." + domain
	}
	return namespace + ".example.com"
}

// checkSecretsInTheWay refuses when a Secret with the name of a Secret
// cert-manager will write for secure exists and is not secure's: the
// issuance would overwrite it, and unsecure would delete it. A Secret is
// secure's when it carries secure's labels, or when cert-manager wrote it
// for the Certificate of the same name that secure applies (adopted or its
// own).
func (o *SecureOptions) checkSecretsInTheWay(ctx context.Context, kube kubernetes.Interface, gatewayNamespace, certManagerVersion string, source desired.CertificateSource) []error {
	names := desired.NamesFor(o.namespace)
	wanted := []struct{ secret, certificate string }{{names.TLSSecret, names.Certificate}}
	if source == desired.OwnCA {
		wanted = append(wanted, struct{ secret, certificate string }{names.CASecret, names.CACertificate})
	}
	dyn, err := o.clients.Dynamic()
	if err != nil {
		return []error{err}
	}
	certGVR := schema.GroupVersionResource{Group: "cert-manager.io", Version: certManagerVersion, Resource: "certificates"}
	var errs []error
	for _, w := range wanted {
		s, err := kube.CoreV1().Secrets(gatewayNamespace).Get(ctx, w.secret, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if apierrors.IsForbidden(err) {
			fmt.Fprintf(o.ErrOut, "Could not check that no Secret of yours is named %s in namespace %s (you may not read Secrets there): cert-manager would overwrite it.\n", w.secret, gatewayNamespace)
			continue
		}
		if err != nil {
			return []error{fmt.Errorf("reading Secret %s/%s: %w", gatewayNamespace, w.secret, err)}
		}
		l := s.Labels
		if l[desired.ManagedByLabel] == desired.ManagedByValue && l[desired.AppNamespaceLabel] == o.namespace {
			continue
		}
		if s.Annotations["cert-manager.io/certificate-name"] == w.certificate {
			_, err := dyn.Resource(certGVR).Namespace(gatewayNamespace).Get(ctx, w.certificate, metav1.GetOptions{})
			if err == nil {
				continue // the Secret of the Certificate secure applies
			}
			if !apierrors.IsNotFound(err) && !apierrors.IsForbidden(err) {
				return []error{fmt.Errorf("reading Certificate %s/%s: %w", gatewayNamespace, w.certificate, err)}
			}
		}
		fix := fmt.Sprintf("move it out of the way (kubectl delete secret %s -n %s, if nothing needs it)", w.secret, gatewayNamespace)
		if w.secret == names.TLSSecret {
			fix = fmt.Sprintf("to serve it as it is, pass --tls-secret %s; otherwise %s", w.secret, fix)
		}
		errs = append(errs, problems.New(
			fmt.Sprintf("Secret %s/%s exists and was not written for kubectl opea secure: cert-manager would overwrite it, and unsecure would delete it", gatewayNamespace, w.secret),
			fix))
	}
	return errs
}

func (o *SecureOptions) checkTLSSecret(ctx context.Context, kube kubernetes.Interface, gatewayNamespace string) error {
	s, err := kube.CoreV1().Secrets(gatewayNamespace).Get(ctx, o.TLSSecret, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return problems.New(
			fmt.Sprintf("Secret %s/%s does not exist (Istio reads gateway credentials only from the gateway pods' namespace)", gatewayNamespace, o.TLSSecret),
			fmt.Sprintf("kubectl create secret tls %s -n %s --cert=tls.crt --key=tls.key", o.TLSSecret, gatewayNamespace))
	}
	if err != nil {
		return err
	}
	// istiod ignores the type: it reads cert/key, else tls.crt/tls.key.
	if _, _, _, err := istio.CredentialPair(s.Data); err != nil {
		return problems.New(
			fmt.Sprintf("Secret %s/%s holds no certificate and key Istio can read: %v", gatewayNamespace, o.TLSSecret, err),
			fmt.Sprintf("recreate it with kubectl create secret tls %s -n %s --cert=tls.crt --key=tls.key", o.TLSSecret, gatewayNamespace))
	}
	return nil
}

var issuerGVRs = map[string]schema.GroupVersionResource{
	"Issuer":        {Group: "cert-manager.io", Version: "v1", Resource: "issuers"},
	"ClusterIssuer": {Group: "cert-manager.io", Version: "v1", Resource: "clusterissuers"},
}

func (o *SecureOptions) checkIssuer(ctx context.Context, gatewayNamespace string) []error {
	dyn, err := o.clients.Dynamic()
	if err != nil {
		return []error{err}
	}
	gvr := issuerGVRs[o.IssuerKind]
	var issuer *unstructured.Unstructured
	var getErr error
	where := o.Issuer
	if o.IssuerKind == "Issuer" {
		issuer, getErr = dyn.Resource(gvr).Namespace(gatewayNamespace).Get(ctx, o.Issuer, metav1.GetOptions{})
		where = gatewayNamespace + "/" + o.Issuer
	} else {
		issuer, getErr = dyn.Resource(gvr).Get(ctx, o.Issuer, metav1.GetOptions{})
	}
	if apierrors.IsNotFound(getErr) {
		return []error{problems.New(
			fmt.Sprintf("%s %s does not exist", o.IssuerKind, where),
			"create it first, or check --issuer and --issuer-kind (an Issuer must be in the gateway namespace)")}
	}
	if getErr != nil {
		return []error{getErr}
	}
	return o.checkACME(issuer, o.IssuerKind+" "+where)
}

// checkACME refuses what an ACME issuer solving HTTP-01 challenges only
// cannot do: issue a wildcard host, or pass a challenge on port 80 while the
// Gateway redirects port 80 to HTTPS (istio/istio#33593).
func (o *SecureOptions) checkACME(issuer *unstructured.Unstructured, name string) []error {
	if _, isACME, _ := unstructured.NestedMap(issuer.Object, "spec", "acme"); !isACME {
		return nil
	}
	solvers, _, _ := unstructured.NestedSlice(issuer.Object, "spec", "acme", "solvers")
	http01, dns01 := false, false
	for _, s := range solvers {
		solver, _ := s.(map[string]interface{})
		_, h := solver["http01"]
		_, d := solver["dns01"]
		http01, dns01 = http01 || h, dns01 || d
	}
	if !http01 {
		return nil
	}
	if dns01 {
		if o.HTTPRedirect {
			fmt.Fprintf(o.ErrOut, "%s also solves HTTP-01 challenges: where it uses them, the port-80 redirect breaks them (istio/istio#33593); pass --http-redirect=false if so.\n", name)
		}
		return nil
	}
	var errs []error
	for _, h := range o.Hosts {
		if strings.HasPrefix(h, "*") {
			errs = append(errs, problems.New(
				fmt.Sprintf("%s solves only HTTP-01 challenges, which cannot issue the wildcard host %s", name, h),
				"pass a concrete --host (e.g. --host "+desired.ExampleHost(h, o.namespace)+"), or use an issuer with a DNS-01 solver"))
		}
	}
	if o.HTTPRedirect {
		errs = append(errs, problems.New(
			fmt.Sprintf("%s solves HTTP-01 challenges on port 80, which the Gateway's redirect to HTTPS breaks (istio/istio#33593)", name),
			"pass --http-redirect=false, or use an issuer with a DNS-01 solver"))
	}
	return errs
}

func (o *SecureOptions) print(planned []*unstructured.Unstructured, results []apply.Result) error {
	objs := planned
	for _, r := range results {
		// As kubectl does by default, leave out managedFields: bookkeeping
		// that makes the objects hard to read.
		obj := r.Object.DeepCopy()
		obj.SetManagedFields(nil)
		objs = append(objs, obj)
	}
	switch o.Output {
	case "yaml":
		for i, obj := range objs {
			data, err := yaml.Marshal(obj.Object)
			if err != nil {
				return err
			}
			if i > 0 {
				fmt.Fprintln(o.Out, "---")
			}
			o.Out.Write(data)
		}
		return nil
	case "json":
		list := &unstructured.UnstructuredList{Object: map[string]interface{}{"apiVersion": "v1", "kind": "List"}}
		for _, obj := range objs {
			list.Items = append(list.Items, *obj)
		}
		data, err := json.MarshalIndent(list.UnstructuredContent(), "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(o.Out, "%s\n", data)
		return err
	}
	for _, obj := range planned {
		fmt.Fprintf(o.Out, "%s %s\n", apply.Ref(obj), apply.Planned)
	}
	suffix := ""
	if o.DryRun == "server" {
		suffix = " (server dry run)"
	}
	for _, r := range results {
		fmt.Fprintf(o.Out, "%s %s%s\n", r.Ref, r.Action, suffix)
	}
	return nil
}
