package secure

import (
	"context"
	"fmt"

	"github.com/opea-project/kubectl-opea/pkg/desired"
	"github.com/opea-project/kubectl-opea/pkg/discover"
	"github.com/opea-project/kubectl-opea/pkg/owned"
	"github.com/opea-project/kubectl-opea/pkg/problems"
)

// precondition is one row of what must hold in the cluster before secure
// writes anything.
type precondition struct {
	// name says what the row makes sure of, as "could not check ..." words
	// it; each row has its own.
	name string
	// needs are the facts check reads. When one is unknown the row does
	// not run: the problem that says why the fact is unknown refuses in
	// its place.
	needs []fact
	// check returns what is wrong; nothing when the precondition holds or
	// does not apply to the request. f holds only the facts of needs.
	check func(ctx context.Context, p *planner, f *facts) []error
}

// preconditions are secure's checks of the cluster, in the order their
// problems are reported, after those of the facts. Some also find what the
// plan holds besides the request's objects (planned).
var preconditions = []precondition{
	{
		name:  "that the GatewayClass exists and is accepted",
		needs: []fact{factAPIs},
		check: func(ctx context.Context, p *planner, f *facts) []error {
			if !p.GatewayAPI {
				return nil
			}
			return []error{p.checkGatewayAPI(ctx, f.apis.GatewayAPI)}
		},
	},
	{
		name:  "that Istio's APIs are served",
		needs: []fact{factAPIs},
		check: func(_ context.Context, p *planner, f *facts) []error {
			return []error{p.checkIstioServed(*f.apis)}
		},
	},
	{
		name:  "that cert-manager's API is served",
		needs: []fact{factAPIs},
		check: func(_ context.Context, p *planner, f *facts) []error {
			return []error{p.checkCertManagerServed(*f.apis)}
		},
	},
	{
		name:  "that no PeerAuthentication in the namespace overrides STRICT",
		needs: []fact{factNamespace, factAPIs},
		check: func(ctx context.Context, p *planner, f *facts) []error {
			if f.apis.Security == "" {
				return nil // not served: said by the row above
			}
			return p.checkPeerAuthentications(ctx, f.apis.Security)
		},
	},
	{
		name:  "that the namespace is not secured through the other ingress already",
		needs: []fact{factNamespace, factAPIs},
		check: func(ctx context.Context, p *planner, f *facts) []error {
			return []error{p.checkOtherMode(ctx, *f.apis)}
		},
	},
	{
		name:  "for a redirect HTTPRoute an earlier secure --gateway-api made",
		needs: []fact{factNamespace, factAPIs},
		check: func(ctx context.Context, p *planner, f *facts) []error {
			if !p.GatewayAPI || p.HTTPRedirect {
				return nil
			}
			found, err := p.staleRedirectRoute(ctx, *f.apis)
			if err == nil {
				p.planned.remove(found)
			}
			return []error{err}
		},
	},
	{
		name:  "for a lockdown an earlier secure --lockdown made",
		needs: []fact{factNamespace, factAPIs},
		check: func(ctx context.Context, p *planner, f *facts) []error {
			on, found, err := p.lockdownState(ctx, *f.apis)
			p.planned.lockdownOn = on
			p.planned.remove(found)
			return []error{err}
		},
	},
	{
		name:  "what the lockdown admits",
		needs: []fact{factNamespace, factAPIs, factEntry, factGateway},
		check: func(ctx context.Context, p *planner, f *facts) []error {
			if !p.planned.lockdownOn {
				return nil
			}
			lockdown, errs := p.lockdown(ctx, p.kube, *f.apis, *f.entry, *f.gateway)
			p.planned.lockdown = lockdown
			return errs
		},
	},
	{
		name:  "for the policies an earlier secure --auth made",
		needs: []fact{factNamespace, factAPIs, factCertNamespace},
		check: func(ctx context.Context, p *planner, f *facts) []error {
			auth, found, err := p.authState(ctx, *f.apis, *f.certNamespace)
			p.planned.auth = auth
			p.planned.remove(found)
			if err == nil && auth != nil {
				if wildcard := desired.AuthHostsProblem(p.Hosts); wildcard != nil {
					err = problems.New(wildcard.Error(), "pass concrete --host names (e.g. --host "+p.Namespace+".example.com), or remove --auth with --auth=none")
				}
			}
			return []error{err}
		},
	},
	{
		name:  "that the --auth-provider is an extension provider of the mesh config",
		needs: []fact{factAPIs},
		check: func(ctx context.Context, p *planner, f *facts) []error {
			if p.planned.auth == nil || p.planned.auth.Mode != desired.AuthExtAuthz {
				return nil
			}
			return []error{p.checkAuthProvider(ctx, p.planned.auth.Provider)}
		},
	},
	{
		name:  "that the --tls-secret exists and holds a certificate",
		needs: []fact{factCertNamespace},
		check: func(ctx context.Context, p *planner, f *facts) []error {
			if p.TLSSecret == "" {
				return nil
			}
			return []error{p.checkTLSSecret(ctx, p.kube, *f.certNamespace)}
		},
	},
	{
		name:  "that the --issuer exists and can issue the hosts",
		needs: []fact{factCertNamespace, factAPIs},
		check: func(ctx context.Context, p *planner, f *facts) []error {
			if p.certificateSource() != desired.ExistingIssuer || f.apis.CertManager == "" {
				return nil
			}
			return p.checkIssuer(ctx, *f.certNamespace)
		},
	},
	{
		name:  "that no Secret of the user's is where cert-manager writes",
		needs: []fact{factCertNamespace, factAPIs},
		check: func(ctx context.Context, p *planner, f *facts) []error {
			if p.TLSSecret != "" || f.apis.CertManager == "" {
				return nil
			}
			return p.checkSecretsInTheWay(ctx, p.kube, *f.certNamespace, p.certificateSource())
		},
	},
}

