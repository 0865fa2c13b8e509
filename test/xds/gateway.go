package xds

import (
	"fmt"
	"sort"
	"strings"

	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tls "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// GatewayConfig is the part of a gateway's Envoy configuration that tells
// where requests go: which ports listen, which TLS certificate each SNI
// gets, and which cluster each host is routed to.
type GatewayConfig struct {
	Listeners []Listener
	// Routes by route configuration name (FilterChain.RouteName).
	Routes map[string]Route
}

// Listener is one Envoy listener. For a classic Istio Gateway the port is
// the gateway Service's targetPort that the Gateway server's port number
// resolves to (or the number itself when no Service port matches).
type Listener struct {
	Name         string
	Port         uint32
	FilterChains []FilterChain
}

// FilterChain is one filter chain of a listener.
type FilterChain struct {
	// ServerNames is the SNI match; empty matches any connection.
	ServerNames []string
	// SDSSecrets names the certificates the chain terminates TLS with, as
	// istiod asks the gateway to fetch them over SDS:
	// "kubernetes://<secret>" for credentialName <secret> in the gateway's
	// namespace. Empty for plaintext chains.
	SDSSecrets []string
	// RouteName is the RDS route configuration of the chain's HTTP
	// connection manager; empty for TCP/TLS passthrough chains.
	RouteName string
}

// Route is one route configuration.
type Route struct {
	Name         string
	VirtualHosts []VirtualHost
}

// VirtualHost is one virtual host of a route configuration.
type VirtualHost struct {
	Name    string
	Domains []string
	// RequireTLS is how istiod renders a Gateway server's httpsRedirect:
	// Envoy answers plain HTTP requests with a 301 to https.
	RequireTLS bool
	Routes     []RouteAction
}

// RouteAction is one route of a virtual host, reduced to where it sends
// the request.
type RouteAction struct {
	Name string
	// Cluster is the single destination, e.g.
	// "outbound|80||chatqna-nginx.chatqna.svc.cluster.local".
	Cluster string
	// WeightedClusters are the destinations of a split route.
	WeightedClusters []string
	// RedirectHTTPS: the route answers with a redirect to https
	// (a VirtualService redirect with scheme https).
	RedirectHTTPS bool
	// DirectResponse is the status of a fixed response (istiod uses 404
	// for a host no VirtualService routes), 0 otherwise.
	DirectResponse uint32
}

// ListenerOnPort returns the listener bound to port, or nil.
func (g *GatewayConfig) ListenerOnPort(port uint32) *Listener {
	for i := range g.Listeners {
		if g.Listeners[i].Port == port {
			return &g.Listeners[i]
		}
	}
	return nil
}

// ChainFor returns the filter chain a TLS client sending sni would hit, as
// Envoy picks it: an exact server name, else the longest matching wildcard,
// else a chain without SNI match. A plaintext connection (no SNI) passes "".
func (l *Listener) ChainFor(sni string) *FilterChain {
	var fallback, best *FilterChain
	bestLen := -1
	for i := range l.FilterChains {
		fc := &l.FilterChains[i]
		if len(fc.ServerNames) == 0 {
			if fallback == nil {
				fallback = fc
			}
			continue
		}
		for _, name := range fc.ServerNames {
			switch {
			case sni == "":
			case strings.EqualFold(name, sni):
				return fc
			case hostMatches(name, sni) && len(name) > bestLen:
				best, bestLen = fc, len(name)
			}
		}
	}
	if best != nil {
		return best
	}
	return fallback
}

// SecretFor returns the SDS secret names that terminate TLS for sni on
// port, nil when nothing does.
func (g *GatewayConfig) SecretFor(port uint32, sni string) []string {
	l := g.ListenerOnPort(port)
	if l == nil {
		return nil
	}
	if fc := l.ChainFor(sni); fc != nil {
		return fc.SDSSecrets
	}
	return nil
}

// VirtualHostFor returns the virtual host that a request for host arriving
// on port is matched against (with SNI host for TLS), or nil.
func (g *GatewayConfig) VirtualHostFor(port uint32, host string) *VirtualHost {
	l := g.ListenerOnPort(port)
	if l == nil {
		return nil
	}
	fc := l.ChainFor(host)
	if fc == nil || fc.RouteName == "" {
		return nil
	}
	r, ok := g.Routes[fc.RouteName]
	if !ok {
		return nil
	}
	return r.VirtualHostFor(host)
}

// VirtualHostFor picks the virtual host for host the way Envoy does:
// an exact domain, then the longest wildcard suffix, then "*".
func (r Route) VirtualHostFor(host string) *VirtualHost {
	var best *VirtualHost
	bestLen := -1
	for i := range r.VirtualHosts {
		vh := &r.VirtualHosts[i]
		for _, d := range vh.Domains {
			d = strings.TrimSuffix(d, ":*") // istiod adds "host:*" for any port
			switch {
			case strings.EqualFold(d, host):
				return vh
			case hostMatches(d, host) && len(d) > bestLen:
				best, bestLen = vh, len(d)
			}
		}
	}
	return best
}

// ClusterFor returns the cluster that an HTTPS request for host goes to: on
// a TLS listener whose filter chain for SNI host has a certificate, the
// first route of the matching virtual host. "" when no TLS listener routes
// host to a cluster.
func (g *GatewayConfig) ClusterFor(host string) string {
	for _, l := range g.Listeners {
		fc := l.ChainFor(host)
		if fc == nil || len(fc.SDSSecrets) == 0 {
			continue
		}
		if c := g.ClusterOn(l.Port, host); c != "" {
			return c
		}
	}
	return ""
}

// ClusterOn returns the cluster the first route of host's virtual host on
// port sends to, "" if none.
func (g *GatewayConfig) ClusterOn(port uint32, host string) string {
	vh := g.VirtualHostFor(port, host)
	if vh == nil {
		return ""
	}
	for _, ra := range vh.Routes {
		if ra.Cluster != "" {
			return ra.Cluster
		}
	}
	return ""
}

// RedirectsToHTTPS tells whether a plain HTTP request for host on port is
// answered with a redirect to https.
func (g *GatewayConfig) RedirectsToHTTPS(port uint32, host string) bool {
	vh := g.VirtualHostFor(port, host)
	if vh == nil {
		return false
	}
	if vh.RequireTLS {
		return true
	}
	return len(vh.Routes) > 0 && vh.Routes[0].RedirectHTTPS
}

// hostMatches reports whether pattern ("a.b", "*.b" or "*") matches host.
func hostMatches(pattern, host string) bool {
	pattern, host = strings.ToLower(pattern), strings.ToLower(host)
	switch {
	case pattern == "*":
		return true
	case strings.HasPrefix(pattern, "*"):
		return strings.HasSuffix(host, pattern[1:]) && len(host) > len(pattern)-1
	default:
		return pattern == host
	}
}

// Summary decodes the listeners and routes.
func (r *Raw) Summary() (*GatewayConfig, error) {
	g := &GatewayConfig{Routes: map[string]Route{}}
	for _, a := range r.Listeners {
		l, err := decodeListener(a)
		if err != nil {
			return nil, err
		}
		g.Listeners = append(g.Listeners, l)
	}
	sort.Slice(g.Listeners, func(i, j int) bool { return g.Listeners[i].Name < g.Listeners[j].Name })
	for _, a := range r.Routes {
		rt, err := decodeRoute(a)
		if err != nil {
			return nil, err
		}
		g.Routes[rt.Name] = rt
	}
	return g, nil
}

func decodeListener(a *anypb.Any) (Listener, error) {
	var l listener.Listener
	if err := a.UnmarshalTo(&l); err != nil {
		return Listener{}, fmt.Errorf("xds: decoding listener: %w", err)
	}
	out := Listener{Name: l.GetName(), Port: l.GetAddress().GetSocketAddress().GetPortValue()}
	for _, fc := range l.GetFilterChains() {
		chain := FilterChain{ServerNames: fc.GetFilterChainMatch().GetServerNames()}
		if ts := fc.GetTransportSocket().GetTypedConfig(); ts != nil {
			var dtc tls.DownstreamTlsContext
			if ts.MessageIs(&dtc) {
				if err := ts.UnmarshalTo(&dtc); err != nil {
					return Listener{}, fmt.Errorf("xds: listener %s: %w", l.GetName(), err)
				}
				for _, sds := range dtc.GetCommonTlsContext().GetTlsCertificateSdsSecretConfigs() {
					chain.SDSSecrets = append(chain.SDSSecrets, sds.GetName())
				}
			}
		}
		for _, f := range fc.GetFilters() {
			var m hcm.HttpConnectionManager
			tc := f.GetTypedConfig()
			if tc == nil || !tc.MessageIs(&m) {
				continue
			}
			if err := tc.UnmarshalTo(&m); err != nil {
				return Listener{}, fmt.Errorf("xds: listener %s: %w", l.GetName(), err)
			}
			chain.RouteName = m.GetRds().GetRouteConfigName()
		}
		out.FilterChains = append(out.FilterChains, chain)
	}
	return out, nil
}

func decodeRoute(a *anypb.Any) (Route, error) {
	var rc route.RouteConfiguration
	if err := a.UnmarshalTo(&rc); err != nil {
		return Route{}, fmt.Errorf("xds: decoding route configuration: %w", err)
	}
	out := Route{Name: rc.GetName()}
	for _, vh := range rc.GetVirtualHosts() {
		v := VirtualHost{
			Name:       vh.GetName(),
			Domains:    vh.GetDomains(),
			RequireTLS: vh.GetRequireTls() != route.VirtualHost_NONE,
		}
		for _, r := range vh.GetRoutes() {
			ra := RouteAction{
				Name:           r.GetName(),
				Cluster:        r.GetRoute().GetCluster(),
				DirectResponse: r.GetDirectResponse().GetStatus(),
			}
			for _, wc := range r.GetRoute().GetWeightedClusters().GetClusters() {
				ra.WeightedClusters = append(ra.WeightedClusters, wc.GetName())
			}
			if rd := r.GetRedirect(); rd != nil {
				ra.RedirectHTTPS = rd.GetHttpsRedirect() || rd.GetSchemeRedirect() == "https"
			}
			v.Routes = append(v.Routes, ra)
		}
		out.VirtualHosts = append(out.VirtualHosts, v)
	}
	return out, nil
}
