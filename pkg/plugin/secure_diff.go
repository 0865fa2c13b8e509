package plugin

import (
	"context"
	"errors"

	"github.com/opea-project/kubectl-opea/pkg/objdiff"
	"github.com/opea-project/kubectl-opea/pkg/secure"
)

// errDifferences is --diff's exit code 1, as kubectl diff's: the diff
// printed says it all, so no error line follows it.
var errDifferences = errors.New("differences found")

// validateDiff refuses the flags --diff does not go with: it is a server
// dry run of its own, and prints a diff rather than objects.
func (o *SecureOptions) validateDiff() []string {
	if !o.Diff {
		return nil
	}
	var errs []string
	if o.DryRun != DryRunNone {
		errs = append(errs, "--diff shows the server's dry run of every change as a diff and cannot be used with --dry-run")
	}
	if !humanOutput(o.PrintFlags) {
		errs = append(errs, "--diff prints a diff and cannot be used with -o")
	}
	if o.Wait {
		errs = append(errs, "--diff writes nothing, so there is nothing to --wait for")
	}
	return errs
}

// printDiff asks the server's dry run of every change of plan, as secure
// would make it, and prints a diff per object that would change; it writes
// nothing. Something to show is errDifferences (exit code 1).
func (o *SecureOptions) printDiff(ctx context.Context, plan *secure.Plan) error {
	applier, err := newApplier(o.clients, o.FieldManager, true)
	if err != nil {
		return err
	}
	applier.Force = o.ForceConflicts
	applier.Stop = ctx.Done()
	changes, err := secure.Preview(ctx, applier, plan)
	if err != nil {
		return err
	}
	differs := false
	for _, c := range changes {
		changed, err := objdiff.Write(o.Out, c.Before, c.After)
		if err != nil {
			return err
		}
		differs = differs || changed
	}
	if differs {
		return &ExitError{Code: ExitFailure, Err: errDifferences}
	}
	return nil
}

// diffExit gives --diff kubectl diff's exit codes: 0 for no differences,
// 1 for differences, and above 1 for an error: a usage error stays 2, an
// interrupt 130, and every other failure, a precondition included, is 3:
// the diff could not be made.
func diffExit(err error) error {
	var exitErr *ExitError
	switch {
	case err == nil, errors.Is(err, errDifferences):
		return err
	case errors.As(err, &exitErr) && exitErr.Code != ExitFailure:
		return err
	case errors.As(err, &exitErr):
		return &ExitError{Code: ExitIncomplete, Err: exitErr.Err}
	}
	return &ExitError{Code: ExitIncomplete, Err: err}
}
