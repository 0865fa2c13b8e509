// Package secure plans what `kubectl opea secure` applies: it reads the
// facts of the cluster once, checks every precondition on them (a table,
// preconditions; all problems reported at once), and builds the desired
// objects; then applies them, recording what it adopts
// and takes over, and waits for the certificate. It prints nothing but
// notices; the command prints the results.
package secure

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"

	"github.com/opea-project/kubectl-opea/pkg/certmanager"
	"github.com/opea-project/kubectl-opea/pkg/clients"
	"github.com/opea-project/kubectl-opea/pkg/desired"
	"github.com/opea-project/kubectl-opea/pkg/discover"
	"github.com/opea-project/kubectl-opea/pkg/gatewayapi"
	"github.com/opea-project/kubectl-opea/pkg/istio"
	"github.com/opea-project/kubectl-opea/pkg/owned"
	"github.com/opea-project/kubectl-opea/pkg/ownership"
	"github.com/opea-project/kubectl-opea/pkg/problems"
)

// Request is what the user asked secure to do.
type Request struct {
	// Namespace is the application's namespace.
	Namespace string
	// Service and Port name the entry Service; empty and 0: found.
	Service string
	Port    int32
	// GatewayNamespace and GatewaySelector name the ingress gateway pods;
	// empty: found by their labels.
	GatewayNamespace string
	GatewaySelector  map[string]string
	// GatewayAPI asks for a Kubernetes Gateway API Gateway of GatewayClass
	// in the application namespace instead, for which Istio deploys the
	// gateway pods there (GatewayNamespace and GatewaySelector unused), with
	// a Service of GatewayServiceType (empty: Istio's default).
	GatewayAPI         bool
	GatewayClass       string
	GatewayServiceType string
	Hosts              []string
	Enroll             bool
	HTTPRedirect       bool
	// Issuer and IssuerKind name an existing cert-manager issuer; TLSSecret
	// an existing Secret. Both empty: a private CA made with cert-manager.
	Issuer     string
	IssuerKind string
	TLSSecret  string
	// Lockdown says what becomes of the deny-by-default AuthorizationPolicies;
	// AllowPrincipals are the callers admitted besides the application's own
	// workloads, with LockdownOn.
	Lockdown        LockdownChoice
	AllowPrincipals []string
	// AuthGiven says --auth was given, with AuthSettings (mode none
	// removes what an earlier --auth made); not given, what an earlier
	// secure --auth made stays, from the settings it recorded.
	AuthGiven    bool
	AuthSettings desired.AuthSettings
	// FieldManager is the one secure applies with: with LockdownOff it
	// releases adopted policies. Empty: kubectl-opea.
	FieldManager string
	// NoPermissionCheck leaves out the check, before any read, that the
	// user has every permission secure needs: for a client-side dry run,
	// which sends no request but reads.
	NoPermissionCheck bool
}

// LockdownChoice is what --lockdown asks for.
type LockdownChoice int

const (
	// LockdownAsIs (--lockdown not given) keeps a lockdown an earlier
	// secure --lockdown made, rendered anew, and makes none otherwise.
	LockdownAsIs LockdownChoice = iota
	// LockdownOn (--lockdown) makes or updates the lockdown.
	LockdownOn
	// LockdownOff (--lockdown=false) removes secure's lockdown.
	LockdownOff
)

// Plan is everything secure found out before writing.
type Plan struct {
	// Params say what secure applies; Params.GatewayNamespace is where the
	// certificate goes in either mode.
	Params desired.Params
	// Gateway is the classic ingress gateway found; zero with the Gateway
	// API, where Istio deploys one for the application.
	Gateway discover.Gateway
	// Objects are the desired objects, in the order they are applied.
	Objects []*unstructured.Unstructured
	// Unlock holds what secure made earlier and this run no longer wants,
	// removed after applying Objects (adopted ones are kept, secure's
	// fields released): the lockdown's policies with --lockdown=false, the
	// redirect HTTPRoute with --gateway-api --http-redirect=false; nil when
	// there is none.
	Unlock *owned.Found
}

// NewPlan reads the cluster through c, checks every precondition of req,
// and returns the objects to apply. Notes that do not stop it (a check it
// may not make, a default it chose) go to notices.
func NewPlan(ctx context.Context, c clients.Getter, req Request, notices io.Writer) (*Plan, error) {
	p := &planner{Request: req, clients: c, notices: notices}
	return p.plan(ctx)
}

