package xds_test

// Tests of the client against a fake ADS server and canned debug output:
// they run everywhere, and pin the protocol the real istiod test relies on.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tls "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/opea-project/kubectl-opea/test/xds"
)

func mustAny(t *testing.T, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// gatewayResources is what istiod renders for the test's Gateway and
// VirtualService, reduced to the fields the summary reads.
func gatewayResources(t *testing.T) (listeners, routes map[string]*anypb.Any) {
	hcmFor := func(rds string) []*listener.Filter {
		return []*listener.Filter{{
			Name: "envoy.filters.network.http_connection_manager",
			ConfigType: &listener.Filter_TypedConfig{TypedConfig: mustAny(t, &hcm.HttpConnectionManager{
				RouteSpecifier: &hcm.HttpConnectionManager_Rds{Rds: &hcm.Rds{RouteConfigName: rds}},
			})},
		}}
	}
	addr := func(port uint32) *core.Address {
		return &core.Address{Address: &core.Address_SocketAddress{SocketAddress: &core.SocketAddress{
			Address: "0.0.0.0", PortSpecifier: &core.SocketAddress_PortValue{PortValue: port},
		}}}
	}
	dtc := &tls.DownstreamTlsContext{CommonTlsContext: &tls.CommonTlsContext{
		TlsCertificateSdsSecretConfigs: []*tls.SdsSecretConfig{{Name: "kubernetes://opea-chatqna-tls"}},
	}}
	listeners = map[string]*anypb.Any{
		"0.0.0.0_80": mustAny(t, &listener.Listener{
			Name: "0.0.0.0_80", Address: addr(80),
			FilterChains: []*listener.FilterChain{{Filters: hcmFor("http.80")}},
		}),
		"0.0.0.0_443": mustAny(t, &listener.Listener{
			Name: "0.0.0.0_443", Address: addr(443),
			FilterChains: []*listener.FilterChain{{
				FilterChainMatch: &listener.FilterChainMatch{ServerNames: []string{"chatqna.example.com"}},
				TransportSocket: &core.TransportSocket{
					Name:       "envoy.transport_sockets.tls",
					ConfigType: &core.TransportSocket_TypedConfig{TypedConfig: mustAny(t, dtc)},
				},
				Filters: hcmFor("https.443.https.opea-ingress.istio-ingress"),
			}},
		}),
	}
	toCluster := func(c string) []*route.Route {
		return []*route.Route{{Action: &route.Route_Route{Route: &route.RouteAction{
			ClusterSpecifier: &route.RouteAction_Cluster{Cluster: c},
		}}}}
	}
	routes = map[string]*anypb.Any{
		"http.80": mustAny(t, &route.RouteConfiguration{Name: "http.80", VirtualHosts: []*route.VirtualHost{{
			Name: "chatqna.example.com:80", Domains: []string{"chatqna.example.com", "chatqna.example.com:*"},
			RequireTls: route.VirtualHost_ALL,
			Routes:     toCluster("outbound|80||chatqna-nginx.chatqna.svc.cluster.local"),
		}}}),
		"https.443.https.opea-ingress.istio-ingress": mustAny(t, &route.RouteConfiguration{
			Name: "https.443.https.opea-ingress.istio-ingress",
			VirtualHosts: []*route.VirtualHost{{
				Name: "chatqna.example.com:443", Domains: []string{"chatqna.example.com", "chatqna.example.com:*"},
				Routes: toCluster("outbound|80||chatqna-nginx.chatqna.svc.cluster.local"),
			}},
		}),
	}
	return listeners, routes
}

// fakeADS answers like istiod: LDS with every listener, RDS with the
// requested route configurations, and it checks that every response is
// ACKed with its nonce and that the node comes first.
type fakeADS struct {
	discovery.UnimplementedAggregatedDiscoveryServiceServer
	listeners, routes map[string]*anypb.Any
	errs              chan error
	nodes             chan *core.Node
	rdsNames          chan []string
}

func (f *fakeADS) StreamAggregatedResources(stream discovery.AggregatedDiscoveryService_StreamAggregatedResourcesServer) error {
	err := f.serve(stream)
	if err != nil {
		f.errs <- err
	}
	return err
}

func (f *fakeADS) serve(stream discovery.AggregatedDiscoveryService_StreamAggregatedResourcesServer) error {
	nonce := 0
	pending := map[string]string{} // type -> nonce not ACKed yet
	for {
		req, err := stream.Recv()
		if err != nil {
			if len(pending) > 0 {
				return fmt.Errorf("stream ended with responses not ACKed: %v", pending)
			}
			return nil
		}
		if nonce == 0 {
			if req.GetNode() == nil {
				return errors.New("first request has no node")
			}
			f.nodes <- req.GetNode()
		}
		if req.GetResponseNonce() != "" {
			if pending[req.GetTypeUrl()] != req.GetResponseNonce() || req.GetVersionInfo() != "v1" {
				return fmt.Errorf("bad ACK %v", req)
			}
			delete(pending, req.GetTypeUrl())
			continue
		}
		var resources []*anypb.Any
		switch req.GetTypeUrl() {
		case xds.ListenerType:
			for _, l := range f.listeners {
				resources = append(resources, l)
			}
		case xds.RouteConfigType:
			f.rdsNames <- req.GetResourceNames()
			for _, n := range req.GetResourceNames() {
				if r, ok := f.routes[n]; ok {
					resources = append(resources, r)
				}
			}
		default:
			return fmt.Errorf("unexpected type %s", req.GetTypeUrl())
		}
		nonce++
		pending[req.GetTypeUrl()] = fmt.Sprint(nonce)
		if err := stream.Send(&discovery.DiscoveryResponse{
			TypeUrl: req.GetTypeUrl(), VersionInfo: "v1", Nonce: fmt.Sprint(nonce), Resources: resources,
		}); err != nil {
			return err
		}
	}
}

func TestGatewayAgainstFakeADS(t *testing.T) {
	listeners, routes := gatewayResources(t)
	fake := &fakeADS{
		listeners: listeners, routes: routes,
		errs: make(chan error, 1), nodes: make(chan *core.Node, 1), rdsNames: make(chan []string, 1),
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	discovery.RegisterAggregatedDiscoveryServiceServer(srv, fake)
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	g, err := xds.Gateway(ctx, lis.Addr().String(), xds.Proxy{
		Namespace: "istio-ingress", Name: "istio-ingress-0", ServiceAccount: "istio-ingress",
		IP: "10.244.0.10", Labels: map[string]string{"istio": "ingress"},
	})
	if err != nil {
		t.Fatal(err)
	}

	node := <-fake.nodes
	if want := "router~10.244.0.10~istio-ingress-0.istio-ingress~istio-ingress.svc.cluster.local"; node.GetId() != want {
		t.Errorf("node id %q, want %q", node.GetId(), want)
	}
	meta := node.GetMetadata().GetFields()
	for k, want := range map[string]string{
		"NAMESPACE": "istio-ingress", "SERVICE_ACCOUNT": "istio-ingress", "CLUSTER_ID": "Kubernetes",
		"INSTANCE_IPS": "10.244.0.10", "ISTIO_VERSION": xds.DefaultIstioVersion,
	} {
		if got := meta[k].GetStringValue(); got != want {
			t.Errorf("metadata %s = %q, want %q", k, got, want)
		}
	}
	if got := meta["LABELS"].GetStructValue().GetFields()["istio"].GetStringValue(); got != "ingress" {
		t.Errorf("metadata LABELS.istio = %q", got)
	}
	if got, want := <-fake.rdsNames, []string{"http.80", "https.443.https.opea-ingress.istio-ingress"}; !slices.Equal(got, want) {
		t.Errorf("RDS asked %v, want %v", got, want)
	}
	// The client closes its stream when done; the fake then checks the ACKs.
	select {
	case err := <-fake.errs:
		t.Error(err)
	case <-time.After(200 * time.Millisecond):
	}

	const host = "chatqna.example.com"
	const cluster = "outbound|80||chatqna-nginx.chatqna.svc.cluster.local"
	if l := g.ListenerOnPort(443); l == nil || len(l.FilterChains) != 1 {
		t.Fatalf("listener on 443: %+v", l)
	}
	if g.ListenerOnPort(8443) != nil {
		t.Error("listener on 8443")
	}
	if got := g.SecretFor(443, host); !slices.Equal(got, []string{"kubernetes://opea-chatqna-tls"}) {
		t.Errorf("SecretFor = %v", got)
	}
	if got := g.SecretFor(443, "other.example.com"); got != nil {
		t.Errorf("SecretFor(other) = %v", got)
	}
	if got := g.SecretFor(80, host); got != nil {
		t.Errorf("SecretFor(80) = %v", got)
	}
	if got := g.ClusterFor(host); got != cluster {
		t.Errorf("ClusterFor = %q", got)
	}
	if got := g.ClusterFor("other.example.com"); got != "" {
		t.Errorf("ClusterFor(other) = %q", got)
	}
	if !g.RedirectsToHTTPS(80, host) || g.RedirectsToHTTPS(443, host) {
		t.Errorf("RedirectsToHTTPS(80) = %v, (443) = %v", g.RedirectsToHTTPS(80, host), g.RedirectsToHTTPS(443, host))
	}
	if vh := g.VirtualHostFor(80, "CHATQNA.example.com"); vh == nil || vh.Name != "chatqna.example.com:80" {
		t.Errorf("VirtualHostFor is not case-insensitive: %+v", vh)
	}
}

func TestGatewayTimesOut(t *testing.T) {
	// A server that accepts the stream and never answers.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	discovery.RegisterAggregatedDiscoveryServiceServer(srv, silentADS{})
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = xds.Gateway(ctx, lis.Addr().String(), xds.Proxy{Namespace: "ns", Name: "p", IP: "10.0.0.1"})
	if err == nil || !strings.Contains(err.Error(), "waiting for "+xds.ListenerType) {
		t.Fatalf("err = %v, want a timeout waiting for listeners", err)
	}
}

type silentADS struct {
	discovery.UnimplementedAggregatedDiscoveryServiceServer
}

func (silentADS) StreamAggregatedResources(stream discovery.AggregatedDiscoveryService_StreamAggregatedResourcesServer) error {
	<-stream.Context().Done()
	return nil
}

// ambientz is /debug/ambientz as istiod writes it (protobuf JSON) for an
// ambient namespace under a STRICT namespace PeerAuthentication, a plain
// namespace, and a namespace where only one of two pods is covered.
const ambientz = `{
 "workloads": [
  {"uid": "Kubernetes//Pod/mesh-strict/app-0", "name": "app-0", "namespace": "mesh-strict",
   "addresses": ["MTAuMjQ0LjAuMjA="], "serviceAccount": "app", "tunnelProtocol": "HBONE",
   "authorizationPolicies": ["istio-system/istio_converted_static_strict"], "status": "HEALTHY"},
  {"uid": "Kubernetes//Pod/plain/web-0", "name": "web-0", "namespace": "plain", "serviceAccount": "default"},
  {"uid": "Kubernetes//Pod/half/a", "name": "a", "namespace": "half",
   "authorizationPolicies": ["half/converted_peer_authentication_a", "half/allow-all"]},
  {"uid": "Kubernetes//Pod/half/b", "name": "b", "namespace": "half"}
 ],
 "services": [],
 "policies": [
  {"name": "istio_converted_static_strict", "namespace": "istio-system", "action": "DENY",
   "groups": [{"rules": [{"matches": [{"notPrincipals": [{"presence": {}}]}]}]}]},
  {"name": "converted_peer_authentication_a", "namespace": "half", "action": "DENY"},
  {"name": "allow-all", "namespace": "half"}
 ]
}`

func TestStrictPoliciesFromAmbientz(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/debug/ambientz" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(ambientz))
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	ctx := context.Background()

	for ns, want := range map[string][]string{
		"mesh-strict": {"istio-system/istio_converted_static_strict"},
		"plain":       nil,
		"half":        nil, // b is not covered
		"absent":      nil,
	} {
		got, err := xds.StrictPolicies(ctx, addr, ns)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("StrictPolicies(%s) = %v, want %v", ns, got, want)
		}
	}
	st, err := xds.Ambient(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	if w := st.WorkloadsIn("mesh-strict"); len(w) != 1 || !w[0].Ambient() || w[0].ServiceAccount != "app" {
		t.Errorf("WorkloadsIn(mesh-strict) = %+v", w)
	}
	if w := st.WorkloadsIn("plain"); len(w) != 1 || w[0].Ambient() {
		t.Errorf("WorkloadsIn(plain) = %+v", w)
	}
	if p := st.Policy("istio-system/istio_converted_static_strict"); p == nil || p.Action != "DENY" {
		t.Errorf("Policy = %+v", p)
	}
	if _, err := xds.Ambient(ctx, strings.TrimPrefix(srv.URL, "http://")+"/nope"); err == nil {
		t.Error("Ambient on a bad address: no error")
	}
}

// Envoy picks the filter chain of the exact server name before a wildcard
// that also matches, whatever their order.
func TestChainForPrefersTheExactServerName(t *testing.T) {
	l := xds.Listener{Port: 443, FilterChains: []xds.FilterChain{
		{ServerNames: []string{"*.example.com"}, SDSSecrets: []string{"kubernetes://wildcard"}},
		{ServerNames: []string{"app.example.com"}, SDSSecrets: []string{"kubernetes://app"}},
		{SDSSecrets: []string{"kubernetes://any"}},
	}}
	for sni, want := range map[string]string{
		"app.example.com":   "kubernetes://app",
		"other.example.com": "kubernetes://wildcard",
		"example.org":       "kubernetes://any",
	} {
		if got := l.ChainFor(sni); got == nil || got.SDSSecrets[0] != want {
			t.Errorf("ChainFor(%s) = %+v, want the chain of %s", sni, got, want)
		}
	}
}
