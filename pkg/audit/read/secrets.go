package read

import (
	"context"

	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/pkg/clients"
)

// secretReader reads credential Secrets by name into the snapshot, each
// once, and notes the namespaces where it found one.
type secretReader struct {
	kube  clients.Kube
	cache *readCache
	s     *snapshot.Snapshot
	// searched are the namespaces a Secret was looked for in: where
	// cert-manager's Certificates for them are read, so that a Secret not
	// yet written can be told from one nobody will write.
	searched map[string]bool
}

// get reads Secret ns/name and reports whether it exists; a refused read
// is recorded, and reported as absent.
func (r *secretReader) get(ctx context.Context, ns, name string) (bool, error) {
	if sec, done := r.s.Secrets[snapshot.Key(ns, name)]; done {
		return sec != nil, nil
	}
	got, err := r.cache.secret(ctx, r.kube, ns, name)
	switch {
	case err != nil:
		return false, err
	case got.refused:
		r.s.Deny(snapshot.InputSecrets, snapshot.Access{Verb: "get", Resource: "secrets", Name: name, Namespace: ns})
		return false, nil
	}
	r.searched[ns] = true
	if got.secret == nil {
		return false, nil
	}
	r.s.Secrets[snapshot.Key(ns, name)] = got.secret
	return true, nil
}

// readSecrets reads each HTTPS server's credential Secret where Istio reads
// it, the gateway pods' namespaces, and only when it is missing there, in the
// Gateway's own namespace, where people often put it by mistake.
func readSecrets(ctx context.Context, v *snapshot.Scope, r *secretReader) error {
	s := v.Snapshot()
	for _, t := range v.TLSListeners() {
		if t.Server == nil {
			continue
		}
		gs, name := *t.Server, t.SecretName
		present, refused := false, len(s.Unread[snapshot.InputSecrets])
		for _, ns := range v.GatewayPodNamespaces(gs.Gateway) {
			ok, err := r.get(ctx, ns, name)
			if err != nil {
				return err
			}
			present = present || ok
		}
		if !present && refused == len(s.Unread[snapshot.InputSecrets]) {
			if _, err := r.get(ctx, gs.Gateway.Namespace, name); err != nil {
				return err
			}
		}
	}
	return nil
}

// readSecretAccess asks the API server, for each ServiceAccount of the
// pods that serve the application's HTTPS servers, the question istiod
// asks before it hands a gateway its credential (CredentialsController.
// Authorize): may this user list Secrets in its own namespace? Like istiod
// it names the user only, no groups. One review per ServiceAccount.
func readSecretAccess(ctx context.Context, kube clients.Kube, cache *readCache, v *snapshot.Scope, s *snapshot.Snapshot) error {
	s.SecretAccess = map[string]bool{}
	asked := map[string]bool{}
	for _, gs := range v.HTTPSServers() {
		for _, p := range v.GatewayPods(gs.Gateway) {
			k := p.ServiceAccountKey()
			if asked[k] {
				continue
			}
			asked[k] = true
			allowed, err := cache.mayListSecrets(ctx, kube, k)
			if err != nil {
				return err
			}
			if cache.accessRefused {
				s.Deny(snapshot.InputSecretAccess, snapshot.SubjectAccessReview)
				return nil // every other review is refused alike
			}
			s.SecretAccess[k] = allowed
		}
	}
	return nil
}