// planner carries the request and the clients through the checks, and
// what they find for the plan.
type planner struct {
	Request
	clients clients.Getter
	kube    clients.Kube
	notices io.Writer
	// namespaceMissing: the application namespace does not exist.
	namespaceMissing bool
	planned          planned
}

// plan reads the facts of the cluster once, checks every precondition on
// them, reporting every problem at once, and builds the desired objects.
func (p *planner) plan(ctx context.Context) (*Plan, error) {
	disco, err := p.connect(ctx)
	if err != nil {
		return nil, err
	}
	f, found, err := p.gather(ctx, disco)
	if err != nil {
		return nil, err
	}
	if found = p.runPreconditions(ctx, f, preconditions, found); len(found) > 0 {
		return nil, found
	}
	params := p.params(f)
	objs, err := desired.Objects(params)
	if err != nil {
		return nil, err
	}
	// The one precondition on the objects themselves, checked once they
	// are built. A Gateway API Gateway has gateway pods of its own: no
	// other Gateway can take its hosts.
	if !p.GatewayAPI {
		if clashes := p.checkGatewayHosts(ctx, *f.gateway, params.NetworkingVersion, objs); len(clashes) > 0 {
			return nil, clashes
		}
	}
	return &Plan{Params: params, Gateway: *f.gateway, Objects: objs, Unlock: p.planned.unlock}, nil
}

// connect makes the clients, checks that the cluster answers and, unless
// the request leaves it out, that the user holds every permission secure
// needs.
func (p *planner) connect(ctx context.Context) (discovery.CachedDiscoveryInterface, error) {
	kube, err := p.clients.Kubernetes()
	if err != nil {
		return nil, err
	}
	p.kube = kube
	disco, err := p.clients.ToDiscoveryClient()
	if err != nil {
		return nil, err
	}
	if _, err := disco.ServerVersion(); err != nil {
		return nil, clients.Unreachable(clients.Host(p.clients), err)
	}
	if !p.NoPermissionCheck {
		if err := p.checkPermissions(ctx, kube); err != nil {
			return nil, err
		}
	}
	return disco, nil
}

// params say what secure applies, from the request, the facts and what the
// preconditions planned; every fact is known once they all held.
func (p *planner) params(f *facts) desired.Params {
	params := desired.Params{
		AppNamespace:      p.Namespace,
		Hosts:             p.Hosts,
		HTTPRedirect:      p.HTTPRedirect,
		Enroll:            p.Enroll,
		Service:           f.entry.Service,
		ServicePort:       f.entry.Port,
		GatewayNamespace:  *f.certNamespace,
		NetworkingVersion: f.apis.Networking,
		SecurityVersion:   f.apis.Security,
		Certificates:      p.certificateSource(),
		Lockdown:          p.planned.lockdown,
		Auth:              authParams(p.planned.auth, *f.apis, *f.certNamespace, f.gateway.Selector),
	}
	if p.GatewayAPI {
		params.GatewayAPIVersion = f.apis.GatewayAPI
		params.GatewayClass, params.GatewayServiceType = p.GatewayClass, p.GatewayServiceType
	} else {
		gw := f.gateway
		params.GatewaySelector = gw.Selector
		// Server port numbers that istiod resolves to those pod ports.
		params.HTTPSPort, params.HTTPPort = gw.ServerPort(gw.HTTPSPort), gw.ServerPort(gw.HTTPPort)
		// Without port 80 there is nothing to redirect (a notice said so).
		params.HTTPRedirect = p.HTTPRedirect && gw.HTTPPort != 0
	}
	switch params.Certificates {
	case desired.ExistingSecret:
		params.TLSSecret = p.TLSSecret
	case desired.ExistingIssuer:
		params.IssuerName, params.IssuerKind = p.Issuer, p.IssuerKind
	}
	return params
}

// checkGatewayHosts refuses when istiod would drop a server of secure's
// Gateway: another Gateway on the same gateway pods, older, already claims
// one of its hosts on the same port (as with two applications secured with
// the same wildcard host).
func (p *planner) checkGatewayHosts(ctx context.Context, gw discover.Gateway, version string, objs []*unstructured.Unstructured) problems.List {
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
	dyn, err := p.clients.Dynamic()
	if err != nil {
		return problems.List{problems.New(err.Error(), "")}
	}
	gvr := istio.Gateways(version)
	// A Gateway of any namespace may select the gateway pods.
	list, err := dyn.Resource(gvr).List(ctx, metav1.ListOptions{})
	if err != nil {
		return problems.List{couldNotCheck("that no other Gateway serves the same hosts on the gateway pods",
			fmt.Sprintf("list %s in every namespace", gvr.GroupResource()), err)}
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
			fmt.Sprintf("pass another --host for namespace %s (e.g. --host %s), or remove that host from Gateway %s", p.Namespace, suggestHost(d.Host, p.Namespace), keeper)))
	}
	return out
}

