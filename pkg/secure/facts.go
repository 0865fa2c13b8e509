package secure

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"

	"github.com/opea-project/kubectl-opea/pkg/discover"
	"github.com/opea-project/kubectl-opea/pkg/istio"
	"github.com/opea-project/kubectl-opea/pkg/problems"
)

// fact names one thing secure reads of the cluster once, before it checks
// its preconditions.
type fact int

const (
	// factNamespace: the application namespace exists and, with --enroll,
	// does not use sidecar injection. Rows that need it read the name from
	// the request: the fact says that the namespace is there to look in.
	factNamespace fact = iota
	// factEntry: the application's entry Service and port.
	factEntry
	// factGateway: the classic ingress gateway; with --gateway-api Istio
	// deploys the gateway pods, there is none to find, and it is known and
	// empty.
	factGateway
	// factAPIs: the versions of the APIs secure uses that the API server
	// serves.
	factAPIs
	// factCertNamespace: where the certificate and its Secret go, the
	// namespace of the gateway pods (with --gateway-api, the application's).
	factCertNamespace

	// numFacts counts the facts above.
	numFacts
)

// factNames name the facts in what secure prints.
var factNames = [numFacts]string{
	factNamespace:     "the application namespace",
	factEntry:         "the entry Service",
	factGateway:       "the ingress gateway",
	factAPIs:          "the served APIs",
	factCertNamespace: "the gateway namespace",
}

func (n fact) String() string { return factNames[n] }

// facts are what secure read of the cluster for its preconditions. A fact
// that could not be read, or does not hold (a namespace that does not
// exist), is nil, and a problem says why; so is a fact that derives from
// one that is nil. A precondition sees only the facts it declares (view):
// reading another one dereferences nil.
type facts struct {
	namespace     *corev1.Namespace
	entry         *discover.Entry
	gateway       *discover.Gateway
	apis          *discover.APIs
	certNamespace *string
}

// known reports whether fact n was read.
func (f *facts) known(n fact) bool {
	switch n {
	case factNamespace:
		return f.namespace != nil
	case factEntry:
		return f.entry != nil
	case factGateway:
		return f.gateway != nil
	case factAPIs:
		return f.apis != nil
	case factCertNamespace:
		return f.certNamespace != nil
	}
	return false
}

// view is f with only the facts of needs; the others are nil.
func (f *facts) view(needs []fact) *facts {
	v := &facts{}
	for _, n := range needs {
		switch n {
		case factNamespace:
			v.namespace = f.namespace
		case factEntry:
			v.entry = f.entry
		case factGateway:
			v.gateway = f.gateway
		case factAPIs:
			v.apis = f.apis
		case factCertNamespace:
			v.certNamespace = f.certNamespace
		}
	}
	return v
}

// gather reads the facts once, in the order they need each other: the
// application namespace, its entry Service, the served APIs, then the
// gateway, whose problem may suggest --gateway-api when the Gateway API is
// served. The problems of those that are unknown are listed as the user
// reads them: namespace, entry Service, gateway, then APIs. An error stops
// secure at once: the user lacks permissions secure needs in the namespace
// of the gateway found.
func (p *planner) gather(ctx context.Context, disco discovery.CachedDiscoveryInterface) (*facts, problems.List, error) {
	f := &facts{}
	namespaceErr := p.readNamespace(ctx, f)
	entryErr := p.readEntry(ctx, f)
	apisErr := p.readAPIs(disco, f)
	gatewayErr, err := p.readGateway(ctx, f)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case p.GatewayAPI && f.namespace != nil:
		certNamespace := p.Namespace
		f.certNamespace = &certNamespace
	case !p.GatewayAPI && f.gateway != nil:
		certNamespace := f.gateway.Namespace
		f.certNamespace = &certNamespace
	}
	return f, asProblems(namespaceErr, entryErr, gatewayErr, apisErr), nil
}

// asProblems are errs as problems, in order, leaving out nils: an error that
// is no problem yet becomes one without a fix.
func asProblems(errs ...error) problems.List {
	var out problems.List
	for _, err := range errs {
		if err == nil {
			continue
		}
		var prob *problems.Problem
		if !errors.As(err, &prob) {
			prob = problems.New(err.Error(), "")
		}
		out = append(out, prob)
	}
	return out
}

// readNamespace reads the application namespace, refusing one that does
// not exist (naming those that hold an application instead) and, with
// --enroll, one that uses sidecar injection.
func (p *planner) readNamespace(ctx context.Context, f *facts) error {
	ns, err := p.kube.CoreV1().Namespaces().Get(ctx, p.Namespace, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		p.namespaceMissing = true
		return problems.New(fmt.Sprintf("namespace %q does not exist", p.Namespace), p.missingNamespaceFix(ctx))
	}
	if err != nil {
		return couldNotCheck(fmt.Sprintf("that namespace %s exists", p.Namespace), fmt.Sprintf("get namespaces %q", p.Namespace), err)
	}
	if key, v, on := istio.SidecarInjection(ns.Labels); on && p.Enroll {
		return problems.New(
			fmt.Sprintf("namespace %s uses Istio sidecar injection (%s=%s); ambient enrolment must not be mixed with it", p.Namespace, key, v),
			fmt.Sprintf("remove it (kubectl label namespace %s %s-) and restart the pods, or keep sidecars with --enroll=false", p.Namespace, key))
	}
	f.namespace = ns
	return nil
}

// readEntry finds the application's entry Service, in a namespace that
// exists.
func (p *planner) readEntry(ctx context.Context, f *facts) error {
	if f.namespace == nil {
		return nil
	}
	entry, err := discover.EntryService(ctx, p.kube, p.Namespace, p.Service, p.Port)
	if err = unreadAsProblem(err, "the application's entry Service", p.entryRequest()); err == nil {
		f.entry = &entry
	}
	return err
}

// readAPIs reads which versions of Istio's, cert-manager's and the Gateway
// API's resources the API server serves.
func (p *planner) readAPIs(disco discovery.CachedDiscoveryInterface, f *facts) error {
	// The disk cache may predate a fresh Istio, Gateway API or cert-manager
	// install.
	disco.Invalidate()
	apis, err := discover.ServedAPIs(disco)
	if err == nil {
		f.apis = &apis
	}
	return err
}

// readGateway finds the classic ingress gateway, then checks the
// permissions secure needs in its namespace; with --gateway-api there is
// none to find. problem says why the gateway is unknown; stop, that the
// user lacks those permissions, ends secure at once.
func (p *planner) readGateway(ctx context.Context, f *facts) (problem, stop error) {
	if p.GatewayAPI {
		f.gateway = &discover.Gateway{}
		return nil, nil
	}
	if err := p.checkGatewayNamespace(ctx, p.kube); err != nil {
		return err, nil
	}
	gw, err := discover.IngressGateway(ctx, p.kube, p.GatewayNamespace, p.GatewaySelector)
	var none *discover.NoIngressGateway
	if errors.As(err, &none) && f.apis != nil {
		p.suggestGatewayAPI(ctx, f.apis.GatewayAPI, none.Problem)
	}
	if err := unreadAsProblem(err, "the ingress gateway", p.gatewayRequest()); err != nil {
		return err, nil
	}
	if err := p.checkGatewayPermissions(ctx, p.kube, gw.Namespace); err != nil {
		return nil, err
	}
	if p.HTTPRedirect && gw.HTTPPort == 0 {
		fmt.Fprintf(p.notices, "The gateway Service %s/%s has no port 80: no HTTP redirect is configured.\n", gw.Namespace, gw.Service)
	}
	f.gateway = &gw
	return nil, nil
}
