// Package xds asks a running istiod what it renders, so tests can assert on
// the Envoy configuration an Istio ingress gateway would receive (listeners,
// SNI filter chains, TLS secrets, routes) and on the ambient state ztunnel
// would receive (the authorization policies in force for a namespace's
// workloads), instead of only on the Kubernetes objects kubectl-opea writes.
//
// It is test-only: the plugin binary must not import it (it pulls in gRPC
// and the Envoy API types).
package xds

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// Resource type URLs of state-of-the-world xDS.
const (
	ListenerType    = "type.googleapis.com/envoy.config.listener.v3.Listener"
	RouteConfigType = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
	ClusterType     = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
	EndpointType    = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
)

// DefaultIstioVersion is sent as ISTIO_VERSION when Proxy.IstioVersion is
// empty. istiod gates some features on the proxy's version; an empty value
// would only earn a warning in istiod's log, so we claim the version of the
// istiod the tests build.
const DefaultIstioVersion = "1.31.0"

// defaultTimeout bounds a fetch whose context has no deadline: a gateway
// that istiod does not know must fail the test, not hang it.
const defaultTimeout = 30 * time.Second

// Proxy is the gateway pod istiod is asked about. istiod picks the Gateway
// resources whose selector matches the labels of the pod it finds at IP (or
// Labels, when no such pod exists), so IP and Labels should be those of a
// real pod of the gateway Deployment.
type Proxy struct {
	Namespace      string
	Name           string // pod name
	ServiceAccount string
	IP             string
	Labels         map[string]string
	// IstioVersion defaults to DefaultIstioVersion.
	IstioVersion string
	// ClusterID defaults to "Kubernetes", istiod's default cluster name.
	ClusterID string
}

// nodeID is the Envoy node id of an Istio gateway,
// "router~<ip>~<pod>.<namespace>~<namespace>.svc.cluster.local": the
// "router" type is what makes istiod build gateway (not sidecar) config
// (pilot/pkg/model/context.go ParseServiceNodeWithMetadata).
func (p Proxy) nodeID() string {
	return fmt.Sprintf("router~%s~%s.%s~%s.svc.cluster.local", p.IP, p.Name, p.Namespace, p.Namespace)
}

// node builds the Envoy node with the metadata istiod reads
// (pkg/model/proxy.go NodeMetadata, JSON names in upper case).
func (p Proxy) node() (*core.Node, error) {
	if p.IP == "" || p.Namespace == "" || p.Name == "" {
		return nil, errors.New("xds: Proxy needs Namespace, Name and IP")
	}
	labels := map[string]any{}
	for k, v := range p.Labels {
		labels[k] = v
	}
	version := p.IstioVersion
	if version == "" {
		version = DefaultIstioVersion
	}
	clusterID := p.ClusterID
	if clusterID == "" {
		clusterID = "Kubernetes"
	}
	meta, err := structpb.NewStruct(map[string]any{
		"NAMESPACE":       p.Namespace,
		"NAME":            p.Name,
		"LABELS":          labels,
		"SERVICE_ACCOUNT": p.ServiceAccount,
		"CLUSTER_ID":      clusterID,
		"ISTIO_VERSION":   version,
		// Comma-separated list; istiod prefers it to the IP in the node id.
		"INSTANCE_IPS": p.IP,
	})
	if err != nil {
		return nil, err
	}
	return &core.Node{Id: p.nodeID(), Cluster: p.Name + "." + p.Namespace, Metadata: meta}, nil
}

// Gateway connects to istiod's plaintext xDS port (pilot-discovery
// --grpcAddr) as the gateway proxy p and returns the listeners and the route
// configurations they use. It requests LDS, ACKs, then requests RDS for
// exactly the route names the listeners' HTTP connection managers carry
// (a gateway's route names are "http.80", "https.443.<server>..." and so on,
// which is why istio's adsc, which asks sidecar-style names, does not fit).
//
// istiod answers with what it knows when the stream opens: a test that just
// created Gateway resources should retry until the config shows up.
func Gateway(ctx context.Context, addr string, p Proxy) (*GatewayConfig, error) {
	raw, err := FetchGateway(ctx, addr, p)
	if err != nil {
		return nil, err
	}
	return raw.Summary()
}

// Raw is what istiod sent, undecoded, for tests that need a field the
// summary leaves out.
type Raw struct {
	Listeners []*anypb.Any
	Routes    []*anypb.Any
	// Clusters and Endpoints are filled by FetchGatewayWithClusters only.
	Clusters  []*anypb.Any
	Endpoints []*anypb.Any
}

// FetchGateway is Gateway without the summary: LDS and RDS.
func FetchGateway(ctx context.Context, addr string, p Proxy) (*Raw, error) {
	return fetchGateway(ctx, addr, p, false)
}

// FetchGatewayWithClusters is FetchGateway followed, on the same stream, by
// CDS (kept: the clusters the routes name) and EDS for those of them whose
// endpoints come over EDS: everything a gateway needs to answer a request.
func FetchGatewayWithClusters(ctx context.Context, addr string, p Proxy) (*Raw, error) {
	return fetchGateway(ctx, addr, p, true)
}

