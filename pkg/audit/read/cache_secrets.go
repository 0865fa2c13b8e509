package read

import (
	"context"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/opea-project/kubectl-opea/pkg/audit/internal/workers"
	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/pkg/clients"
)

func newSecret(sec *corev1.Secret) *snapshot.Secret {
	return &snapshot.Secret{Namespace: sec.Namespace, Name: sec.Name, Type: string(sec.Type), Data: sec.Data, Annotations: sec.Annotations}
}

// secretWorkers is how many Secrets fetchSecrets reads at once.
const secretWorkers = 8

// fetchSecrets reads the Secrets named "namespace/name", each once, several
// at once, into the cache. They are read by name, never listed: a list
// returns every Secret of its namespace (or of the cluster), private keys
// included, whether a Gateway names it or not, and needs the right to read
// them all, where a GET needs only the right to read the named one (RBAC
// resourceNames). Sent at once, the GETs take the time of one; their
// number grows by one per credential a Gateway names, the only input that
// grows with the applications, and no read of other Secrets buys it back.
func (c *readCache) fetchSecrets(ctx context.Context, kube clients.Kube, names []string) error {
	var todo []string
	seen := map[string]bool{}
	for _, k := range names {
		if _, done := c.secrets[k]; !done && !seen[k] {
			seen[k] = true
			todo = append(todo, k)
		}
	}
	got := make([]cachedSecret, len(todo))
	errs := make([]error, len(todo))
	tasks := make([]func(context.Context), len(todo))
	for i, k := range todo {
		ns, name, _ := strings.Cut(k, "/")
		tasks[i] = func(ctx context.Context) { got[i], errs[i] = getSecret(ctx, kube, ns, name) }
	}
	workers.Run(ctx, secretWorkers, tasks)
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for i, k := range todo {
		c.secrets[k] = got[i]
	}
	return nil
}

// secret reads Secret ns/name, unless it was read already.
func (c *readCache) secret(ctx context.Context, kube clients.Kube, ns, name string) (cachedSecret, error) {
	k := snapshot.Key(ns, name)
	if got, ok := c.secrets[k]; ok {
		return got, nil
	}
	got, err := getSecret(ctx, kube, ns, name)
	if err != nil {
		return got, err
	}
	c.secrets[k] = got
	return got, nil
}

// getSecret reads Secret ns/name: absent and refused are answers, not
// errors.
func getSecret(ctx context.Context, kube clients.Kube, ns, name string) (cachedSecret, error) {
	sec, err := kube.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	var got cachedSecret
	switch {
	case apierrors.IsNotFound(err):
	case apierrors.IsForbidden(err):
		got.refused = true
	case err != nil:
		return got, fmt.Errorf("reading Secret %s/%s: %w", ns, name, err)
	default:
		got.secret = newSecret(sec)
	}
	return got, nil
}
