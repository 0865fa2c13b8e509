package gatewayemulator_test

import (
	"fmt"
	"net"
	"sync"
	"testing"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/opea-project/kubectl-opea/test/xds"
)

// fakeADS answers like istiod does a gateway: every listener and every
// cluster whatever the names asked, and the route configurations and
// endpoints asked by name. ACKs are taken and not answered.
type fakeADS struct {
	discovery.UnimplementedAggregatedDiscoveryServiceServer
	mu        sync.Mutex
	resources map[string][]*anypb.Any // by type URL
	// asked records the names requested per type.
	asked map[string][]string
}

func (f *fakeADS) set(typeURL string, msgs ...proto.Message) {
	var anys []*anypb.Any
	for _, m := range msgs {
		a, err := anypb.New(m)
		if err != nil {
			panic(err)
		}
		anys = append(anys, a)
	}
	f.setAny(typeURL, anys)
}

func (f *fakeADS) setAny(typeURL string, anys []*anypb.Any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resources[typeURL] = anys
}

func (f *fakeADS) StreamAggregatedResources(stream discovery.AggregatedDiscoveryService_StreamAggregatedResourcesServer) error {
	nonce := 0
	for {
		req, err := stream.Recv()
		if err != nil {
			return nil
		}
		if req.GetResponseNonce() != "" {
			continue
		}
		f.mu.Lock()
		f.asked[req.GetTypeUrl()] = req.GetResourceNames()
		var out []*anypb.Any
		for _, a := range f.resources[req.GetTypeUrl()] {
			if wanted(req, a) {
				out = append(out, a)
			}
		}
		f.mu.Unlock()
		nonce++
		if err := stream.Send(&discovery.DiscoveryResponse{TypeUrl: req.GetTypeUrl(), VersionInfo: "v1", Nonce: fmt.Sprint(nonce), Resources: out}); err != nil {
			return err
		}
	}
}

// wanted: LDS and CDS are sent whole; RDS and EDS by name.
func wanted(req *discovery.DiscoveryRequest, a *anypb.Any) bool {
	switch req.GetTypeUrl() {
	case xds.RouteConfigType, xds.EndpointType:
		m, err := a.UnmarshalNew()
		if err != nil {
			return false
		}
		name := resourceName(m)
		for _, n := range req.GetResourceNames() {
			if n == name {
				return true
			}
		}
		return false
	}
	return true
}

func resourceName(m proto.Message) string {
	type named interface{ GetName() string }
	type clusterNamed interface{ GetClusterName() string }
	switch v := m.(type) {
	case clusterNamed:
		return v.GetClusterName()
	case named:
		return v.GetName()
	}
	return ""
}

// startFakeADS serves f on a loopback port for the test's duration.
func startFakeADS(t *testing.T) (*fakeADS, string) {
	t.Helper()
	f := &fakeADS{resources: map[string][]*anypb.Any{}, asked: map[string][]string{}}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	discovery.RegisterAggregatedDiscoveryServiceServer(srv, f)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return f, lis.Addr().String()
}
