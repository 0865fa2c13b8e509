package secure

import (
	"context"

	"github.com/opea-project/kubectl-opea/pkg/audit/read"
)

// missingNamespaceFix is the fix for a -n that names no namespace, most
// often a typo: the namespaces that hold an OPEA application, found as
// verify -A finds them. When none is found, or they cannot be read, the
// application is to be installed first.
func (p *planner) missingNamespaceFix(ctx context.Context) string {
	const install = "install the application first, or name its namespace with -n"
	c, err := p.auditClients()
	if err != nil {
		return install
	}
	found, err := read.FindAppNamespaces(ctx, c)
	if hint := read.SuggestNamespace(p.Namespace, found); err == nil && hint != "" {
		return hint
	}
	return install
}

// auditClients are the clients audit.FindAppNamespaces reads with.
func (p *planner) auditClients() (read.Clients, error) {
	kube, err := p.clients.Kubernetes()
	if err != nil {
		return read.Clients{}, err
	}
	dyn, err := p.clients.Dynamic()
	if err != nil {
		return read.Clients{}, err
	}
	disco, err := p.clients.ToDiscoveryClient()
	if err != nil {
		return read.Clients{}, err
	}
	return read.Clients{Kube: kube, Dynamic: dyn, Discovery: disco}, nil
}
