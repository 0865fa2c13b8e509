package istio

import (
	"fmt"

	"sigs.k8s.io/yaml"
)

// RootCertConfigMap is the ConfigMap istiod writes into every namespace with
// the mesh's root certificate, under RootCertKey.
const (
	RootCertConfigMap = "istio-ca-root-cert"
	RootCertKey       = "root-cert.pem"
)

// MeshID reads defaultConfig.meshId from the mesh config YAML: the mesh's
// name, which Istio's multicluster installs set alike (Helm's
// global.meshID) in every cluster of one mesh. "" when unset.
func MeshID(meshConfigYAML string) (string, error) {
	var mesh struct {
		DefaultConfig struct {
			MeshID string `json:"meshId"`
		} `json:"defaultConfig"`
	}
	if err := yaml.Unmarshal([]byte(meshConfigYAML), &mesh); err != nil {
		return "", fmt.Errorf("the mesh config is not valid YAML: %w", err)
	}
	return mesh.DefaultConfig.MeshID, nil
}
