package gatewayemulator

import (
	"fmt"
	"sort"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/opea-project/kubectl-opea/test/xds"
)

// config is what istiod sent, decoded into what the emulator acts on.
type config struct {
	listeners map[uint32]*listenerConfig
	routes    map[string]*route.RouteConfiguration
	clusters  map[string]*cluster.Cluster
	// endpoints by EDS service name.
	endpoints map[string]*endpoint.ClusterLoadAssignment
	// certs are the certificates by SDS name, read when the
	// configuration was fetched.
	certs map[string]loadedCert
}

type listenerConfig struct {
	name   string
	port   uint32
	chains []*chainConfig
	// fallback is the listener's default_filter_chain, or nil.
	fallback *chainConfig
	// refused says why no connection to this listener can be served.
	refused string
}

type chainConfig struct {
	name        string
	serverNames []string
	// transport is the transport_protocol match: "", "tls" or "raw_buffer".
	transport string
	// tls is the chain's DownstreamTlsContext; nil for plaintext.
	tls *tlsv3.DownstreamTlsContext
	hcm *hcm.HttpConnectionManager
	// refused says why a connection landing here is closed.
	refused string
}

// Type URLs the emulator tells apart.
const (
	hcmType          = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
	downstreamTLSTyp = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
	rawBufferType    = "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer"
)

func decodeConfig(raw *xds.Raw) (*config, error) {
	cfg := &config{
		listeners: map[uint32]*listenerConfig{},
		routes:    map[string]*route.RouteConfiguration{},
		clusters:  map[string]*cluster.Cluster{},
		endpoints: map[string]*endpoint.ClusterLoadAssignment{},
	}
	for _, a := range raw.Listeners {
		var l listener.Listener
		if err := a.UnmarshalTo(&l); err != nil {
			return nil, fmt.Errorf("decoding a listener: %w", err)
		}
		if l.GetInternalListener() != nil {
			// An internal listener (connect_originate, the HBONE tunnel
			// to ambient workloads) takes the gateway's own upstream
			// connections, never a client's.
			continue
		}
		lc := decodeListener(&l)
		if other, dup := cfg.listeners[lc.port]; dup {
			return nil, fmt.Errorf("listeners %s and %s both listen on port %d: the emulator maps one listener per port", other.name, lc.name, lc.port)
		}
		cfg.listeners[lc.port] = lc
	}
	for _, a := range raw.Routes {
		var rc route.RouteConfiguration
		if err := a.UnmarshalTo(&rc); err != nil {
			return nil, fmt.Errorf("decoding a route configuration: %w", err)
		}
		cfg.routes[rc.GetName()] = &rc
	}
	for _, a := range raw.Clusters {
		var c cluster.Cluster
		if err := a.UnmarshalTo(&c); err != nil {
			return nil, fmt.Errorf("decoding a cluster: %w", err)
		}
		cfg.clusters[c.GetName()] = &c
	}
	for _, a := range raw.Endpoints {
		var cla endpoint.ClusterLoadAssignment
		if err := a.UnmarshalTo(&cla); err != nil {
			return nil, fmt.Errorf("decoding endpoints: %w", err)
		}
		cfg.endpoints[cla.GetClusterName()] = &cla
	}
	return cfg, nil
}

func (c *config) ports() []uint32 {
	var ports []uint32
	for p := range c.listeners {
		ports = append(ports, p)
	}
	sort.Slice(ports, func(i, j int) bool { return ports[i] < ports[j] })
	return ports
}

func decodeListener(l *listener.Listener) *listenerConfig {
	lc := &listenerConfig{name: l.GetName(), port: l.GetAddress().GetSocketAddress().GetPortValue()}
	if l.GetAddress().GetSocketAddress() == nil {
		lc.refused = fmt.Sprintf("listener %s has no socket address", l.GetName())
	}
	for _, fc := range l.GetFilterChains() {
		chain := decodeChain(fc)
		if why := unsupportedMatch(fc.GetFilterChainMatch(), lc.port); why != "" {
			// A chain the emulator cannot match decides nothing about
			// which chain others get: refuse the whole listener.
			lc.refused = fmt.Sprintf("listener %s, filter chain %s: %s", l.GetName(), fc.GetName(), why)
		}
		lc.chains = append(lc.chains, chain)
	}
	if d := l.GetDefaultFilterChain(); d != nil {
		lc.fallback = decodeChain(d)
	}
	return lc
}

