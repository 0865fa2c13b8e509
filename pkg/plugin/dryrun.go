package plugin

import (
	"fmt"

	"github.com/spf13/cobra"
)

// DryRunStrategy is what --dry-run asks for, as kubectl's
// cmdutil.DryRunStrategy.
type DryRunStrategy int

const (
	// DryRunNone writes.
	DryRunNone DryRunStrategy = iota
	// DryRunClient sends nothing: it prints what would be sent.
	DryRunClient
	// DryRunServer sends every write with dryRun=All: the server validates
	// and answers, and stores nothing.
	DryRunServer
)

var dryRunNames = []string{"none", "client", "server"}

// Suffix marks an action printed for a dry run, as kubectl does.
func (d DryRunStrategy) Suffix() string {
	return [...]string{"", " (dry run)", " (server dry run)"}[d]
}

// dryRunValue parses --dry-run straight into a DryRunStrategy, so that a
// bad value is a flag error, refused before anything runs.
type dryRunValue struct{ strategy *DryRunStrategy }

func (v dryRunValue) String() string { return dryRunNames[*v.strategy] }
func (v dryRunValue) Type() string   { return "string" }

func (v dryRunValue) Set(s string) error {
	for i, name := range dryRunNames {
		if s == name {
			*v.strategy = DryRunStrategy(i)
			return nil
		}
	}
	return fmt.Errorf(`use "none", "client" or "server"`)
}

func addDryRunFlag(cmd *cobra.Command, strategy *DryRunStrategy, usage string) {
	cmd.Flags().Var(dryRunValue{strategy}, "dry-run", usage)
	_ = cmd.RegisterFlagCompletionFunc("dry-run", fixedCompletions(dryRunNames...))
}
