package plugin

import (
	"context"
	"errors"
	"fmt"

	"github.com/opea-project/kubectl-opea/pkg/audit/read"
	"github.com/opea-project/kubectl-opea/pkg/problems"
)

// noApplication is verify's answer for a namespace that holds nothing to
// audit (a bare verify audits "default"): rather than a report of every
// check failing, one line, and the namespaces that do hold an OPEA
// application, found as verify -A finds them (found). The audit could not
// run: exit code 3, as for a namespace that does not exist.
func noApplication(ns string, found []string) error {
	fix := "no namespace holds one: install the application first"
	if hint := read.SuggestNamespace(ns, found); hint != "" {
		fix = hint + "; kubectl opea verify -A verifies them all"
	}
	return problems.New(fmt.Sprintf("namespace %q holds no OPEA application (no <release>-nginx Service, no ingress route into it)", ns),
		fix+"; for an application that is not OPEA's, name its entry Service with --service")
}

// namespaceMissing adds to the error of a namespace that does not exist the
// namespaces holding an OPEA application, when there are some; other
// errors are returned as they are.
func namespaceMissing(ctx context.Context, c read.Clients, err error) error {
	var missing *read.NamespaceMissingError
	if !errors.As(err, &missing) {
		return err
	}
	found, findErr := read.FindAppNamespaces(ctx, c)
	hint := read.SuggestNamespace(missing.Namespace, found)
	if findErr != nil || hint == "" {
		return err
	}
	return problems.New(err.Error(), hint)
}