// unsupportedMatch names the first filter chain match criterion the
// emulator does not implement, "" when there is none.
func unsupportedMatch(m *listener.FilterChainMatch, port uint32) string {
	switch {
	case m == nil:
		return ""
	case m.GetDestinationPort() != nil && m.GetDestinationPort().GetValue() != port:
		return fmt.Sprintf("matches destination port %d, not the listener's", m.GetDestinationPort().GetValue())
	case len(m.GetPrefixRanges()) > 0:
		return "matches prefix_ranges"
	case m.GetAddressSuffix() != "" || m.GetSuffixLen() != nil:
		return "matches an address suffix"
	case len(m.GetApplicationProtocols()) > 0:
		return "matches application_protocols"
	case m.GetSourceType() != listener.FilterChainMatch_ANY:
		return "matches source_type"
	case len(m.GetSourcePrefixRanges()) > 0 || len(m.GetDirectSourcePrefixRanges()) > 0:
		return "matches source prefix ranges"
	case len(m.GetSourcePorts()) > 0:
		return "matches source_ports"
	}
	return ""
}

func decodeChain(fc *listener.FilterChain) *chainConfig {
	chain := &chainConfig{
		name:        fc.GetName(),
		serverNames: fc.GetFilterChainMatch().GetServerNames(),
		transport:   fc.GetFilterChainMatch().GetTransportProtocol(),
	}
	if ts := fc.GetTransportSocket(); ts != nil {
		switch tc := ts.GetTypedConfig(); tc.GetTypeUrl() {
		case downstreamTLSTyp:
			var dtc tlsv3.DownstreamTlsContext
			if err := tc.UnmarshalTo(&dtc); err != nil {
				chain.refused = fmt.Sprintf("filter chain %s: decoding its TLS context: %v", fc.GetName(), err)
				return chain
			}
			chain.tls = &dtc
		case rawBufferType:
		default:
			chain.refused = fmt.Sprintf("filter chain %s: transport socket %s (%s) is not implemented", fc.GetName(), ts.GetName(), tc.GetTypeUrl())
			return chain
		}
	}
	for _, f := range fc.GetFilters() {
		tc := f.GetTypedConfig()
		if tc.GetTypeUrl() != hcmType {
			chain.refused = fmt.Sprintf("filter chain %s: network filter %s (%s) is not implemented", fc.GetName(), f.GetName(), tc.GetTypeUrl())
			return chain
		}
		var m hcm.HttpConnectionManager
		if err := tc.UnmarshalTo(&m); err != nil {
			chain.refused = fmt.Sprintf("filter chain %s: decoding its HTTP connection manager: %v", fc.GetName(), err)
			return chain
		}
		chain.hcm = &m
	}
	if chain.hcm == nil {
		chain.refused = fmt.Sprintf("filter chain %s has no HTTP connection manager", fc.GetName())
	}
	return chain
}

// routeConfig is the route configuration of an HTTP connection manager:
// inline, or the one RDS sent by its name.
func (c *config) routeConfig(m *hcm.HttpConnectionManager) (*route.RouteConfiguration, error) {
	if rc := m.GetRouteConfig(); rc != nil {
		return rc, nil
	}
	name := m.GetRds().GetRouteConfigName()
	if name == "" {
		return nil, fmt.Errorf("the HTTP connection manager has neither an inline route configuration nor an RDS name")
	}
	rc, ok := c.routes[name]
	if !ok {
		return nil, fmt.Errorf("istiod sent no route configuration %q", name)
	}
	return rc, nil
}

// healthyEndpoints counts the endpoints of cluster name that Envoy would
// send requests to: not marked unhealthy, draining or timed out.
func (c *config) healthyEndpoints(name string) (int, error) {
	cl, ok := c.clusters[name]
	if !ok {
		return 0, fmt.Errorf("istiod sent no cluster %q", name)
	}
	cla := cl.GetLoadAssignment()
	if cl.GetType() == cluster.Cluster_EDS {
		cla = c.endpoints[xds.EDSServiceName(cl)]
	}
	n := 0
	for _, locality := range cla.GetEndpoints() {
		for _, lb := range locality.GetLbEndpoints() {
			switch lb.GetHealthStatus() {
			case core.HealthStatus_UNKNOWN, core.HealthStatus_HEALTHY, core.HealthStatus_DEGRADED:
				n++
			}
		}
	}
	return n, nil
}
