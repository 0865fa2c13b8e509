package plugin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/opea-project/kubectl-opea/pkg/audit"
	"github.com/opea-project/kubectl-opea/pkg/audit/read"
	"github.com/opea-project/kubectl-opea/pkg/audit/report"
	"github.com/opea-project/kubectl-opea/pkg/await"
)

// runAll audits every namespace holding an OPEA application (-A), renders
// the summary and returns an error whose exit code is the verdict: 1 when
// a namespace failed, 3 when one could not be fully verified.
func (o *VerifyOptions) runAll(ctx context.Context, c read.Clients) error {
	fleet, err := o.auditAll(ctx, c)
	var timeout *await.TimeoutError
	if err != nil && (!errors.As(err, &timeout) || fleet == nil) {
		// fleet is nil when the time ran out before one audit finished.
		return o.couldNotRun(err)
	}
	if err := o.renderAll(fleet); err != nil {
		return err
	}
	if timeout != nil {
		return timeout
	}
	return verdictError(fleet.Verdict(), fleet.Err())
}

// auditAll audits every namespace once or, with --wait, until none fails.
func (o *VerifyOptions) auditAll(ctx context.Context, c read.Clients) (*audit.FleetResult, error) {
	var fleet *audit.FleetResult
	once := func(ctx context.Context) (bool, string, error) {
		var err error
		fleet, err = audit.AuditAll(ctx, c, read.ReadOptions{AllNamespaces: true, NamespaceSelector: o.Selector, MinValidity: o.MinValidity, WarnExpiry: o.WarnExpiry, ExtraPrincipals: o.AsPrincipals},
			o.probeOptions(o.clients, c), o.Probe)
		if err != nil {
			return false, "", err
		}
		failing := fleet.Failing()
		if failing != "" && o.Wait {
			fmt.Fprintf(o.ErrOut, "Waiting for %s...\n", failing)
		}
		return failing == "", failing + " failing", nil
	}
	if !o.Wait {
		_, _, err := once(ctx)
		return fleet, err
	}
	return fleet, commandTimeout(await.Until(ctx, timeLeft(ctx), 2*time.Second, "every check of every OPEA namespace to pass", once), o.Timeout)
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
		return o.renderDocument(report.NewFleet(o.Selector, fleet))
	case "short":
		return report.FleetShort(o.Out, fleet)
	}
	return report.FleetTable(o.Out, fleet, o.style())
}
