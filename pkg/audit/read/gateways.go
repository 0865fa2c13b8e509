package read

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
)

// gatewaySide is what is read of one snapshot's gateways: the scope of its
// routing, and the reader of its credentials.
type gatewaySide struct {
	v       *snapshot.Scope
	secrets *secretReader
	// istioSecrets: the pods of its Istio Gateways were read, and with them
	// where Istio reads their credentials.
	istioSecrets bool
}

// readGatewaySides reads, for each snapshot's Gateways that route to its
// application, the pods an Istio Gateway selects, the credential Secrets
// they name and cert-manager's view of them. The pods come first: they say
// where Istio reads an Istio Gateway's credentials. Then every Secret the
// snapshots name is read at once (fetchSecrets), and each snapshot takes
// its own from what was read.
func (r *reader) readGatewaySides(ctx context.Context, snapshots []*snapshot.Snapshot) error {
	sides := make([]gatewaySide, len(snapshots))
	var named []string
	for i, s := range snapshots {
		v := s.PinScope()
		istioSecrets, err := readIstioGatewayPods(ctx, r.c, r.cache, v)
		if err != nil {
			return err
		}
		sides[i] = gatewaySide{v: v, istioSecrets: istioSecrets,
			secrets: &secretReader{kube: r.c.Kube, cache: r.cache, s: s, searched: map[string]bool{}}}
		named = append(named, sides[i].namedSecrets()...)
	}
	if err := r.cache.fetchSecrets(ctx, r.c.Kube, named); err != nil {
		return err
	}
	for _, side := range sides {
		if err := r.readCredentials(ctx, side); err != nil {
			return err
		}
	}
	return nil
}

// readCredentials reads the credential Secrets of one snapshot's Gateways,
// and the Certificates and Issuers where it looked for them.
func (r *reader) readCredentials(ctx context.Context, side gatewaySide) error {
	s := side.v.Snapshot()
	if side.istioSecrets {
		if err := readSecrets(ctx, side.v, side.secrets); err != nil {
			return err
		}
	}
	if err := readListenerSecrets(ctx, side.v, side.secrets); err != nil {
		return err
	}
	if s.Inherit(snapshot.InputCertificates, snapshot.InputSecrets) || s.APIs.CertManager == "" || len(side.secrets.searched) == 0 {
		return nil
	}
	return r.cache.readCertManager(ctx, r.c.Dynamic, slices.Sorted(maps.Keys(side.secrets.searched)), s)
}

// namedSecrets are the "namespace/name" of the Secrets the snapshot's
// Gateways name where Istio reads them: those readSecrets and
// readListenerSecrets read first. (A Secret missing there is then looked
// for in the Istio Gateway's own namespace, one by one: a rare mistake.)
// Nothing is named for Istio Gateways whose pods could not be read.
func (side gatewaySide) namedSecrets() []string {
	var out []string
	for _, t := range side.v.TLSListeners() {
		switch {
		case t.API != nil:
			out = append(out, snapshot.Key(t.SecretNamespaces[0], t.SecretName))
		case side.istioSecrets:
			for _, ns := range t.SecretNamespaces {
				out = append(out, snapshot.Key(ns, t.SecretName))
			}
		}
	}
	return out
}

// readListenerSecrets reads the Secrets the application's Gateway API
// HTTPS listeners name, in the certificateRef's namespace: istiod reads
// them there, whichever namespace the gateway pods run in. A Secret of
// another namespace is read even without a ReferenceGrant, to say what
// would be served once it is granted. Without the Gateways and routes
// there are none to read: the checks that need those are unknown.
func readListenerSecrets(ctx context.Context, v *snapshot.Scope, r *secretReader) error {
	for _, t := range v.TLSListeners() {
		if t.API == nil {
			continue
		}
		if _, err := r.get(ctx, t.SecretNamespaces[0], t.SecretName); err != nil {
			return err
		}
	}
	return nil
}

// readIstioGatewayPods reads, for each Istio Gateway that routes to the
// application, the pods it selects and whether their ServiceAccounts may
// read Secrets. What cannot be known without the Gateways,
// VirtualServices and istiod (which pods serve a Gateway) is not read, and
// is unread in their stead; so are the credential Secrets when the pods
// are. It reports whether the Istio Gateways' credentials are to be read.
func readIstioGatewayPods(ctx context.Context, c Clients, cache *readCache, v *snapshot.Scope) (bool, error) {
	s := v.Snapshot()
	if s.Inherit(snapshot.InputGatewayPods, snapshot.InputVirtualServices, snapshot.InputGateways, snapshot.InputIstiod) {
		for _, in := range []snapshot.Input{snapshot.InputSecrets, snapshot.InputSecretAccess, snapshot.InputCertificates} {
			s.Inherit(in, snapshot.InputGatewayPods)
		}
		return false, nil
	}
	for _, gw := range v.Gateways {
		if len(gw.Selector) == 0 {
			continue
		}
		got, err := cache.podsOf(ctx, c.Kube, labels.SelectorFromSet(gw.Selector).String())
		if err != nil {
			return false, fmt.Errorf("listing the pods of Gateway %s/%s: %w", gw.Namespace, gw.Name, err)
		}
		if got.refused {
			s.Deny(snapshot.InputGatewayPods, snapshot.Access{Verb: "list", Resource: "pods", AllNamespaces: true})
			break // every other Gateway's list is refused alike
		}
		s.GatewayPods[snapshot.Key(gw.Namespace, gw.Name)] = append(s.GatewayPods[snapshot.Key(gw.Namespace, gw.Name)], got.pods...)
	}
	if s.Inherit(snapshot.InputSecrets, snapshot.InputGatewayPods) {
		s.Inherit(snapshot.InputSecretAccess, snapshot.InputGatewayPods)
		s.Inherit(snapshot.InputCertificates, snapshot.InputGatewayPods)
		return false, nil
	}
	return true, readSecretAccess(ctx, c.Kube, cache, v, s)
}
