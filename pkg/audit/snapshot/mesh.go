package snapshot

// MeshIdentity is what tells one cluster's mesh from another's, for the
// fleet checks of verify --contexts: named from the audit's own reads of
// istiod, its mesh config and the roots istiod publishes (Snapshot.Mesh).
type MeshIdentity struct {
	// Istiod says an istiod Deployment was found: a cluster without one is
	// in no mesh, and is compared with no other.
	Istiod bool
	// IstiodNamespace is istiod's namespace, where the root was looked for.
	IstiodNamespace string
	// MeshID is the mesh config's defaultConfig.meshId (Helm's
	// global.meshID), "" when unset.
	MeshID string
	// TrustDomain is the mesh config's trustDomain, Istio's default when
	// unset.
	TrustDomain string
	// RootCert is root-cert.pem of ConfigMap istio-ca-root-cert in istiod's
	// namespace: the root istiod publishes to every namespace. "" when
	// absent.
	RootCert string
	// Unread are the reads the API server refused: the identity is not
	// known.
	Unread []Access
}
