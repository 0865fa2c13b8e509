package secure

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/opea-project/kubectl-opea/pkg/discover"
	"github.com/opea-project/kubectl-opea/pkg/istio"
)

// meshWideMode is the mode of the mesh-wide PeerAuthentication, from which
// a namespace-wide policy with its mode unset inherits: found in the root
// namespace the mesh config names (discover.ReadMeshConfig, as verify reads
// it). When it cannot be read, "": an unset policy then counts as not
// STRICT, so that secure refuses rather than assumes. It is read only when
// it matters: an older namespace-wide policy of pas has its mode unset.
func (p *planner) meshWideMode(ctx context.Context, peerAuthentications schema.GroupVersionResource, pas []istio.PeerAuthentication, ours istio.PeerAuthentication) string {
	inherits := false
	for _, pa := range pas {
		inherits = inherits || (pa.Name != ours.Name && len(pa.MatchLabels()) == 0 && pa.Mode() == "" && istio.Older(pa, ours))
	}
	if !inherits {
		return ""
	}
	kube, err := p.clients.Kubernetes()
	if err != nil {
		return ""
	}
	mesh, err := discover.ReadMeshConfig(ctx, kube)
	if err != nil {
		return ""
	}
	dyn, err := p.clients.Dynamic()
	if err != nil {
		return ""
	}
	list, err := dyn.Resource(peerAuthentications).Namespace(mesh.RootNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return ""
	}
	var root []istio.PeerAuthentication
	for i := range list.Items {
		pa, err := istio.DecodePeerAuthentication(&list.Items[i])
		if err != nil {
			return ""
		}
		root = append(root, pa)
	}
	return istio.MeshWideMode(root, mesh.RootNamespace)
}
