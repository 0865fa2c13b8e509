package secure

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/opea-project/kubectl-opea/pkg/apply"
	"github.com/opea-project/kubectl-opea/pkg/await"
	"github.com/opea-project/kubectl-opea/pkg/certmanager"
	"github.com/opea-project/kubectl-opea/pkg/clients"
	"github.com/opea-project/kubectl-opea/pkg/desired"
	"github.com/opea-project/kubectl-opea/pkg/owned"
	"github.com/opea-project/kubectl-opea/pkg/ownership"
)

// PartialError is a write that failed after others succeeded: Applied
// lists those, and a rerun applies the rest.
type PartialError struct {
	Applied []apply.Result
	Total   int
	Err     error
}

func (e *PartialError) Error() string {
	return fmt.Sprintf("%v (%d of %d objects applied)", e.Err, len(e.Applied), e.Total)
}

func (e *PartialError) Unwrap() error { return e.Err }

// Apply checks that every object of the plan may be written (permissions,
// field ownership, the server's validation and admission, all before the
// first write) and that the objects plan.Unlock lists may be removed, hands
// preview the objects as the server's dry run answered them (an error
// there stops it with nothing written), marks what it adopts and records
// what a forced apply takes over, then applies them in order, and last
// removes those objects as unsecure does, telling report each step. A
// write failing part-way, or the applier stopped, returns a *PartialError.
func Apply(ctx context.Context, applier *apply.Applier, plan *Plan, report func(owned.Step), preview func([]*unstructured.Unstructured) error) ([]apply.Result, error) {
	checked, err := prepare(ctx, applier, plan, preview)
	if err != nil {
		return nil, err
	}
	results, err := applier.Apply(ctx, plan.Objects, checked)
	if err != nil {
		return nil, &PartialError{Applied: results, Total: len(plan.Objects), Err: err}
	}
	// Removed last: until everything else is in place, the lockdown stays.
	if unlock := plan.Unlock; unlock != nil {
		if err := owned.Remove(ctx, applier, unlock, report); err != nil {
			return nil, &PartialError{Applied: results, Total: len(plan.Objects), Err: err}
		}
	}
	return results, nil
}

// prepare is what Apply does before its first write: the checks, the
// preview, and the marks on the objects of what they adopt and take over.
func prepare(ctx context.Context, applier *apply.Applier, plan *Plan, preview func([]*unstructured.Unstructured) error) ([]apply.Checked, error) {
	checked, err := applier.Check(ctx, plan.Objects)
	if err != nil {
		return nil, err
	}
	if unlock := plan.Unlock; unlock != nil {
		if err := applier.CheckRemove(ctx, unlock.Remove, unlock.ToRelease()); err != nil {
			return nil, err
		}
	}
	if preview != nil {
		answers := make([]*unstructured.Unstructured, len(plan.Objects))
		for i, obj := range plan.Objects {
			answers[i] = obj
			if checked[i].Answer != nil {
				answers[i] = checked[i].Answer
			}
		}
		if err := preview(answers); err != nil {
			return nil, err
		}
	}
	markAdopted(plan.Objects, checked)
	if err := recordTakeovers(plan.Objects, checked); err != nil {
		return nil, err
	}
	return checked, nil
}

// Preview returns what Apply would do, without writing: applier must send
// dry runs. It checks what Apply checks, then returns every object of the
// plan as it is (nil: absent) and as the server answers the dry run of its
// apply, with the same field manager and --force-conflicts, marked as Apply
// marks it; then each object plan.Unlock lists, as its removal would leave
// it (owned.Preview).
func Preview(ctx context.Context, applier *apply.Applier, plan *Plan) ([]owned.Change, error) {
	if !applier.DryRun {
		return nil, fmt.Errorf("secure.Preview needs a dry-run applier")
	}
	checked, err := prepare(ctx, applier, plan, nil)
	if err != nil {
		return nil, err
	}
	results, err := applier.Apply(ctx, plan.Objects, checked)
	if err != nil {
		return nil, err
	}
	changes := make([]owned.Change, len(results))
	for i, r := range results {
		changes[i] = owned.Change{Before: checked[i].Existing, After: r.Object}
	}
	if plan.Unlock != nil {
		removed, err := owned.Preview(ctx, applier, plan.Unlock)
		if err != nil {
			return nil, err
		}
		changes = append(changes, removed...)
	}
	return changes, nil
}

// WaitForCertificate waits until cert-manager reports the gateway's
// Certificate Ready and its Secret holds a certificate, or timeout passes
// (an *await.TimeoutError). With an existing Secret there is nothing to
// wait for.
func WaitForCertificate(ctx context.Context, kube clients.Kube, dyn dynamic.Interface, plan *Plan, timeout time.Duration) error {
	if plan.Params.Certificates == desired.ExistingSecret {
		return nil
	}
	names := ownership.NamesFor(plan.Params.AppNamespace)
	ns := plan.Params.GatewayNamespace
	what := fmt.Sprintf("certificate %s/%s to be issued; see 'kubectl describe certificate %s -n %s'", ns, names.Certificate, names.Certificate, ns)
	return await.Until(ctx, timeout, time.Second, what, func(ctx context.Context) (bool, string, error) {
		cert, err := dyn.Resource(certmanager.Certificates).Namespace(ns).Get(ctx, names.Certificate, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, "not found yet", nil
		}
		if err != nil {
			return false, "", err
		}
		ready, message := certmanager.Ready(cert)
		if !ready {
			return false, message, nil
		}
		secret, err := kube.CoreV1().Secrets(ns).Get(ctx, names.TLSSecret, metav1.GetOptions{})
		if err == nil && len(secret.Data["tls.crt"]) > 0 {
			return true, "", nil
		}
		return false, "Ready, but Secret " + names.TLSSecret + " holds no certificate yet", nil
	})
}
