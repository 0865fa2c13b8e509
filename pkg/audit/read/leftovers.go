package read

import (
	"context"
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/pkg/ownership"
)

// Leftover is what kubectl opea secure left for a namespace that no longer
// exists. Deleting a namespace secured in the classic mode takes its
// Gateway, VirtualService and PeerAuthentication with it, but not the
// Issuers, Certificates and key Secrets in the gateway namespace:
// cert-manager renews those for ever. unsecure -n on the deleted
// namespace removes them.
type Leftover struct {
	Namespace string `json:"namespace"`
	// Objects are secure's Certificates and Issuers for the namespace, as
	// "certificate.cert-manager.io/<name> in <namespace>".
	Objects []string `json:"objects"`
	// Secrets are the Secrets those Certificates name, "<namespace>/<name>"
	// (not read: verify reads only the Secrets Gateways name).
	Secrets []string `json:"secrets,omitempty"`
	// Fix is the command that removes them.
	Fix string `json:"fix"`
}

// noteSecureObject records u, a Certificate or Issuer, when secure made it:
// its labels name the application namespace it serves.
func (c *readCache) noteSecureObject(u *unstructured.Unstructured) {
	l := u.GetLabels()
	ns := ownership.AppNamespace(l)
	if ns == "" {
		return
	}
	if c.secureObjects == nil {
		c.secureObjects = map[string]*Leftover{}
	}
	lo := c.secureObjects[ns]
	if lo == nil {
		lo = &Leftover{Namespace: ns, Fix: "kubectl opea unsecure -n " + ns}
		c.secureObjects[ns] = lo
	}
	lo.Objects = append(lo.Objects, fmt.Sprintf("%s.%s/%s in %s", strings.ToLower(u.GetKind()), u.GroupVersionKind().Group, u.GetName(), u.GetNamespace()))
	if secret, _, _ := unstructured.NestedString(u.Object, "spec", "secretName"); u.GetKind() == "Certificate" && secret != "" {
		lo.Secrets = append(lo.Secrets, snapshot.Key(u.GetNamespace(), secret))
	}
}

// leftovers are secure's objects whose application namespace no longer
// exists. They are looked for only when every namespace's Certificates
// and Issuers were listed, and not with a namespace selector: a namespace
// that does not exist matches none, and another's leftovers are not the
// audit's business.
func (r *reader) leftovers(ctx context.Context) ([]Leftover, error) {
	if r.o.NamespaceSelector != "" || !r.cache.certManagerListed {
		return nil, nil
	}
	var out []Leftover
	for ns, lo := range r.cache.secureObjects {
		exists, err := r.namespaceExists(ctx, ns)
		if err != nil {
			return nil, err
		}
		if !exists {
			sort.Strings(lo.Objects)
			sort.Strings(lo.Secrets)
			out = append(out, *lo)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Namespace < out[j].Namespace })
	return out, nil
}

// namespaceExists reports whether namespace ns exists, from the list of
// namespaces when there is one. One that may not be read is taken to
// exist: only a namespace known to be gone makes a leftover.
func (r *reader) namespaceExists(ctx context.Context, ns string) (bool, error) {
	if r.namespaceLabels != nil {
		_, ok := r.namespaceLabels[ns]
		return ok, nil
	}
	_, err := r.c.Kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case apierrors.IsForbidden(err):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("reading namespace %s: %w", ns, err)
	}
	return true, nil
}
