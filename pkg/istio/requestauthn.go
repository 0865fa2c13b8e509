package istio

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"
)

// RequestAuthentications is the resource of Istio's RequestAuthentication
// in version.
func RequestAuthentications(version string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: SecurityGroup, Version: version, Resource: "requestauthentications"}
}

// ExtensionProviderNames are the names of the extensionProviders of the
// mesh config YAML (the mesh config ConfigMap's "mesh" key), in their
// order: what a CUSTOM AuthorizationPolicy's provider.name may name.
func ExtensionProviderNames(meshConfigYAML string) ([]string, error) {
	var mesh struct {
		ExtensionProviders []struct {
			Name string `json:"name"`
		} `json:"extensionProviders"`
	}
	if err := yaml.Unmarshal([]byte(meshConfigYAML), &mesh); err != nil {
		return nil, fmt.Errorf("the mesh config is not valid YAML: %w", err)
	}
	var names []string
	for _, p := range mesh.ExtensionProviders {
		names = append(names, p.Name)
	}
	return names, nil
}
