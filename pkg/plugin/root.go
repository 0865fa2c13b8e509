// Package plugin holds the cobra commands of kubectl-opea and nothing else:
// each command is an Options struct with Complete, Validate and Run that
// writes only to its IOStreams.
package plugin

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/rest"

	"github.com/opea-project/kubectl-opea/pkg/apply"
	"github.com/opea-project/kubectl-opea/pkg/await"
	"github.com/opea-project/kubectl-opea/pkg/clients"
)

const rootLong = `kubectl opea puts an OPEA GenAI application (ChatQnA, CodeTrans, AudioQnA, ...)
behind Istio: a TLS ingress gateway with a certificate clients can validate,
routing to the application's entry Service, ambient-mode enrolment and STRICT
mutual TLS between its pods.

It works on the cluster your kubeconfig names, with the usual kubectl flags
(--kubeconfig, --context, -n/--namespace, --as, ...).`

const rootExample = `  # Secure the ChatQnA application in namespace chatqna
  kubectl opea secure -n chatqna --host chatqna.example.com

  # Prove that it is secured, for CI
  kubectl opea verify -n chatqna -o json

  # Take it back out, exactly
  kubectl opea unsecure -n chatqna

  # Show the version of the plugin
  kubectl opea version

  # Use another kubeconfig and context for any command
  kubectl opea --kubeconfig ~/.kube/lab --context lab-admin version`

// ClientsFunc turns the kubeconfig flags into the clients a command uses.
// Production code uses clients.New; tests substitute fakes.
type ClientsFunc func(genericclioptions.RESTClientGetter) clients.Getter

// NewCmdOpea returns the root command with the clients built from the
// kubeconfig flags.
func NewCmdOpea(streams genericiooptions.IOStreams) *cobra.Command {
	return NewCmdOpeaWithClients(streams, clients.New)
}

// NewCmdOpeaWithClients returns the root command, building clients with
// newClients. It is the seam tests use to inject fake or real clients.
func NewCmdOpeaWithClients(streams genericiooptions.IOStreams, newClients ClientsFunc) *cobra.Command {
	silenceClientLogs()
	running := &commandRun{requests: clients.NewRecorder()}
	configFlags := genericclioptions.NewConfigFlags(true)
	configFlags.WrapConfigFn = func(cfg *rest.Config) *rest.Config {
		cfg = liftClientRateLimit(cfg)
		// Discovery's requests take no context, so the command's deadline
		// cannot end them: each request is bounded by --timeout instead,
		// unless --request-timeout sets a bound of its own.
		if cfg.Timeout == 0 {
			cfg.Timeout = running.timeout
		}
		// The API server's warnings (a deprecated API, say) are for the
		// user, as kubectl prints them; client-go's logs are not.
		cfg.WarningHandler = rest.NewWarningWriter(streams.ErrOut, rest.WarningWriterOptions{Deduplicate: true})
		running.requests.Wrap(cfg)
		cfg.Wrap(running.cutReads)
		return cfg
	}
	getter := newClients(configFlags)

	cmd := &cobra.Command{
		Use:     "kubectl-opea",
		Short:   "Secure OPEA GenAI applications with Istio",
		Long:    rootLong,
		Example: rootExample,
		Annotations: map[string]string{
			// Help and usage then read "kubectl opea ...", as a user types it.
			cobra.CommandDisplayNameAnnotation: "kubectl opea",
		},
		SilenceUsage:  true,
		SilenceErrors: true,
		// The root command does nothing by itself but show help.
		Args: unknownCommand,
		// cobra's own default, which it sets only where it checks the
		// arguments itself.
		SuggestionsMinimumDistance: 2,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	cmd.SetIn(streams.In)
	cmd.SetOut(streams.Out)
	cmd.SetErr(streams.ErrOut)
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError(c, err)
	})
	// Every command's kubeconfig flags are checked before it runs, so that a
	// bad value is a usage error naming the flag.
	cmd.PersistentPreRunE = func(c *cobra.Command, _ []string) error {
		if t := configFlags.Timeout; t != nil && *t != "" {
			if err := validateRequestTimeout(*t); err != nil {
				return usageError(c, fmt.Errorf("invalid --request-timeout %q: %v", *t, err))
			}
		}
		if err := validateImpersonation(configFlags); err != nil {
			return usageError(c, err)
		}
		return nil
	}

	configFlags.AddFlags(cmd.PersistentFlags())
	registerKubeconfigCompletions(cmd, configFlags, getter)

	cmd.AddCommand(NewCmdSecure(getter, streams))
	cmd.AddCommand(NewCmdVerify(getter, contextClients(configFlags, newClients), streams))
	cmd.AddCommand(NewCmdUnsecure(getter, streams))
	cmd.AddCommand(NewCmdVersion(streams))
	cmd.AddCommand(newCmdCompletion(streams))
	completeNoFilesByDefault(cmd)
	for _, c := range cmd.Commands() {
		if c.RunE != nil {
			c.RunE = running.explainFailures(c.RunE)
		}
	}
	return cmd
}

