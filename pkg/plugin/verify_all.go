package plugin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/opea-project/kubectl-opea/pkg/audit"
	"github.com/opea-project/kubectl-opea/pkg/await"
)

// runAll audits every namespace holding an OPEA application (-A), renders
// the summary and returns an error whose exit code is the verdict: 1 when
// a namespace failed, 3 when one could not be fully verified.
func (o *VerifyOptions) runAll(ctx context.Context, c audit.Clients) error {
	var results []audit.NamespaceResult
	read := audit.ReadOptions{AllNamespaces: true, NamespaceSelector: o.Selector, EntryService: o.Service, EntryPort: o.Port, MinValidity: o.MinValidity}
	auditAll := func(ctx context.Context) (bool, string, error) {
		var err error
		results, err = audit.AuditAll(ctx, c, read, audit.ProbeOptions{Timeout: o.ProbeTimeout}, o.Probe)
		if err != nil {
			return false, "", err
		}
		failing := audit.FleetFailing(results)
		if failing != "" && o.Wait {
			fmt.Fprintf(o.ErrOut, "Waiting for %s...\n", failing)
		}
		return failing == "", failing + " failing", nil
	}
	var err error
	if !o.Wait {
		_, _, err = auditAll(ctx)
	} else {
		err = await.Until(ctx, o.Timeout, 2*time.Second, "every check of every OPEA namespace to pass", auditAll)
	}
	var timeout *await.TimeoutError
	if err != nil && !errors.As(err, &timeout) {
		return o.couldNotRun(err)
	}
	if err := o.renderAll(results); err != nil {
		return err
	}
	var failing, incomplete int
	for _, r := range results {
		switch r.Verdict() {
		case audit.VerdictFailing:
			failing++
		case audit.VerdictIncomplete, audit.VerdictUnreadable:
			incomplete++
		}
	}
	switch {
	case timeout != nil:
		return timeout
	case failing > 0:
		return &ExitError{Code: ExitFailure, Err: fmt.Errorf("%d of %s failed: %s", failing, audit.Count(len(results), "OPEA namespace"), audit.FleetFailing(results))}
	case incomplete > 0:
		return &ExitError{Code: ExitIncomplete, Err: fmt.Errorf("%d of %s could not be fully verified: you lack permissions to read what they need (listed in the report)", incomplete, audit.Count(len(results), "OPEA namespace"))}
	}
	return nil
}

func (o *VerifyOptions) renderAll(results []audit.NamespaceResult) error {
	if len(results) == 0 && o.Output != "json" {
		where := "in any namespace"
		if o.Selector != "" {
			where = "in the namespaces matching " + o.Selector
		}
		// As kubectl's "No resources found": on stderr, and not an error.
		fmt.Fprintf(o.ErrOut, "No OPEA application found %s: none holds a <release>-nginx Service, an ingress route into it, or objects of kubectl opea secure.\n", where)
		return nil
	}
	switch o.Output {
	case "json":
		return audit.RenderJSON(o.Out, audit.NewFleetReport(o.Selector, results))
	case "short":
		return audit.RenderFleetShort(o.Out, results)
	}
	return audit.RenderFleetTable(o.Out, results, o.style())
}