func fetchGateway(ctx context.Context, addr string, p Proxy, withClusters bool) (*Raw, error) {
	node, err := p.node()
	if err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultTimeout)
		defer cancel()
	}
	// Cancelling the stream's context is what ends a Recv that waits
	// forever on a silent istiod.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("xds: %w", err)
	}
	defer conn.Close()
	stream, err := discovery.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		return nil, fmt.Errorf("xds: opening the ADS stream to %s: %w", addr, err)
	}
	s := &adsStream{stream: stream, node: node}
	defer func() { _ = stream.CloseSend() }()

	raw := &Raw{}
	if raw.Listeners, err = s.fetch(ListenerType, nil); err != nil {
		return nil, err
	}
	names, err := routeNames(raw.Listeners)
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return raw, nil
	}
	if raw.Routes, err = s.fetch(RouteConfigType, names); err != nil {
		return nil, err
	}
	if !withClusters {
		return raw, nil
	}
	return raw, fetchClusters(s, raw)
}

// fetchClusters asks for every cluster (istiod sends a gateway all of them,
// whatever names are asked), keeps those the routes and the ext_authz
// filters name, then asks EDS
// for the service names of the EDS ones.
func fetchClusters(s *adsStream, raw *Raw) error {
	wanted, err := routedClusters(raw.Routes)
	if err != nil {
		return err
	}
	called, err := filterClusters(raw.Listeners)
	if err != nil {
		return err
	}
	for c := range called {
		wanted[c] = true
	}
	all, err := s.fetch(ClusterType, nil)
	if err != nil {
		return err
	}
	var edsNames []string
	for _, a := range all {
		var c cluster.Cluster
		if err := a.UnmarshalTo(&c); err != nil {
			return fmt.Errorf("xds: decoding cluster: %w", err)
		}
		if !wanted[c.GetName()] {
			continue
		}
		raw.Clusters = append(raw.Clusters, a)
		if c.GetType() == cluster.Cluster_EDS {
			edsNames = append(edsNames, EDSServiceName(&c))
		}
	}
	if len(edsNames) == 0 {
		return nil
	}
	sort.Strings(edsNames)
	raw.Endpoints, err = s.fetch(EndpointType, edsNames)
	return err
}

// EDSServiceName is the name a cluster's endpoints are asked by over EDS:
// its eds_cluster_config.service_name, else its own name.
func EDSServiceName(c *cluster.Cluster) string {
	if n := c.GetEdsClusterConfig().GetServiceName(); n != "" {
		return n
	}
	return c.GetName()
}

// routedClusters are the clusters the route configurations send to,
// directly or in a weighted split.
func routedClusters(routes []*anypb.Any) (map[string]bool, error) {
	set := map[string]bool{}
	for _, a := range routes {
		var rc route.RouteConfiguration
		if err := a.UnmarshalTo(&rc); err != nil {
			return nil, fmt.Errorf("xds: decoding route configuration: %w", err)
		}
		for _, vh := range rc.GetVirtualHosts() {
			for _, r := range vh.GetRoutes() {
				if c := r.GetRoute().GetCluster(); c != "" {
					set[c] = true
				}
				for _, wc := range r.GetRoute().GetWeightedClusters().GetClusters() {
					set[wc.GetName()] = true
				}
			}
		}
	}
	return set, nil
}

// adsStream is one state-of-the-world ADS stream. The node goes with the
// first request only, as Envoy does.
type adsStream struct {
	stream   discovery.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	node     *core.Node
	nodeSent bool
	// subs remembers the names asked per type, so that an ACK repeats them:
	// in state-of-the-world xDS every request restates the subscription.
	subs map[string][]string
}

func (s *adsStream) send(req *discovery.DiscoveryRequest) error {
	if !s.nodeSent {
		req.Node = s.node
		s.nodeSent = true
	}
	return s.stream.Send(req)
}

// fetch subscribes to typeURL (all resources when names is empty), waits for
// the first response of that type and ACKs it with its version and nonce.
// Responses of other types (pushes for an earlier subscription) are ACKed
// and skipped, so istiod never waits on us.
func (s *adsStream) fetch(typeURL string, names []string) ([]*anypb.Any, error) {
	if s.subs == nil {
		s.subs = map[string][]string{}
	}
	s.subs[typeURL] = names
	if err := s.send(&discovery.DiscoveryRequest{TypeUrl: typeURL, ResourceNames: names}); err != nil {
		return nil, fmt.Errorf("xds: requesting %s: %w", typeURL, err)
	}
	for {
		resp, err := s.stream.Recv()
		if err != nil {
			return nil, fmt.Errorf("xds: waiting for %s: %w", typeURL, err)
		}
		ack := &discovery.DiscoveryRequest{
			TypeUrl:       resp.GetTypeUrl(),
			VersionInfo:   resp.GetVersionInfo(),
			ResponseNonce: resp.GetNonce(),
			ResourceNames: s.subs[resp.GetTypeUrl()],
		}
		if err := s.send(ack); err != nil {
			return nil, fmt.Errorf("xds: acknowledging %s: %w", resp.GetTypeUrl(), err)
		}
		if resp.GetTypeUrl() == typeURL {
			return resp.GetResources(), nil
		}
	}
}

// routeNames lists, sorted and without repeats, the RDS route configuration
// names of the listeners' HTTP connection managers.
func routeNames(listeners []*anypb.Any) ([]string, error) {
	set := map[string]bool{}
	for _, a := range listeners {
		l, err := decodeListener(a)
		if err != nil {
			return nil, err
		}
		for _, fc := range l.FilterChains {
			if fc.RouteName != "" {
				set[fc.RouteName] = true
			}
		}
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}
