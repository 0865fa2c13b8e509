package plugin

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/yaml"

	"github.com/opea-project/kubectl-opea/pkg/buildinfo"
)

const versionExample = `  # Print the version, commit and Go version
  kubectl opea version

  # The same as JSON, for scripts
  kubectl opea version -o json`

// VersionOptions holds the flags of `kubectl opea version`.
type VersionOptions struct {
	Output string

	genericiooptions.IOStreams
}

// NewCmdVersion returns the `version` command. It never contacts a cluster.
func NewCmdVersion(streams genericiooptions.IOStreams) *cobra.Command {
	o := &VersionOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:     "version",
		Short:   "Print the version of kubectl-opea",
		Example: versionExample,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return usageError(cmd, err)
			}
			return o.Run()
		},
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "Output format: empty for text, json or yaml")
	_ = cmd.RegisterFlagCompletionFunc("output", fixedCompletions("json", "yaml"))
	return cmd
}

// Validate checks the output format.
func (o *VersionOptions) Validate() error {
	switch o.Output {
	case "", "json", "yaml":
		return nil
	}
	return fmt.Errorf("unsupported output format %q: use json or yaml, or omit -o for text", o.Output)
}

// Run prints the build information.
func (o *VersionOptions) Run() error {
	info := buildinfo.Get()
	switch o.Output {
	case "json":
		data, err := json.MarshalIndent(info, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(o.Out, "%s\n", data)
		return err
	case "yaml":
		data, err := yaml.Marshal(info)
		if err != nil {
			return err
		}
		_, err = o.Out.Write(data)
		return err
	}
	_, err := fmt.Fprintf(o.Out, "kubectl-opea %s (commit %s, %s, %s)\n",
		info.Version, info.Commit, info.GoVersion, info.Platform)
	return err
}
