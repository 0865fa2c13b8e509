package istio

import (
	"fmt"

	"sigs.k8s.io/yaml"
)

// RevisionLabel is the label istiod's Deployment carries naming its
// revision ("default" or none for the default revision).
const RevisionLabel = "istio.io/rev"

// Istiod is one istiod Deployment, as far as finding its mesh config goes.
type Istiod struct {
	Namespace string
	Labels    map[string]string
}

// MeshConfigLocation is where the mesh config of the mesh's default
// revision lives: ConfigMap "istio", or "istio-<rev>" for a revisioned
// istiod, in istiod's namespace (the charts' naming). The istiod of the
// default revision is preferred; with none, the first. ok is false when
// there is no istiod.
func MeshConfigLocation(istiods []Istiod) (namespace, name string, ok bool) {
	if len(istiods) == 0 {
		return "", "", false
	}
	d := istiods[0]
	for _, candidate := range istiods {
		if rev := candidate.Labels[RevisionLabel]; rev == "" || rev == "default" {
			d = candidate
			break
		}
	}
	name = MeshConfigMap
	if rev := d.Labels[RevisionLabel]; rev != "" && rev != "default" {
		name += "-" + rev
	}
	return d.Namespace, name, true
}

// MeshSettings are the parts of the mesh config kubectl-opea relies on.
type MeshSettings struct {
	RootNamespace string
	TrustDomain   string
}

// DefaultMeshSettings are Istio's defaults, used when there is no mesh
// config.
func DefaultMeshSettings() MeshSettings {
	return MeshSettings{RootNamespace: DefaultRootNamespace, TrustDomain: DefaultTrustDomain}
}

// ParseMeshSettings reads rootNamespace and trustDomain from the mesh
// config YAML (the ConfigMap's "mesh" key), Istio's defaults where unset.
func ParseMeshSettings(meshConfigYAML string) (MeshSettings, error) {
	out := DefaultMeshSettings()
	var mesh struct {
		RootNamespace string `json:"rootNamespace"`
	}
	if err := yaml.Unmarshal([]byte(meshConfigYAML), &mesh); err != nil {
		return out, fmt.Errorf("the mesh config is not valid YAML: %w", err)
	}
	if mesh.RootNamespace != "" {
		out.RootNamespace = mesh.RootNamespace
	}
	td, err := TrustDomain(meshConfigYAML)
	out.TrustDomain = td
	return out, err
}
