package plugin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/opea-project/kubectl-opea/pkg/apply"
	"github.com/opea-project/kubectl-opea/pkg/clients"
	"github.com/opea-project/kubectl-opea/pkg/desired"
	"github.com/opea-project/kubectl-opea/pkg/discover"
	"github.com/opea-project/kubectl-opea/pkg/owned"
	"github.com/opea-project/kubectl-opea/pkg/problems"
)

const unsecureLong = `Remove exactly what "kubectl opea secure" applied for an application, and
nothing else.

unsecure deletes the objects that carry secure's labels for the namespace
(Gateway, VirtualService, PeerAuthentication, cert-manager Certificates and
Issuers, and the Secrets cert-manager wrote for them, found by the labels it
copies onto them even when their Certificate is gone). It releases the
namespace's istio.io/dataplane-mode label: the label goes only if secure set
it and nobody else did.

An object that existed before secure took it over stays: secure's own
fields are released, and what --force-conflicts took from another field
manager is given back to it with the value it had. Objects with the same
names but without secure's labels are never touched. Each is listed with the
reason.

Before deleting anything it checks that you may read and delete all of it,
and lists every missing permission at once. Interrupted, it can be run again:
it removes what is left. Running it again when nothing is left reports
nothing to do.`

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
	f.BoolVar(&o.Wait, "wait", false, "Wait until the deleted objects are gone (exit code 124 when --timeout passes)")
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
	if o.GatewayNamespace != "" {
		if _, err := dyn.Resource(namespacesGVR).Get(ctx, o.GatewayNamespace, metav1.GetOptions{}); apierrors.IsNotFound(err) {
			return problems.New(fmt.Sprintf("--gateway-namespace %s: namespace %q does not exist", o.GatewayNamespace, o.GatewayNamespace),
				"name the namespace of the ingress gateway pods, or leave --gateway-namespace out to search every namespace")
		}
	}
	opts := owned.Options{AppNamespace: o.namespace, GatewayNamespace: o.GatewayNamespace,
		KeepMTLS: o.KeepMTLS, FieldManager: o.FieldManager, APIs: apis}
	found, err := owned.Find(ctx, dyn, opts)
	if err != nil {
		return err
	}
	nothing := len(found.Remove) == 0 && len(found.Keep) == 0 && found.Namespace == nil
	if found.NamespaceMissing && nothing {
		return problems.New(fmt.Sprintf("namespace %q does not exist, and nothing of kubectl opea secure remains for it", o.namespace),
			"check -n (kubectl get namespaces)")
	}
	if elsewhere := owned.CertificatesElsewhere(ctx, dyn, opts, found); len(elsewhere) > 0 {
		return problems.New(
			fmt.Sprintf("secure's certificates for namespace %s are in namespace %s, not in --gateway-namespace %s", o.namespace, strings.Join(elsewhere, ", "), o.GatewayNamespace),
			fmt.Sprintf("kubectl opea unsecure -n %s --gateway-namespace %s (or leave --gateway-namespace out)", o.namespace, elsewhere[0]))
	}
	if found.NamespaceMissing {
		fmt.Fprintf(o.ErrOut, "Namespace %s does not exist: removing what kubectl opea secure left for it in the gateway namespace.\n", o.namespace)
	}
	applier, err := newApplier(o.clients, o.FieldManager, o.DryRun == "server")
	if err != nil {
		return err
	}

	suffix := map[string]string{"none": "", "server": " (server dry run)", "client": " (dry run)"}[o.DryRun]
	for _, n := range found.LeftAlone {
		fmt.Fprintf(o.Out, "%s left alone: %s\n", n.Ref, n.Why)
	}
	if nothing {
		fmt.Fprintf(o.Out, "Nothing to do: no object of kubectl opea secure remains for namespace %s.\n", o.namespace)
		o.hintOtherManager(found)
		return nil
	}

	release := slices.Clone(found.Keep)
	if found.Namespace != nil {
		release = append(release, found.Namespace)
	}
	if o.DryRun != "client" {
		if err := applier.CheckRemove(ctx, found.Remove, release); err != nil {
			return err
		}
	}
	if o.DryRun == "client" {
		for _, obj := range found.Remove {
			fmt.Fprintf(o.Out, "%s deleted%s\n", apply.Ref(obj), suffix)
		}
		for _, obj := range found.Keep {
			fmt.Fprintf(o.Out, "%s kept, secure's fields released%s: it existed before kubectl opea secure took it over\n", apply.Ref(obj), suffix)
		}
		if found.Namespace != nil {
			fmt.Fprintf(o.Out, "namespace/%s label %s released%s\n", o.namespace, desired.DataplaneModeLabel, suffix)
		}
		return nil
	}
	results, err := applier.Delete(ctx, found.Remove)
	for _, r := range results {
		fmt.Fprintf(o.Out, "%s %s%s\n", r.Ref, r.Action, suffix)
	}
	if err != nil {
		return unsecureInterrupted(err)
	}
	for _, obj := range found.Keep {
		if _, err := o.giveBackAndRelease(ctx, applier, found, obj, suffix); err != nil {
			return unsecureInterrupted(err)
		}
		fmt.Fprintf(o.Out, "%s kept, secure's fields released%s: it existed before kubectl opea secure took it over\n", apply.Ref(obj), suffix)
	}
	if ns := found.Namespace; ns != nil {
		after, err := o.giveBackAndRelease(ctx, applier, found, ns, suffix)
		if err != nil {
			return unsecureInterrupted(err)
		}
		o.reportNamespaceLabel(ns, after, suffix)
	}
	if o.Wait {
		err := applier.WaitGone(ctx, found.Remove, o.Timeout)
		var timeout *apply.TimeoutError
		if errors.As(err, &timeout) {
			return &ExitError{Code: ExitTimeout, Err: err}
		}
		return err
	}
	return nil
}