// GatewayAPIRelease is the Gateway API release the install hint names: the
// one kubectl-opea is tested with.
const GatewayAPIRelease = "v1.6.3"

// checkGatewayAPI refuses when the Gateway API is not served (version
// empty), or when the GatewayClass does not exist or no controller has
// accepted it: Istio would deploy no gateway for the Gateway.
func (p *planner) checkGatewayAPI(ctx context.Context, version string) error {
	if version == "" {
		return problems.New(
			"the Kubernetes Gateway API gateway.networking.k8s.io (GatewayClass, Gateway and HTTPRoute, v1 or v1beta1) is not served: its CRDs are not installed",
			fmt.Sprintf("kubectl apply --server-side -f https://github.com/kubernetes-sigs/gateway-api/releases/download/%s/standard-install.yaml, or leave out --gateway-api to use an Istio ingress gateway", GatewayAPIRelease))
	}
	dyn, err := p.clients.Dynamic()
	if err != nil {
		return err
	}
	u, err := dyn.Resource(gatewayapi.GatewayClasses(version)).Get(ctx, p.GatewayClass, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err) && p.GatewayClass == gatewayapi.IstioClass:
		return problems.New(
			`GatewayClass "istio" does not exist: istiod creates it when it handles the Gateway API`,
			"check that istiod runs (kubectl get pods -n istio-system -l app=istiod) and that its PILOT_ENABLE_GATEWAY_API is not false; if it started before the Gateway API CRDs were installed, restart it (kubectl rollout restart deployment/istiod -n istio-system)")
	case apierrors.IsNotFound(err):
		return problems.New(
			fmt.Sprintf("GatewayClass %q does not exist", p.GatewayClass),
			"list the classes with 'kubectl get gatewayclasses' and pass one with --gateway-class (istio is Istio's own)")
	case err != nil:
		return couldNotCheck(fmt.Sprintf("that GatewayClass %s exists and is accepted", p.GatewayClass),
			fmt.Sprintf("get %s %q", gatewayapi.GatewayClasses(version).GroupResource(), p.GatewayClass), err)
	}
	class, err := gatewayapi.DecodeGatewayClass(u)
	if err != nil {
		return fmt.Errorf("reading GatewayClass %s: %w", p.GatewayClass, err)
	}
	// Istio deploys an ingress gateway, named as secure expects, only for a
	// class of its gateway controller; istio-waypoint's controller deploys
	// waypoints, and another vendor's class another proxy.
	if class.ControllerName != gatewayapi.IstioController {
		return problems.New(
			fmt.Sprintf("GatewayClass %s is handled by controller %s, not Istio's gateway controller %s: secure sets up ingress through Istio's gateways only", class.Name, class.ControllerName, gatewayapi.IstioController),
			"pass --gateway-class with a class of controllerName "+gatewayapi.IstioController+" (istio, the default); kubectl get gatewayclasses lists them")
	}
	if why := gatewayapi.Unmet(class.Conditions, "Accepted", class.Generation); why != "" {
		return problems.New(
			fmt.Sprintf("GatewayClass %s (controllerName %s) is not accepted, so no controller would deploy a gateway for it: %s", class.Name, class.ControllerName, why),
			"check that the controller runs: for Istio, istiod (kubectl get pods -n istio-system -l app=istiod) with PILOT_ENABLE_GATEWAY_API not false; or pass another --gateway-class (kubectl get gatewayclasses)")
	}
	return nil
}

