package plugin

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/opea-project/kubectl-opea/pkg/secure"
)

// rbacFlags are the flags that change what secure needs; --print-rbac
// ignores no other, but refuses those that print nothing else.
var rbacIncompatible = []string{"dry-run", "output", "wait", "diff"}

// printRBAC prints the RBAC objects that grant what secure needs with the
// flags given, from the same list its permission check asks about. It takes
// the namespace Complete read from the kubeconfig, and contacts no cluster.
func (o *SecureOptions) printRBAC(cmd *cobra.Command) error {
	var errs []string
	for _, name := range rbacIncompatible {
		if cmd.Flags().Changed(name) {
			errs = append(errs, fmt.Sprintf("--print-rbac prints RBAC objects and nothing else: leave out --%s", name))
		}
	}
	ns := o.Namespace
	for flag, value := range map[string]string{"namespace": ns, "gateway-namespace": o.GatewayNamespace} {
		if value == "" {
			continue
		}
		if msgs := validation.IsDNS1123Label(value); len(msgs) > 0 {
			errs = append(errs, fmt.Sprintf("invalid --%s %q: %s", flag, value, strings.Join(msgs, "; ")))
		}
	}
	if o.GatewayAPI && o.GatewayNamespace != "" {
		errs = append(errs, "--gateway-namespace names a classic Istio ingress gateway; with --gateway-api the certificate goes to the application namespace: leave it out")
	}
	if o.IssuerKind != "Issuer" && o.IssuerKind != "ClusterIssuer" {
		errs = append(errs, fmt.Sprintf("invalid --issuer-kind %q: use Issuer or ClusterIssuer", o.IssuerKind))
	}
	if len(errs) > 0 {
		return usageError(cmd, errors.New(strings.Join(errs, "\n")))
	}
	r := secure.PermissionRequest{
		AppNamespace: ns, GatewayNamespace: o.GatewayNamespace, SearchGateway: !o.GatewayAPI && o.GatewayNamespace == "",
		GatewayAPI: o.GatewayAPI, Lockdown: o.Lockdown == secure.LockdownOn, TLSSecret: o.TLSSecret != "",
		Issuer: o.Issuer != "", ClusterIssuer: o.Issuer != "" && o.IssuerKind == "ClusterIssuer",
	}
	if cmd.Flags().Changed("auth") {
		r.Auth = o.AuthSettings.Mode
	}
	note := ""
	if r.SearchGateway {
		r.GatewayNamespace = secure.DefaultGatewayNamespace
		note = fmt.Sprintf("The certificate goes to the ingress gateway pods' namespace, %s as in OPEA's guide; for another, pass --gateway-namespace.", secure.DefaultGatewayNamespace)
	}
	return secure.PrintRBAC(o.Out, r, note)
}
