// Command kubectl-opea is a kubectl plugin that secures OPEA GenAI
// applications with Istio. Run it as "kubectl opea".
package main

import (
	"os"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/opea-project/kubectl-opea/pkg/plugin"
)

func main() {
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	ctx, stop := plugin.InterruptContext(streams.ErrOut)
	err := plugin.NewCmdOpea(streams).ExecuteContext(ctx)
	stop()
	plugin.PrintError(streams.ErrOut, err)
	os.Exit(plugin.ExitCode(err))
}
