package plugin

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/opea-project/kubectl-opea/pkg/clients"
)

const completionLong = `Print a shell completion script for kubectl-opea.

As a kubectl plugin ("kubectl opea ..."), completion needs no script from this
command: kubectl (v1.26 or newer) completes plugins by running an executable
named kubectl_complete-opea from your PATH, and kubectl's own completion must be
set up. "make install" installs it next to kubectl-opea. krew does not link it: the
caveats "kubectl krew install" prints give the two lines that put it into
krew's bin folder.

The scripts printed here complete the standalone binary, "kubectl-opea ...".`

const completionExample = `  # Complete "kubectl-opea" in the current bash session
  source <(kubectl-opea completion bash)

  # Install for zsh
  kubectl-opea completion zsh > "${fpath[1]}/_kubectl-opea"`

func newCmdCompletion(streams genericiooptions.IOStreams) *cobra.Command {
	shells := []string{"bash", "zsh", "fish", "powershell"}
	return &cobra.Command{
		Use:                   "completion bash|zsh|fish|powershell",
		Short:                 "Print a shell completion script",
		Long:                  completionLong,
		Example:               completionExample,
		DisableFlagsInUseLine: true,
		ValidArgs:             shells,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError(cmd, fmt.Errorf("name one shell: %s", strings.Join(shells, ", ")))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			root := cmd.Root()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(streams.Out, true)
			case "zsh":
				return root.GenZshCompletion(streams.Out)
			case "fish":
				return root.GenFishCompletion(streams.Out, true)
			case "powershell":
				return root.GenPowerShellCompletionWithDesc(streams.Out)
			}
			return usageError(cmd, fmt.Errorf("unsupported shell %q: use one of %s", args[0], strings.Join(shells, ", ")))
		},
	}
}

// pathFlags are the flags whose values are files or folders: only they
// complete file names.
var pathFlags = map[string]bool{"kubeconfig": true, "cache-dir": true, "certificate-authority": true, "client-certificate": true, "client-key": true}

// completeNoFilesByDefault registers, for every flag of cmd and its
// subcommands that takes a value and has no completion of its own, an
// empty one: cobra's default, file names, makes no sense for a host, a
// Service or an issuer.
func completeNoFilesByDefault(cmd *cobra.Command) {
	register := func(f *pflag.Flag) {
		if pathFlags[f.Name] || f.NoOptDefVal != "" {
			return // a path, or a switch (--wait, --lockdown) that takes no value
		}
		if _, ok := cmd.GetFlagCompletionFunc(f.Name); ok {
			return
		}
		_ = cmd.RegisterFlagCompletionFunc(f.Name, fixedCompletions())
	}
	cmd.LocalNonPersistentFlags().VisitAll(register)
	cmd.PersistentFlags().VisitAll(register)
	for _, sub := range cmd.Commands() {
		completeNoFilesByDefault(sub)
	}
}

func fixedCompletions(values ...string) cobra.CompletionFunc {
	return func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return values, cobra.ShellCompDirectiveNoFileComp
	}
}

// registerKubeconfigCompletions completes -n from the cluster and --context,
// --cluster and --user from the kubeconfig, as kubectl does.
func registerKubeconfigCompletions(cmd *cobra.Command, flags *genericclioptions.ConfigFlags, getter clients.Getter) {
	_ = cmd.RegisterFlagCompletionFunc("namespace", func(c *cobra.Command, _ []string, prefix string) ([]cobra.Completion, cobra.ShellCompDirective) {
		kube, err := getter.Kubernetes()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		list, err := kube.CoreV1().Namespaces().List(contextOf(c), metav1.ListOptions{})
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var names []string
		for _, ns := range list.Items {
			if strings.HasPrefix(ns.Name, prefix) {
				names = append(names, ns.Name)
			}
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	})
	kubeconfigNames := func(pick func(contexts, clusters, users []string) []string) cobra.CompletionFunc {
		return func(_ *cobra.Command, _ []string, prefix string) ([]cobra.Completion, cobra.ShellCompDirective) {
			raw, err := flags.ToRawKubeConfigLoader().RawConfig()
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var contexts, clusters, users []string
			for name := range raw.Contexts {
				contexts = append(contexts, name)
			}
			for name := range raw.Clusters {
				clusters = append(clusters, name)
			}
			for name := range raw.AuthInfos {
				users = append(users, name)
			}
			var out []string
			for _, name := range pick(contexts, clusters, users) {
				if strings.HasPrefix(name, prefix) {
					out = append(out, name)
				}
			}
			sort.Strings(out)
			return out, cobra.ShellCompDirectiveNoFileComp
		}
	}
	_ = cmd.RegisterFlagCompletionFunc("context", kubeconfigNames(func(c, _, _ []string) []string { return c }))
	_ = cmd.RegisterFlagCompletionFunc("cluster", kubeconfigNames(func(_, c, _ []string) []string { return c }))
	_ = cmd.RegisterFlagCompletionFunc("user", kubeconfigNames(func(_, _, u []string) []string { return u }))
}

func contextOf(c *cobra.Command) context.Context {
	if ctx := c.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}
