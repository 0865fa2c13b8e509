package xds

import (
	"fmt"

	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	extauthz "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

const extAuthzType = "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz"

// filterClusters are the clusters HTTP filters of the listeners call:
// the HTTP service of an ext_authz filter (istiod's CUSTOM
// AuthorizationPolicies), which a gateway needs to answer a request as
// much as the clusters its routes name.
func filterClusters(listeners []*anypb.Any) (map[string]bool, error) {
	set := map[string]bool{}
	for _, a := range listeners {
		var l listener.Listener
		if err := a.UnmarshalTo(&l); err != nil {
			return nil, fmt.Errorf("xds: decoding listener: %w", err)
		}
		chains := l.GetFilterChains()
		if d := l.GetDefaultFilterChain(); d != nil {
			chains = append(chains, d)
		}
		for _, fc := range chains {
			for _, f := range fc.GetFilters() {
				var m hcm.HttpConnectionManager
				if f.GetTypedConfig().MessageIs(&m) {
					if err := f.GetTypedConfig().UnmarshalTo(&m); err != nil {
						return nil, fmt.Errorf("xds: decoding the HTTP connection manager: %w", err)
					}
				}
				for _, hf := range m.GetHttpFilters() {
					if hf.GetTypedConfig().GetTypeUrl() != extAuthzType {
						continue
					}
					var ea extauthz.ExtAuthz
					if err := hf.GetTypedConfig().UnmarshalTo(&ea); err != nil {
						return nil, fmt.Errorf("xds: decoding ext_authz: %w", err)
					}
					if c := ea.GetHttpService().GetServerUri().GetCluster(); c != "" {
						set[c] = true
					}
				}
			}
		}
	}
	return set, nil
}