// giveBackAndRelease returns to their managers the fields secure took over
// in obj with --force-conflicts, then releases every field secure's
// managers own there: what they alone set goes, what others set too stays.
func (o *UnsecureOptions) giveBackAndRelease(ctx context.Context, applier *apply.Applier, found *owned.Found, obj *unstructured.Unstructured, suffix string) (*unstructured.Unstructured, error) {
	takeovers, err := apply.DecodeTakeovers(obj.GetAnnotations()[desired.TakeoversAnnotation])
	if err != nil {
		return nil, fmt.Errorf("reading annotation %s of %s: %w", desired.TakeoversAnnotation, apply.Ref(obj), err)
	}
	byManager := map[string][]apply.FieldValue{}
	var managers []string
	for _, t := range takeovers {
		// A field its owner set again since is theirs already.
		if !slices.ContainsFunc(found.Managers, func(m string) bool { return apply.Owns(obj, m, t.Path) }) {
			continue
		}
		if _, ok := byManager[t.Manager]; !ok {
			managers = append(managers, t.Manager)
		}
		byManager[t.Manager] = append(byManager[t.Manager], apply.FieldValue{Path: t.Path, Value: t.Value})
	}
	after := obj
	for _, m := range managers {
		if after, err = applier.GiveBack(ctx, after, m, byManager[m]); err != nil {
			return nil, err
		}
		for _, f := range byManager[m] {
			fmt.Fprintf(o.Out, "%s field %s given back to %s%s\n", apply.Ref(obj), strings.Join(f.Path, "."), m, suffix)
		}
	}
	for _, m := range found.Managers {
		if !slices.Contains(managersOf(after), m) {
			continue
		}
		if after, err = applier.ReleaseAs(ctx, after, m); err != nil {
			return nil, err
		}
	}
	return after, nil
}

func managersOf(obj *unstructured.Unstructured) []string {
	var out []string
	for _, mf := range obj.GetManagedFields() {
		if mf.Operation == metav1.ManagedFieldsOperationApply {
			out = append(out, mf.Manager)
		}
	}
	return out
}

// reportNamespaceLabel says what became of the ambient label.
func (o *UnsecureOptions) reportNamespaceLabel(before, after *unstructured.Unstructured, suffix string) {
	value, still := after.GetLabels()[desired.DataplaneModeLabel]
	switch {
	case !still:
		fmt.Fprintf(o.Out, "namespace/%s label %s removed%s\n", o.namespace, desired.DataplaneModeLabel, suffix)
	case before.GetLabels()[desired.DataplaneModeLabel] != value:
		fmt.Fprintf(o.Out, "namespace/%s label %s=%s restored%s\n", o.namespace, desired.DataplaneModeLabel, value, suffix)
	default:
		_, setBy := apply.OwnsLabel(after, "", desired.DataplaneModeLabel)
		fmt.Fprintf(o.Out, "namespace/%s label %s kept: also set by %s%s\n", o.namespace, desired.DataplaneModeLabel, strings.Join(setBy, ", "), suffix)
	}
}

// hintOtherManager says what to run when the namespace's ambient label, as
// secure sets it, was applied by a field manager unsecure did not look for:
// after secure with --field-manager, once every labelled object is gone.
func (o *UnsecureOptions) hintOtherManager(found *owned.Found) {
	ns := found.NamespaceObject
	if o.KeepMTLS || ns == nil || ns.GetLabels()[desired.DataplaneModeLabel] != "ambient" {
		return
	}
	for _, m := range apply.Appliers(ns, []string{"metadata", "labels", desired.DataplaneModeLabel}) {
		if !slices.Contains(found.Managers, m) {
			fmt.Fprintf(o.Out, "namespace/%s label %s=ambient is applied by field manager %s: if kubectl opea secure ran with --field-manager %s, run: kubectl opea unsecure -n %s --field-manager %s\n",
				o.namespace, desired.DataplaneModeLabel, m, m, o.namespace, m)
		}
	}
}

// unsecureInterrupted says that a rerun finishes what a failed unsecure
// started: everything left still carries secure's labels.
func unsecureInterrupted(err error) error {
	return problems.New(err.Error(), "fix the cause, then run the same command again: it removes what is left")
}

var namespacesGVR = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
