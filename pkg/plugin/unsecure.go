package plugin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"

	"github.com/opea-project/kubectl-opea/pkg/apply"
	"github.com/opea-project/kubectl-opea/pkg/clients"
	"github.com/opea-project/kubectl-opea/pkg/desired"
	"github.com/opea-project/kubectl-opea/pkg/discover"
	"github.com/opea-project/kubectl-opea/pkg/owned"
	"github.com/opea-project/kubectl-opea/pkg/ownership"
)

const unsecureLong = `Remove exactly what "kubectl opea secure" applied for an application, and
nothing else.

unsecure deletes the objects that carry secure's labels for the namespace
(Istio's Gateway and VirtualService, or with secure --gateway-api the Gateway
API Gateway and HTTPRoutes, whose deployed gateway Istio then removes;
the AuthorizationPolicies of secure --lockdown; PeerAuthentication,
cert-manager Certificates and Issuers, and the Secrets
cert-manager wrote for them, found by the labels it copies onto them even
when their Certificate is gone). It releases the namespace's
istio.io/dataplane-mode label: the label goes only if secure set it and
nobody else did.

An object that existed before secure took it over stays: secure's own
fields are released, and what --force-conflicts took from another field
manager is given back to it with the value it had. Objects with the same
names but without secure's labels are never touched. Each is listed with the
reason.

Before deleting anything it checks that you may read and delete all of it,
and lists every missing permission at once; --print-rbac prints them as RBAC
objects. Interrupted (Ctrl-C lets the
deletion in flight finish, lists what was done and exits 130), it can be run
again: it removes what is left. Running it again when nothing is left
reports nothing to do.`

const unsecureExample = `  # Take ChatQnA back out of the TLS gateway and STRICT mTLS
  kubectl opea unsecure -n chatqna

  # Remove only the ingress TLS, keep STRICT mTLS, the lockdown and the mesh enrolment
  kubectl opea unsecure -n chatqna --keep-mtls

  # See what would go
  kubectl opea unsecure -n chatqna --dry-run=client

  # The Roles and ClusterRole to ask a cluster admin for
  kubectl opea unsecure --print-rbac -n chatqna --gateway-namespace istio-ingress`

// UnsecureOptions holds the flags and state of `kubectl opea unsecure`.
type UnsecureOptions struct {
	KeepMTLS         bool
	GatewayNamespace string
	DryRun           DryRunStrategy
	// PrintFlags hold -o: "" (a line per step) or "name" (the names of the
	// deleted objects, as kubectl delete -o name prints them).
	PrintFlags   *genericclioptions.PrintFlags
	FieldManager string
	Wait         bool
	Timeout      time.Duration
	// PrintRBAC prints the Roles and ClusterRole unsecure needs, and does
	// nothing else.
	PrintRBAC bool

	// Set by Complete.
	namespace string
	// printName prints a deleted object's name for -o name; nil without.
	printName printers.ResourcePrinterFunc

	clients clients.Getter
	genericiooptions.IOStreams
}

// NewUnsecureOptions returns unsecure's options with the flags' defaults.
func NewUnsecureOptions(getter clients.Getter, streams genericiooptions.IOStreams) *UnsecureOptions {
	return &UnsecureOptions{
		IOStreams: streams, clients: getter, PrintFlags: genericclioptions.NewPrintFlags(string(apply.Deleted)),
		FieldManager: ownership.ManagedByValue, Timeout: defaultTimeout,
	}
}

// NewCmdUnsecure returns the `unsecure` command.
func NewCmdUnsecure(getter clients.Getter, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewUnsecureOptions(getter, streams)
	cmd := &cobra.Command{
		Use:     "unsecure",
		Short:   "Remove exactly what secure applied for an OPEA application",
		Long:    unsecureLong,
		Example: unsecureExample,
		Args:    appArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			if o.PrintRBAC {
				return o.printRBAC(cmd)
			}
			if err := o.Validate(); err != nil {
				return usageError(cmd, err)
			}
			return o.Run(contextOf(cmd))
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.KeepMTLS, "keep-mtls", false, "Keep the PeerAuthentication, the lockdown's AuthorizationPolicies and the namespace's ambient label; remove only the ingress TLS")
	f.StringVar(&o.GatewayNamespace, "gateway-namespace", "", "Namespace of the ingress gateway pods, where the certificates are (the application namespace after secure --gateway-api; default: search every namespace)")
	addDryRunFlag(cmd, &o.DryRun, `"none" deletes; "server" sends every change with dryRun; "client" only lists what would go`)
	// Only -o of the print flags, as kubectl delete has it.
	f.StringVarP(o.PrintFlags.OutputFormat, "output", "o", "", "Output format: name (only the names of the deleted objects)")
	f.StringVar(&o.FieldManager, "field-manager", o.FieldManager, "Field manager secure applied with")
	f.BoolVar(&o.Wait, "wait", false, "Wait until the deleted objects are gone (exit code 124 if --timeout passes first)")
	f.DurationVar(&o.Timeout, "timeout", o.Timeout, timeoutUsage)
	f.BoolVar(&o.PrintRBAC, "print-rbac", false, "Print the Roles and the ClusterRole that grant what unsecure needs with these flags, for a cluster admin to apply and bind; contacts no cluster")
	_ = cmd.RegisterFlagCompletionFunc("output", fixedCompletions("name"))
	return cmd
}

