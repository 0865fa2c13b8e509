package plugin

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/opea-project/kubectl-opea/pkg/apply"
	"github.com/opea-project/kubectl-opea/pkg/clients"
	"github.com/opea-project/kubectl-opea/pkg/desired"
	"github.com/opea-project/kubectl-opea/pkg/discover"
	"github.com/opea-project/kubectl-opea/pkg/owned"
)

const unsecureLong = `Remove exactly what "kubectl opea secure" applied for an application, and
nothing else.

unsecure deletes the objects that carry secure's labels for the namespace
(Gateway, VirtualService, PeerAuthentication, cert-manager Certificates and
Issuers) and the Secrets cert-manager wrote for those Certificates. It releases
the namespace's istio.io/dataplane-mode label: the label goes only if secure
set it and nobody else did. An object that existed before secure took it over
stays; objects with the same names but without secure's labels are never
touched. Each is listed with the reason.

Before deleting anything it checks that you may delete all of it, and lists
every missing permission at once. Running it again reports nothing to do.`

const unsecureExample = `  # Take ChatQnA back out of the TLS gateway and STRICT mTLS
  kubectl opea unsecure -n chatqna

  # Remove only the ingress TLS, keep STRICT mTLS and the mesh enrolment
  kubectl opea unsecure -n chatqna --keep-mtls

  # See what would go
  kubectl opea unsecure -n chatqna --dry-run=client`

// UnsecureOptions holds the flags of `kubectl opea unsecure`.
type UnsecureOptions struct {
	KeepMTLS         bool
	GatewayNamespace string
	DryRun           string
	FieldManager     string
	Wait             bool
	Timeout          time.Duration

	namespace string
	clients   clients.Getter
	genericiooptions.IOStreams
}

// NewCmdUnsecure returns the `unsecure` command.
func NewCmdUnsecure(getter clients.Getter, streams genericiooptions.IOStreams) *cobra.Command {
	o := &UnsecureOptions{IOStreams: streams, clients: getter}
	cmd := &cobra.Command{
		Use:     "unsecure",
		Short:   "Remove exactly what secure applied for an OPEA application",
		Long:    unsecureLong,
		Example: unsecureExample,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ns, err := namespaceOf(o.clients)
			if err != nil {
				return err
			}
			o.namespace = ns
			if err := o.Validate(); err != nil {
				return usageError(cmd, err)
			}
			return o.Run(contextOf(cmd))
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.KeepMTLS, "keep-mtls", false, "Keep the PeerAuthentication and the namespace's ambient label; remove only the ingress TLS")
	f.StringVar(&o.GatewayNamespace, "gateway-namespace", "", "Namespace of the ingress gateway pods, where the certificates are (default: search every namespace)")
	f.StringVar(&o.DryRun, "dry-run", "none", `"none" deletes; "server" sends every change with dryRun; "client" only lists what would go`)
	f.StringVar(&o.FieldManager, "field-manager", desired.ManagedByValue, "Field manager secure applied with")
	f.BoolVar(&o.Wait, "wait", false, "Wait until the deleted objects are gone")
	f.DurationVar(&o.Timeout, "timeout", 2*time.Minute, "How long --wait waits")
	_ = cmd.RegisterFlagCompletionFunc("dry-run", fixedCompletions("none", "client", "server"))
	return cmd
}

// Validate checks the flags.
func (o *UnsecureOptions) Validate() error {
	switch o.DryRun {
	case "none", "client", "server":
	default:
		return fmt.Errorf(`invalid --dry-run %q: use "none", "client" or "server"`, o.DryRun)
	}
	if o.Wait && o.DryRun != "none" {
		return fmt.Errorf("--wait cannot be used with --dry-run")
	}
	if o.Timeout <= 0 {
		return fmt.Errorf("invalid --timeout %s: give a duration above zero, e.g. 2m", o.Timeout)
	}
	if o.FieldManager == "" {
		return fmt.Errorf("--field-manager must not be empty")
	}
	return nil
}

// Run finds secure's objects, checks permissions, then removes them.
func (o *UnsecureOptions) Run(ctx context.Context) error {
	dyn, err := o.clients.Dynamic()
	if err != nil {
		return err
	}
	disco, err := o.clients.ToDiscoveryClient()
	if err != nil {
		return err
	}
	disco.Invalidate()
	if _, err := disco.ServerVersion(); err != nil {
		return fmt.Errorf("cannot reach the cluster: %w\n  fix: check --kubeconfig and --context, then 'kubectl cluster-info'", err)
	}
	apis, err := discover.ServedAPIs(disco)
	if err != nil {
		return err
	}
	found, err := owned.Find(ctx, dyn, owned.Options{AppNamespace: o.namespace, GatewayNamespace: o.GatewayNamespace,
		KeepMTLS: o.KeepMTLS, FieldManager: o.FieldManager, APIs: apis})
	if err != nil {
		return err
	}
	applier, err := newApplier(o.clients, o.FieldManager, o.DryRun == "server")
	if err != nil {
		return err
	}

	suffix := map[string]string{"none": "", "server": " (server dry run)", "client": " (dry run)"}[o.DryRun]
	for _, n := range found.Kept {
		fmt.Fprintf(o.Out, "%s kept: %s\n", n.Ref, n.Why)
	}
	for _, n := range found.LeftAlone {
		fmt.Fprintf(o.Out, "%s left alone: %s\n", n.Ref, n.Why)
	}
	if len(found.Remove) == 0 && found.Namespace == nil {
		fmt.Fprintf(o.Out, "Nothing to do: no object of kubectl opea secure remains for namespace %s.\n", o.namespace)
		return nil
	}

	release := found.Namespace
	if o.DryRun != "client" {
		var toRelease []*unstructured.Unstructured
		if release != nil {
			toRelease = append(toRelease, release)
		}
		if err := applier.CheckRemove(ctx, found.Remove, toRelease); err != nil {
			return err
		}
	}
	if o.DryRun == "client" {
		for _, obj := range found.Remove {
			fmt.Fprintf(o.Out, "%s deleted%s\n", apply.Ref(obj), suffix)
		}
		if release != nil {
			fmt.Fprintf(o.Out, "namespace/%s label %s released%s\n", o.namespace, desired.DataplaneModeLabel, suffix)
		}
		return nil
	}
	results, err := applier.Delete(ctx, found.Remove)
	for _, r := range results {
		fmt.Fprintf(o.Out, "%s %s%s\n", r.Ref, r.Action, suffix)
	}
	if err != nil {
		return err
	}
	if release != nil {
		after, err := applier.Release(ctx, release)
		if err != nil {
			return err
		}
		if _, still := after.GetLabels()[desired.DataplaneModeLabel]; still {
			_, others := apply.OwnsLabel(release, o.FieldManager, desired.DataplaneModeLabel)
			fmt.Fprintf(o.Out, "namespace/%s label %s kept: also set by %s%s\n", o.namespace, desired.DataplaneModeLabel, strings.Join(others, ", "), suffix)
		} else {
			fmt.Fprintf(o.Out, "namespace/%s label %s removed%s\n", o.namespace, desired.DataplaneModeLabel, suffix)
		}
	}
	if o.Wait {
		return applier.WaitGone(ctx, found.Remove, o.Timeout)
	}
	return nil
}
