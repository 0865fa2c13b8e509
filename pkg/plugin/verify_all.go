package plugin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/opea-project/kubectl-opea/pkg/audit"
	"github.com/opea-project/kubectl-opea/pkg/audit/probe"
	"github.com/opea-project/kubectl-opea/pkg/audit/read"
	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/pkg/await"
)

// runAll audits every namespace holding an OPEA application (-A), renders
// the summary and returns an error whose exit code is the verdict: 1 when
// a namespace failed, 3 when one could not be fully verified.
func (o *VerifyOptions) runAll(ctx context.Context, c read.Clients) error {
	var fleet *audit.FleetResult
	read := read.ReadOptions{AllNamespaces: true, NamespaceSelector: o.Selector, MinValidity: o.MinValidity}
	auditAll := func(ctx context.Context) (bool, string, error) {
		var err error
		fleet, err = audit.AuditAll(ctx, c, read, probe.Options{Timeout: o.ProbeTimeout}, o.Probe)
		if err != nil {
			return false, "", err
		}
		failing := audit.FleetFailing(fleet.Namespaces)
		if failing != "" && o.Wait {
			fmt.Fprintf(o.ErrOut, "Waiting for %s...\n", failing)
		}
		return failing == "", failing + " failing", nil
	}
	var err error
	if !o.Wait {
		_, _, err = auditAll(ctx)
	} else {
		err = commandTimeout(await.Until(ctx, timeLeft(ctx), 2*time.Second, "every check of every OPEA namespace to pass", auditAll), o.Timeout)
	}
	var timeout *await.TimeoutError
	if err != nil && (!errors.As(err, &timeout) || fleet == nil) {
		// fleet is nil when the time ran out before one audit finished.
		return o.couldNotRun(err)
	}
	if err := o.renderAll(fleet); err != nil {
		return err
	}
	var failing, incomplete int
	for _, r := range fleet.Namespaces {
		switch r.Verdict() {
		case audit.VerdictFailing:
			failing++
		case audit.VerdictIncomplete, audit.VerdictUnreadable:
			incomplete++
		}
	}
	of := audit.Count(len(fleet.Namespaces), "OPEA namespace")
	switch {
	case timeout != nil:
		return timeout
	case failing > 0:
		return &ExitError{Code: ExitFailure, Err: fmt.Errorf("%d of %s failed: %s", failing, of, audit.FleetFailing(fleet.Namespaces))}
	case incomplete > 0:
		return &ExitError{Code: ExitIncomplete, Err: fmt.Errorf("%d of %s could not be fully verified: you lack permissions to read what they need (listed in the report)", incomplete, of)}
	case len(fleet.Unsearched) > 0:
		return &ExitError{Code: ExitIncomplete, Err: fmt.Errorf("could not look for OPEA applications everywhere: you may not %s", snapshot.AccessList(fleet.Unsearched))}
	}
	return nil
}

func (o *VerifyOptions) renderAll(fleet *audit.FleetResult) error {
	if len(fleet.Namespaces) == 0 && len(fleet.Unsearched) == 0 && !o.document() {
		// As kubectl's "No resources found": on stderr, and not an error.
		if o.Selector != "" {
			fmt.Fprintf(o.ErrOut, "No OPEA application found in the namespaces matching %s.\n", o.Selector)
		} else {
			fmt.Fprintln(o.ErrOut, "No OPEA application found: no namespace holds a <release>-nginx Service beside its <release> megaservice, an ingress route to one, or objects of kubectl opea secure.")
		}
		if len(fleet.Leftovers) == 0 {
			return nil
		}
	}
	switch o.Output {
	case "json", "yaml":
		return o.renderDocument(audit.NewFleetReport(o.Selector, fleet))
	case "short":
		return audit.RenderFleetShort(o.Out, fleet)
	}
	return audit.RenderFleetTable(o.Out, fleet, o.style())
}