// Complete reads the namespace from -n or the kubeconfig, and makes the
// printer of -o name.
func (o *UnsecureOptions) Complete() error {
	ns, err := namespaceOf(o.clients)
	if err != nil {
		return err
	}
	o.namespace = ns
	if o.output() == "name" {
		printer, err := o.PrintFlags.ToPrinter()
		if err != nil {
			return err
		}
		o.printName = printer.PrintObj
	}
	return nil
}

// output is -o's value.
func (o *UnsecureOptions) output() string { return *o.PrintFlags.OutputFormat }

// Validate checks the flags, all of them: it reports every problem at
// once, and changes nothing.
func (o *UnsecureOptions) Validate() error {
	var errs []string
	if out := o.output(); out != "" && out != "name" {
		errs = append(errs, fmt.Sprintf("unsupported output format %q: use name", out))
	}
	if o.Wait && o.DryRun != DryRunNone {
		errs = append(errs, "--wait cannot be used with --dry-run")
	}
	if o.Timeout <= 0 {
		errs = append(errs, fmt.Sprintf("invalid --timeout %s: give a duration above zero, e.g. 5m", o.Timeout))
	}
	errs = append(errs, validateNamespace(o.namespace)...)
	errs = append(errs, validateFieldManager(o.FieldManager)...)
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "\n"))
	}
	return nil
}

// reporter prints each step of removing found: a line per step, or with
// -o name the name of each object deleted, through -o's printer.
func (o *UnsecureOptions) reporter(found *owned.Found) func(owned.Step) {
	if o.printName == nil {
		return func(s owned.Step) { fmt.Fprintf(o.Out, "%s %s%s\n", s.Ref, s.What, o.DryRun.Suffix()) }
	}
	// Steps name objects; the printer takes them: those of one name, in
	// the order they are deleted.
	toDelete := map[string][]*unstructured.Unstructured{}
	for _, obj := range found.Remove {
		toDelete[apply.Ref(obj)] = append(toDelete[apply.Ref(obj)], obj)
	}
	return func(s owned.Step) {
		objs := toDelete[s.Ref]
		if s.What != string(apply.Deleted) || len(objs) == 0 {
			return
		}
		toDelete[s.Ref] = objs[1:]
		if err := o.printName(objs[0], o.Out); err != nil {
			fmt.Fprintln(o.Out, s.Ref) // a name printer fails only without a kind
		}
	}
}

// Run finds secure's objects, checks permissions, then removes them.
func (o *UnsecureOptions) Run(ctx context.Context) error {
	interrupt := ctx.Done()
	ctx, cancel := deadline(ctx, o.Timeout)
	defer cancel()
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
		return clients.Unreachable(clients.Host(o.clients), err)
	}
	apis, err := discover.ServedAPIs(disco)
	if err != nil {
		return err
	}
	if o.DryRun != DryRunClient {
		if err := o.checkPermissions(ctx, apis); err != nil {
			return err
		}
	}
	found, err := owned.Find(ctx, dyn, owned.Options{AppNamespace: o.namespace, GatewayNamespace: o.GatewayNamespace,
		KeepMTLS: o.KeepMTLS, FieldManager: o.FieldManager, APIs: apis})
	if err != nil {
		return err
	}
	if found.NamespaceMissing {
		fmt.Fprintf(o.ErrOut, "Namespace %s does not exist: removing what kubectl opea secure left for it in the gateway namespace.\n", o.namespace)
	}
	notes := o.Out
	if o.printName != nil {
		notes = o.ErrOut // stdout holds only names
	}
	for _, n := range found.LeftAlone {
		fmt.Fprintf(notes, "%s left alone: %s\n", n.Ref, n.Why)
	}
	if found.Nothing() {
		fmt.Fprintf(notes, "Nothing to do: no object of kubectl opea secure remains for namespace %s.\n", o.namespace)
		for _, m := range found.OtherManagers() {
			fmt.Fprintf(notes, "namespace/%s label %s=ambient is applied by field manager %s: if kubectl opea secure ran with --field-manager %s, run: kubectl opea unsecure -n %s --field-manager %s\n",
				o.namespace, desired.DataplaneModeLabel, m, m, o.namespace, m)
		}
		return nil
	}

	applier, err := newApplier(o.clients, o.FieldManager, o.DryRun == DryRunServer)
	if err != nil {
		return err
	}
	report := o.reporter(found)
	if o.DryRun == DryRunClient {
		for _, s := range found.Plan() {
			report(s)
		}
		return nil
	}
	if err := applier.CheckRemove(ctx, found.Remove, found.ToRelease()); err != nil {
		return o.withRBACFix(err, found)
	}
	applier.Stop = interrupt
	writeCtx, cancelWrites := surviveInterrupt(ctx)
	defer cancelWrites()
	if err := owned.Remove(writeCtx, applier, found, report); err != nil {
		if errors.Is(err, apply.ErrInterrupted) {
			err = fmt.Errorf("%w after the steps listed above", err)
		}
		return rerun(err, "the steps listed above are done", "it removes what is left")
	}
	if o.Wait {
		err := applier.WaitGone(ctx, found.Remove, timeLeft(ctx))
		return interruptedWaiting(commandTimeout(err, o.Timeout), "every deletion listed above is done")
	}
	return nil
}
