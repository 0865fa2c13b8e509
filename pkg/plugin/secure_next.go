package plugin

import (
	"fmt"
	"slices"
	"strings"

	"github.com/opea-project/kubectl-opea/pkg/desired"
	"github.com/opea-project/kubectl-opea/pkg/gatewayapi"
	"github.com/opea-project/kubectl-opea/pkg/istio"
	"github.com/opea-project/kubectl-opea/pkg/ownership"
	"github.com/opea-project/kubectl-opea/pkg/secure"
)

// printNextSteps tells the user how to check the result and call the
// application with a client that validates the certificate.
func (o *SecureOptions) printNextSteps(p *secure.Plan) {
	host := istio.ExampleHost(p.Params.Hosts[0], o.Namespace)
	gatewayAPI := p.Params.GatewayAPIVersion != ""
	address := p.Gateway.Address
	if address == "" {
		address = "<GATEWAY-ADDRESS>"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nNext:\n  # check that everything is in place and effective\n  kubectl opea verify -n %s\n", o.Namespace)
	// Istio gives the Gateway its address once it has deployed the gateway.
	names := ownership.NamesFor(o.Namespace)
	if gatewayAPI {
		fmt.Fprintf(&b, "  # the gateway's address, once Istio has deployed it\n")
		fmt.Fprintf(&b, "  kubectl get gateway.gateway.networking.k8s.io %s -n %s -o jsonpath='{.status.addresses[0].value}'\n", names.Gateway, o.Namespace)
	}
	switch p.Params.Certificates {
	case desired.OwnCA:
		// cert-manager's CA issuer puts its CA into every Secret it signs.
		fmt.Fprintf(&b, "  # once the certificate is issued, give clients the application's CA (no curl -k)\n")
		fmt.Fprintf(&b, "  kubectl get secret %s -n %s -o jsonpath='{.data.ca\\.crt}' | base64 -d > %s-ca.crt\n", names.TLSSecret, p.Params.GatewayNamespace, o.Namespace)
		fmt.Fprintf(&b, "  curl --cacert %s-ca.crt --resolve %s:443:%s https://%s/\n", o.Namespace, host, address, host)
	default:
		fmt.Fprintf(&b, "  # call the application through the gateway, validating its certificate\n")
		fmt.Fprintf(&b, "  curl --resolve %s:443:%s https://%s/\n", host, address, host)
	}
	switch {
	case gatewayAPI:
		service := gatewayapi.DeploymentName(gatewayapi.Gateway{Name: names.Gateway, ClassName: p.Params.GatewayClass})
		fmt.Fprintf(&b, "  # without an address reachable from here, forward a local port to the gateway Service Istio deployed:\n")
		fmt.Fprintf(&b, "  #   kubectl port-forward -n %s svc/%s 8443:443   and --resolve %s:8443:127.0.0.1\n", o.Namespace, service, host)
	case p.Gateway.Address == "":
		fmt.Fprintf(&b, "  # the gateway Service %s/%s has no load balancer address: use its node port, or\n", p.Gateway.Namespace, p.Gateway.Service)
		fmt.Fprintf(&b, "  #   kubectl port-forward -n %s svc/%s 8443:443   and --resolve %s:8443:127.0.0.1\n", p.Gateway.Namespace, p.Gateway.Service, host)
	}
	if a := p.Params.Auth; a != nil {
		printAuthNextSteps(&b, a.Settings, host)
	}
	if l := p.Params.Lockdown; l != nil {
		// --lockdown restates the callers: those admitted so far are given again.
		var flags []string
		for _, caller := range append(slices.Clone(l.AllowPrincipals), istio.Principal(l.TrustDomain, "monitoring", "prometheus")) {
			flags = append(flags, "--allow-principal "+caller)
		}
		fmt.Fprintf(&b, "  # only the application's own workloads, the ingress gateway and --allow-principal callers may call its pods;\n")
		fmt.Fprintf(&b, "  # to admit another caller (e.g. a Prometheus), run secure again with the same flags and\n")
		fmt.Fprintf(&b, "  #   --lockdown %s\n", strings.Join(flags, " "))
		fmt.Fprintf(&b, "  # then check again with kubectl opea verify -n %s (--lockdown=false removes the lockdown)\n", o.Namespace)
	}
	fmt.Fprint(o.Out, b.String())
}

// printAuthNextSteps says how to call the application now that the gateway
// asks for a token (--auth jwt) or an extension provider's word (--auth
// ext-authz). A token is never printed: it goes into a variable.
func printAuthNextSteps(b *strings.Builder, s desired.AuthSettings, host string) {
	if s.Mode == desired.AuthExtAuthz {
		fmt.Fprintf(b, "  # requests for the hosts are sent to extension provider %s first, which allows or denies them\n", s.Provider)
		fmt.Fprintf(b, "  # (oauth2-proxy redirects a browser to sign in); --auth=none removes the check\n")
		return
	}
	issuer := strings.TrimSuffix(s.Issuer, "/")
	fmt.Fprintf(b, "  # requests for the hosts need a token of %s: without one the gateway answers 403, with an invalid one 401.\n", s.Issuer)
	fmt.Fprintf(b, "  # Get one from the issuer's token endpoint (token_endpoint in %s/.well-known/openid-configuration;\n", issuer)
	fmt.Fprintf(b, "  # for Keycloak %s/protocol/openid-connect/token), e.g. for a client with a secret:\n", issuer)
	fmt.Fprintf(b, "  #   TOKEN=$(curl -s -d grant_type=client_credentials -d client_id=<CLIENT> -d client_secret=<SECRET> <TOKEN-ENDPOINT> | jq -r .access_token)\n")
	fmt.Fprintf(b, "  # and send it with each request:\n")
	fmt.Fprintf(b, "  #   curl -H \"Authorization: Bearer $TOKEN\" ... https://%s/\n", host)
	var needs []string
	if len(s.Audiences) > 0 {
		needs = append(needs, "audience "+strings.Join(s.Audiences, " or "))
	}
	if len(s.Claims) > 0 {
		needs = append(needs, "claims "+strings.Join(s.Claims, ", "))
	}
	if len(needs) > 0 {
		fmt.Fprintf(b, "  # the token must carry %s (--auth=none removes the requirement)\n", strings.Join(needs, " and "))
		return
	}
	fmt.Fprintf(b, "  # (--auth=none removes the requirement)\n")
}