// runPreconditions runs rows on the facts f in order, and returns the
// problems found reading f (found) followed by theirs. A row that needs a
// fact f lacks does not run: the fact's problem, in found, refuses in its
// place. Should a fact be unknown with no problem saying why, each row that
// needs it refuses as one that could not check: a row that did not run
// never passes.
func (p *planner) runPreconditions(ctx context.Context, f *facts, rows []precondition, found problems.List) problems.List {
	var skipped problems.List
	for _, row := range rows {
		if missing, ok := f.missing(row.needs); !ok {
			skipped = append(skipped, problems.New(
				fmt.Sprintf("could not check %s: %s could not be read", row.name, missing),
				"run the command again; nothing was written"))
			continue
		}
		found = append(found, asProblems(row.check(ctx, p, f.view(row.needs))...)...)
	}
	if len(found) == 0 {
		return skipped
	}
	return found
}

// missing is the first fact of needs that f lacks; ok when f has them all.
func (f *facts) missing(needs []fact) (n fact, ok bool) {
	for _, n := range needs {
		if !f.known(n) {
			return n, false
		}
	}
	return 0, true
}

// planned is what the preconditions found that the plan holds besides the
// objects the request asks for.
type planned struct {
	// unlock is what secure made earlier and this run removes (Plan.Unlock).
	unlock *owned.Found
	// lockdownOn says the plan holds the lockdown's policies, which admit
	// what lockdown says.
	lockdownOn bool
	lockdown   *desired.Lockdown
	// auth are the settings of the policies of --auth the plan holds; nil:
	// none.
	auth *desired.AuthSettings
}

// remove adds found, when it holds anything, to what this run removes.
func (pl *planned) remove(found *owned.Found) {
	switch {
	case found == nil || found.Nothing():
	case pl.unlock == nil:
		pl.unlock = found
	default:
		pl.unlock.Merge(found)
	}
}

// checkIstioServed refuses when Istio's CRDs are not installed: the
// networking API serves the classic Gateway and VirtualService, the
// security API the PeerAuthentication of either mode.
func (p *planner) checkIstioServed(apis discover.APIs) error {
	const install = "install Istio in ambient mode: istioctl install --set profile=ambient (or the istio/base Helm chart)"
	switch {
	case p.GatewayAPI && apis.Security == "":
		return problems.New("the Istio API security.istio.io is not served (Istio's CRDs are not installed)", install)
	case !p.GatewayAPI && (apis.Networking == "" || apis.Security == ""):
		return problems.New("the Istio APIs networking.istio.io and security.istio.io are not served (Istio's CRDs are not installed)", install)
	}
	return nil
}

// checkCertManagerServed refuses when cert-manager is to issue the
// certificate and is not installed.
func (p *planner) checkCertManagerServed(apis discover.APIs) error {
	if p.TLSSecret == "" && apis.CertManager == "" {
		return problems.New(
			"the cert-manager API cert-manager.io/v1 is not served (cert-manager is not installed)",
			"install cert-manager (helm install cert-manager jetstack/cert-manager --set crds.enabled=true), or pass --tls-secret with an existing Secret")
	}
	return nil
}

// certificateSource is where the request takes the gateway's certificate
// from.
func (p *planner) certificateSource() desired.CertificateSource {
	switch {
	case p.TLSSecret != "":
		return desired.ExistingSecret
	case p.Issuer != "":
		return desired.ExistingIssuer
	}
	return desired.OwnCA
}