// checkOtherMode refuses to secure the application in one mode while
// secure's Gateway of the other mode is in place: both ingresses would
// serve the hosts, the older with whatever certificate it had.
func (p *planner) checkOtherMode(ctx context.Context, apis discover.APIs) error {
	other := apis.IstioGateways()
	mode, flag := "an Istio ingress gateway", "without --gateway-api"
	if !p.GatewayAPI {
		other = gatewayapi.Gateways(apis.GatewayAPI)
		mode, flag = "its own Gateway API gateway", "with --gateway-api"
	}
	if other.Version == "" {
		return nil // not served: it cannot exist
	}
	dyn, err := p.clients.Dynamic()
	if err != nil {
		return err
	}
	name := ownership.NamesFor(p.Namespace).Gateway
	gw, err := dyn.Resource(other).Namespace(p.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		// Unread is not absent: going ahead could put a second ingress
		// next to the first.
		return couldNotCheck(
			fmt.Sprintf("that namespace %s is not secured through %s already", p.Namespace, mode),
			fmt.Sprintf("get %s %q in namespace %s", other.GroupResource(), name, p.Namespace), err)
	}
	if !ownership.Ours(gw.GetLabels(), p.Namespace) {
		return nil
	}
	return problems.New(
		fmt.Sprintf("namespace %s is secured through %s already (Gateway %s/%s of %s, applied by secure %s): both ingresses would serve the hosts", p.Namespace, mode, p.Namespace, name, other.Group, flag),
		fmt.Sprintf("remove that ingress first (kubectl opea unsecure -n %s --keep-mtls), then run this command again", p.Namespace))
}

// suggestGatewayAPI adds --gateway-api to the fix of a missing classic
// ingress gateway when Istio's GatewayClass exists (version: the Gateway
// API's served version, empty when it is not served): Istio can then deploy
// a gateway for the application instead.
func (p *planner) suggestGatewayAPI(ctx context.Context, version string, none *problems.Problem) {
	if version == "" || p.namespaceMissing {
		return // no gateway is deployed into a namespace that does not exist
	}
	dyn, err := p.clients.Dynamic()
	if err != nil {
		return
	}
	if _, err := dyn.Resource(gatewayapi.GatewayClasses(version)).Get(ctx, gatewayapi.IstioClass, metav1.GetOptions{}); err != nil {
		return
	}
	var given []string
	if p.GatewayNamespace != "" {
		given = append(given, "--gateway-namespace")
	}
	if p.GatewaySelector != nil {
		given = append(given, "--gateway-selector")
	}
	instead := ""
	if len(given) > 0 {
		instead = " instead of " + strings.Join(given, " and ")
	}
	none.Fix = fmt.Sprintf("pass --gateway-api%s to have Istio deploy a gateway for this application in namespace %s (GatewayClass istio exists); or %s", instead, p.Namespace, none.Fix)
}

// unreadAsProblem turns an error a discovery read returned as it came from
// the API server into the problem of a check that could not read; a
// problem it found stays as it is.
func unreadAsProblem(err error, what, request string) error {
	var prob *problems.Problem
	if err == nil || errors.As(err, &prob) {
		return err
	}
	return couldNotCheck(what, request, err)
}

// entryRequest names the reads that find the entry Service.
func (p *planner) entryRequest() string {
	if p.Service != "" {
		return fmt.Sprintf("get services %q in namespace %s", p.Service, p.Namespace)
	}
	return "list services in namespace " + p.Namespace
}

// gatewayRequest names the reads that find the classic ingress gateway.
func (p *planner) gatewayRequest() string {
	if p.GatewayNamespace != "" {
		return "list deployments.apps and services in namespace " + p.GatewayNamespace
	}
	return "list deployments.apps in every namespace, and services in the gateway's"
}

// checkGatewayNamespace says so when --gateway-namespace names a namespace
// that does not exist, rather than that it holds no gateway.
func (p *planner) checkGatewayNamespace(ctx context.Context, kube clients.Kube) error {
	if p.GatewayNamespace == "" {
		return nil
	}
	_, err := kube.CoreV1().Namespaces().Get(ctx, p.GatewayNamespace, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return problems.New(fmt.Sprintf("--gateway-namespace %s: namespace %q does not exist", p.GatewayNamespace, p.GatewayNamespace),
			"name the namespace of the ingress gateway pods (kubectl get pods -A -l istio=ingressgateway), or leave --gateway-namespace out to find them")
	case apierrors.IsForbidden(err):
		// A user with Roles only may not get namespaces: the gateway
		// search in it, which must succeed, is the check then.
		return nil
	case err != nil:
		return couldNotCheck(fmt.Sprintf("that --gateway-namespace %s exists", p.GatewayNamespace),
			fmt.Sprintf("get namespaces %q", p.GatewayNamespace), err)
	}
	return nil
}