// liftClientRateLimit turns off client-go's default limit of 5 requests
// per second (QPS -1), which would make a secure run, or verify -A reading
// one credential Secret per application, wait seconds for nothing. What
// the commands send at once is bounded by their own design (a fixed set of
// concurrent lists, eight Secret reads at a time, --parallel contexts), and
// the API server's priority and fairness queues the rest, as it does for
// controller-runtime's clients, which send without a client-side limit by
// default. A kubeconfig that sets its own limits keeps them.
func liftClientRateLimit(cfg *rest.Config) *rest.Config {
	if cfg.QPS == 0 && cfg.Burst == 0 && cfg.RateLimiter == nil {
		cfg.QPS = -1
	}
	return cfg
}

// validateRequestTimeout accepts what client-go does for --request-timeout:
// a whole number of seconds, or a duration such as 30s; zero means none.
func validateRequestTimeout(s string) error {
	if _, err := strconv.Atoi(s); err == nil {
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return errors.New("give seconds (30) or a duration (30s, 2m); 0 for none")
	}
	return nil
}

// namespaceOf is the namespace a command acts on: -n, else the kubeconfig
// context's namespace, else "default", as kubectl does. Reading it is the
// first use of the kubeconfig, so its problems are explained here.
func namespaceOf(getter clients.Getter) (string, error) {
	ns, _, err := getter.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return "", clients.KubeconfigProblem(err)
	}
	return ns, nil
}

// newApplier builds the writer secure and unsecure share.
func newApplier(getter clients.Getter, fieldManager string, serverDryRun bool) (*apply.Applier, error) {
	kube, err := getter.Kubernetes()
	if err != nil {
		return nil, err
	}
	dyn, err := getter.Dynamic()
	if err != nil {
		return nil, err
	}
	mapper, err := getter.ToRESTMapper()
	if err != nil {
		return nil, err
	}
	return &apply.Applier{
		Dynamic:      dyn,
		Mapper:       mapper,
		Access:       kube.AuthorizationV1().SelfSubjectAccessReviews(),
		FieldManager: fieldManager,
		DryRun:       serverDryRun,
	}, nil
}

// ExitError carries the process exit code that an error stands for.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// Exit codes shared by every command.
const (
	// ExitFailure: the command ran and failed (the default for any error).
	ExitFailure = 1
	// ExitUsage: bad flags or arguments; nothing was attempted.
	ExitUsage = 2
	// ExitIncomplete: the command could not run: the cluster unreachable,
	// failing, too slow for --timeout or refusing the credentials; for
	// verify also the namespace missing, or not every check could run
	// (reads refused) and nothing it ran failed.
	ExitIncomplete = 3
	// ExitTimeout: a --wait ran out of time, as cmctl and timeout(1) use.
	ExitTimeout = 124
	// ExitInterrupted: stopped by Ctrl-C (SIGINT) or SIGTERM, as a shell
	// reports a process that SIGINT ended.
	ExitInterrupted = 130
)

func usageError(cmd *cobra.Command, err error) error {
	return &ExitError{
		Code: ExitUsage,
		Err:  fmt.Errorf("%w\nSee '%s --help' for usage", err, cmd.CommandPath()),
	}
}

// unknownCommand is the root command's Args: the root takes no arguments,
// so a word is a mistyped subcommand, reported as cobra and kubectl do, with
// the subcommands it is close to. (A custom Args replaces cobra's own check,
// and with it the suggestions.)
func unknownCommand(root *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], root.CommandPath())
	if suggestions := root.SuggestionsFor(args[0]); len(suggestions) > 0 {
		msg += "\n\nDid you mean this?\n\t" + strings.Join(suggestions, "\n\t") + "\n"
	}
	return usageError(root, errors.New(msg))
}

// noArgs rejects positional arguments as a usage error: every command takes
// its input from flags, and a stray word is most often a misplaced value.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError(cmd, fmt.Errorf("%s takes no arguments, got %q", cmd.CommandPath(), strings.Join(args, " ")))
	}
	return nil
}

// appArgs is noArgs for the commands that act on an application's
// namespace: a single word there is most often the namespace, or with
// secure the host, given without its flag, and the error says which flag
// it goes with.
func appArgs(cmd *cobra.Command, args []string) error {
	if len(args) != 1 {
		return noArgs(cmd, args)
	}
	word := args[0]
	flag := ""
	switch {
	case cmd.Flags().Lookup("host") != nil && strings.Contains(word, "."):
		flag = "--host " + word
	case len(validation.IsDNS1123Label(word)) == 0:
		flag = "-n " + word
	default:
		return noArgs(cmd, args)
	}
	return usageError(cmd, fmt.Errorf("%s takes no arguments, got %q: did you mean %s %s?", cmd.CommandPath(), word, cmd.CommandPath(), flag))
}

// ExitCode maps an error returned by a command to the process exit code.
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	var exitErr *ExitError
	if errors.As(err, &exitErr) {
		return exitErr.Code
	}
	var timeout *await.TimeoutError
	if errors.As(err, &timeout) {
		return ExitTimeout
	}
	var cluster *clients.ClusterError
	if errors.As(err, &cluster) {
		return ExitIncomplete
	}
	return ExitFailure
}

// PrintError writes err the way kubectl does: "error: <message>".
// A --diff that found differences prints no error: its diff says so.
func PrintError(w io.Writer, err error) {
	if err != nil && !errors.Is(err, errDifferences) {
		fmt.Fprintf(w, "error: %v\n", err)
	}
}
