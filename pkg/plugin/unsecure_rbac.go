package plugin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/pkg/certmanager"
	"github.com/opea-project/kubectl-opea/pkg/discover"
	"github.com/opea-project/kubectl-opea/pkg/owned"
	"github.com/opea-project/kubectl-opea/pkg/problems"
	"github.com/opea-project/kubectl-opea/pkg/secure"
)

// printRBAC prints the RBAC objects that grant what unsecure needs with
// the flags given, from the same list its permission check asks about. It
// takes the namespace Complete read from the kubeconfig, and contacts no
// cluster.
func (o *UnsecureOptions) printRBAC(cmd *cobra.Command) error {
	var errs []string
	for _, name := range rbacIncompatible {
		if f := cmd.Flags().Lookup(name); f != nil && f.Changed {
			errs = append(errs, fmt.Sprintf("--print-rbac prints RBAC objects and nothing else: leave out --%s", name))
		}
	}
	ns := o.namespace
	for _, v := range []struct{ flag, value string }{{"namespace", ns}, {"gateway-namespace", o.GatewayNamespace}} {
		if v.value == "" {
			continue
		}
		if msgs := validation.IsDNS1123Label(v.value); len(msgs) > 0 {
			errs = append(errs, fmt.Sprintf("invalid --%s %q: %s", v.flag, v.value, strings.Join(msgs, "; ")))
		}
	}
	if len(errs) > 0 {
		return usageError(cmd, errors.New(strings.Join(errs, "\n")))
	}
	// Not knowing what the cluster serves, or whether --wait will be
	// used, it grants for all.
	r := secure.UnsecureRequest{AppNamespace: ns, GatewayNamespace: o.GatewayNamespace, Search: o.GatewayNamespace == "",
		KeepMTLS: o.KeepMTLS, Wait: true, APIs: secure.AllAPIs}
	note := ""
	if r.Search {
		r.GatewayNamespace = secure.DefaultGatewayNamespace
		note = fmt.Sprintf("Without --gateway-namespace, unsecure lists certificates, issuers and Secrets in every namespace (the ClusterRole) and removes them in %s, as in OPEA's guide; pass --gateway-namespace, here and to unsecure, to grant those in that namespace only.", secure.DefaultGatewayNamespace)
	}
	return secure.PrintUnsecureRBAC(o.Out, r, note)
}

// permissionRequest is what unsecure needs permissions for, with the APIs
// served.
func (o *UnsecureOptions) permissionRequest(apis discover.APIs) secure.UnsecureRequest {
	return secure.UnsecureRequest{AppNamespace: o.namespace, GatewayNamespace: o.GatewayNamespace, Search: o.GatewayNamespace == "",
		KeepMTLS: o.KeepMTLS, Wait: o.Wait, APIs: apis}
}

// checkPermissions refuses, before anything is read, when the user may not
// make a read unsecure needs: it names every permission missing then,
// reads and removals, with the command that prints the RBAC granting them.
// When every read is allowed, the objects found say which removals are
// needed, and CheckRemove names those refused, object by object.
func (o *UnsecureOptions) checkPermissions(ctx context.Context, apis discover.APIs) error {
	kube, err := o.clients.Kubernetes()
	if err != nil {
		return err
	}
	r := o.permissionRequest(apis)
	missing, err := secure.MissingUnsecurePermissions(ctx, kube.AuthorizationV1().SelfSubjectAccessReviews(), r)
	if err != nil {
		return err
	}
	reads := slices.ContainsFunc(missing, func(a snapshot.Access) bool { return a.Verb == "get" || a.Verb == "list" })
	if !reads {
		return nil
	}
	return secure.UnsecurePermissionsProblem(missing, r)
}

// withRBACFix gives the missing permissions CheckRemove reports the fix
// of unsecure's own check: the --print-rbac command for where found's
// certificates are.
func (o *UnsecureOptions) withRBACFix(err error, found *owned.Found) error {
	var prob *problems.Problem
	if !errors.As(err, &prob) {
		return err
	}
	r := o.permissionRequest(discover.APIs{})
	if r.Search {
		for _, obj := range found.Remove {
			if obj.GroupVersionKind().Group == certmanager.Group {
				r.GatewayNamespace = obj.GetNamespace()
				break
			}
		}
	}
	return problems.New(prob.What, r.PermissionsFix())
}