// checkPeerAuthentications refuses when istiod would not make the namespace
// STRICT with secure's PeerAuthentication "default": an older namespace-wide
// policy wins over it, and workload policies override it for their pods.
func (p *planner) checkPeerAuthentications(ctx context.Context, version string) []error {
	dyn, err := p.clients.Dynamic()
	if err != nil {
		return []error{err}
	}
	gvr := istio.PeerAuthentications(version)
	list, err := dyn.Resource(gvr).Namespace(p.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return []error{couldNotCheck(fmt.Sprintf("that no PeerAuthentication in namespace %s overrides STRICT", p.Namespace),
			fmt.Sprintf("list %s in namespace %s", gvr.GroupResource(), p.Namespace), err)}
	}
	var pas []istio.PeerAuthentication
	// Ours is created now, unless it exists: then its age counts.
	ours := istio.PeerAuthentication{Namespace: p.Namespace, Name: "default", CreationTimestamp: time.Now()}
	for i := range list.Items {
		pa, err := istio.DecodePeerAuthentication(&list.Items[i])
		if err != nil {
			return []error{fmt.Errorf("reading PeerAuthentication %s/%s: %w", p.Namespace, list.Items[i].GetName(), err)}
		}
		if pa.Name == ours.Name {
			ours.CreationTimestamp = pa.CreationTimestamp
		}
		pas = append(pas, pa)
	}
	var errs []error
	meshMode := p.meshWideMode(ctx, gvr, pas, ours)
	for _, ob := range istio.StrictObstacles(pas, ours, meshMode) {
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
	domain := "example.com"
	if _, d, ok := strings.Cut(taken, "."); ok && strings.Contains(d, ".") {
		domain = d
	}
	host := namespace + "." + domain
	if host == taken { // the application's own name is the one taken
		host = namespace + "-2." + domain
	}
	return host
}

// checkSecretsInTheWay refuses when a Secret with the name of a Secret
// cert-manager will write for secure exists and is not secure's: the
// issuance would overwrite it, and unsecure would delete it. A Secret is
// secure's when it carries secure's labels, or when cert-manager wrote it
// for the Certificate of the same name that secure applies (adopted or its
// own).
func (p *planner) checkSecretsInTheWay(ctx context.Context, kube clients.Kube, gatewayNamespace string, source desired.CertificateSource) []error {
	names := ownership.NamesFor(p.Namespace)
	wanted := []struct{ secret, certificate string }{{names.TLSSecret, names.Certificate}}
	if source == desired.OwnCA {
		wanted = append(wanted, struct{ secret, certificate string }{names.CASecret, names.CACertificate})
	}
	dyn, err := p.clients.Dynamic()
	if err != nil {
		return []error{err}
	}
	var errs []error
	for _, w := range wanted {
		s, err := kube.CoreV1().Secrets(gatewayNamespace).Get(ctx, w.secret, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			// cert-manager would overwrite a Secret of the user's.
			errs = append(errs, couldNotCheck(fmt.Sprintf("that no Secret of yours is named %s in namespace %s", w.secret, gatewayNamespace),
				fmt.Sprintf("get secrets %q in namespace %s", w.secret, gatewayNamespace), err))
			continue
		}
		if ownership.Ours(s.Labels, p.Namespace) {
			continue
		}
		if s.Annotations[certmanager.CertificateNameAnnotation] == w.certificate {
			_, err := dyn.Resource(certmanager.Certificates).Namespace(gatewayNamespace).Get(ctx, w.certificate, metav1.GetOptions{})
			if err == nil {
				continue // the Secret of the Certificate secure applies
			}
			if !apierrors.IsNotFound(err) {
				errs = append(errs, couldNotCheck(fmt.Sprintf("that Secret %s/%s was written for kubectl opea secure's Certificate", gatewayNamespace, w.secret),
					fmt.Sprintf("get %s %q in namespace %s", certmanager.Certificates.GroupResource(), w.certificate, gatewayNamespace), err))
				continue
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

func (p *planner) checkTLSSecret(ctx context.Context, kube clients.Kube, gatewayNamespace string) error {
	s, err := kube.CoreV1().Secrets(gatewayNamespace).Get(ctx, p.TLSSecret, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		why := "Istio reads gateway credentials only from the gateway pods' namespace"
		if p.GatewayAPI {
			why = "the Gateway's certificateRefs name a Secret in its own namespace, the application's"
		}
		return problems.New(
			fmt.Sprintf("Secret %s/%s does not exist (%s)", gatewayNamespace, p.TLSSecret, why),
			fmt.Sprintf("kubectl create secret tls %s -n %s --cert=tls.crt --key=tls.key", p.TLSSecret, gatewayNamespace))
	}
	if err != nil {
		return couldNotCheck(fmt.Sprintf("that --tls-secret %s/%s exists and holds a certificate", gatewayNamespace, p.TLSSecret),
			fmt.Sprintf("get secrets %q in namespace %s", p.TLSSecret, gatewayNamespace), err)
	}
	// istiod ignores the type: it reads cert/key, else tls.crt/tls.key.
	if _, _, _, err := istio.CredentialPair(s.Data); err != nil {
		return problems.New(
			fmt.Sprintf("Secret %s/%s holds no certificate and key Istio can read: %v", gatewayNamespace, p.TLSSecret, err),
			fmt.Sprintf("recreate it with kubectl create secret tls %s -n %s --cert=tls.crt --key=tls.key", p.TLSSecret, gatewayNamespace))
	}
	return nil
}

func (p *planner) checkIssuer(ctx context.Context, gatewayNamespace string) []error {
	dyn, err := p.clients.Dynamic()
	if err != nil {
		return []error{err}
	}
	gvr, _ := certmanager.IssuerResource(p.IssuerKind)
	var issuer *unstructured.Unstructured
	var getErr error
	where := p.Issuer
	if p.IssuerKind == "Issuer" {
		issuer, getErr = dyn.Resource(gvr).Namespace(gatewayNamespace).Get(ctx, p.Issuer, metav1.GetOptions{})
		where = gatewayNamespace + "/" + p.Issuer
	} else {
		issuer, getErr = dyn.Resource(gvr).Get(ctx, p.Issuer, metav1.GetOptions{})
	}
	if apierrors.IsNotFound(getErr) {
		return []error{problems.New(
			fmt.Sprintf("%s %s does not exist", p.IssuerKind, where),
			"create it first, or check --issuer and --issuer-kind (an Issuer must be in the gateway namespace)")}
	}
	if getErr != nil {
		request := fmt.Sprintf("get %s %q", gvr.GroupResource(), p.Issuer)
		if p.IssuerKind == "Issuer" {
			request += " in namespace " + gatewayNamespace
		}
		return []error{couldNotCheck(fmt.Sprintf("that %s %s exists", p.IssuerKind, where), request, getErr)}
	}
	return p.checkACME(issuer, p.IssuerKind+" "+where)
}

// checkACME refuses what an ACME issuer solving HTTP-01 challenges only
// cannot do: issue a wildcard host, or pass a challenge on port 80 while the
// Gateway redirects port 80 to HTTPS (istio/istio#33593).
func (p *planner) checkACME(issuer *unstructured.Unstructured, name string) []error {
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
		if p.HTTPRedirect {
			fmt.Fprintf(p.notices, "%s also solves HTTP-01 challenges: where it uses them, the port-80 redirect breaks them (istio/istio#33593); pass --http-redirect=false if so.\n", name)
		}
		return nil
	}
	var errs []error
	for _, h := range p.Hosts {
		if strings.HasPrefix(h, "*") {
			errs = append(errs, problems.New(
				fmt.Sprintf("%s solves only HTTP-01 challenges, which cannot issue the wildcard host %s", name, h),
				"pass a concrete --host (e.g. --host "+istio.ExampleHost(h, p.Namespace)+"), or use an issuer with a DNS-01 solver"))
		}
	}
	if p.HTTPRedirect {
		errs = append(errs, problems.New(
			fmt.Sprintf("%s solves HTTP-01 challenges on port 80, which the Gateway's redirect to HTTPS breaks (istio/istio#33593)", name),
			"pass --http-redirect=false, or use an issuer with a DNS-01 solver"))
	}
	return errs
}

// staleRedirectRoute finds the redirect HTTPRoute an earlier secure
// --gateway-api made, which a run with --http-redirect=false removes.
func (p *planner) staleRedirectRoute(ctx context.Context, apis discover.APIs) (*owned.Found, error) {
	if apis.GatewayAPI == "" {
		return nil, nil
	}
	dyn, err := p.clients.Dynamic()
	if err != nil {
		return nil, err
	}
	return owned.FindRedirectRoute(ctx, dyn, owned.Options{AppNamespace: p.Namespace, FieldManager: p.fieldManager(), APIs: apis})
}
