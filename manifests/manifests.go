// Package manifests embeds the templates of the objects `kubectl opea secure`
// applies. They are Go text/templates producing YAML; pkg/desired fills them.
package manifests

import "embed"

// FS holds every *.yaml template of this folder.
//
//go:embed *.yaml
var FS embed.FS
