package gatewayemulator_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	udpatype "github.com/cncf/xds/go/udpa/type/v1"
	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	cors "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	fault "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	grpcstats "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/grpc_stats/v3"
	router "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/opea-project/kubectl-opea/test/fixtures"
	"github.com/opea-project/kubectl-opea/test/gatewayemulator"
	"github.com/opea-project/kubectl-opea/test/xds"
)

// The recorded configuration below follows what istiod renders for a
// gateway-chart gateway (pods in istio-ingress, Service 80 and 443) with an
// Istio Gateway for app.example.com (HTTPS with credentialName "cred", and
// HTTP with httpsRedirect) and a VirtualService routing / to
// chatqna-nginx:80 of namespace app: the listener, route, cluster and
// filter names, the SDS resource name, the HTTP filters in istiod's order.

const (
	gatewayNS    = "istio-ingress"
	appHost      = "app.example.com"
	entryHost    = "chatqna-nginx.app.svc.cluster.local"
	entryCluster = "outbound|80||" + entryHost
	httpsRoute   = "https.443.https.app-gateway.app"
)

var proxy = xds.Proxy{Namespace: gatewayNS, Name: "istio-ingress-0", ServiceAccount: "istio-ingress", IP: "10.244.0.10",
	Labels: map[string]string{"istio": "ingress"}}

func mustAny(t *testing.T, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func httpFilter(t *testing.T, name string, m proto.Message) *hcm.HttpFilter {
	return &hcm.HttpFilter{Name: name, ConfigType: &hcm.HttpFilter_TypedConfig{TypedConfig: mustAny(t, m)}}
}

// istioHTTPFilters are the filters istiod puts on a gateway's HTTP
// connection manager when no policy applies to the gateway; extra go
// where istiod puts authorization filters, after metadata exchange.
func istioHTTPFilters(t *testing.T, extra ...*hcm.HttpFilter) []*hcm.HttpFilter {
	mx := mustAny(t, &udpatype.TypedStruct{TypeUrl: "type.googleapis.com/io.istio.http.peer_metadata.Config",
		Value: &structpb.Struct{Fields: map[string]*structpb.Value{}}})
	out := []*hcm.HttpFilter{{Name: "istio.metadata_exchange", ConfigType: &hcm.HttpFilter_TypedConfig{TypedConfig: mx}}}
	out = append(out, extra...)
	return append(out,
		httpFilter(t, "envoy.filters.http.grpc_stats", &grpcstats.FilterConfig{}),
		// istio.alpn's config type is not in go-control-plane either.
		&hcm.HttpFilter{Name: "istio.alpn", ConfigType: &hcm.HttpFilter_TypedConfig{TypedConfig: &anypb.Any{TypeUrl: "type.googleapis.com/istio.envoy.config.filter.http.alpn.v2alpha1.FilterConfig"}}},
		httpFilter(t, "envoy.filters.http.fault", &fault.HTTPFault{}),
		httpFilter(t, "envoy.filters.http.cors", &cors.Cors{}),
		// istio.stats's config type is not in go-control-plane: only its
		// type URL matters.
		&hcm.HttpFilter{Name: "istio.stats", ConfigType: &hcm.HttpFilter_TypedConfig{TypedConfig: &anypb.Any{TypeUrl: "type.googleapis.com/stats.PluginConfig"}}},
		httpFilter(t, "envoy.filters.http.router", &router.Router{}),
	)
}

func hcmFilter(t *testing.T, rds string, filters []*hcm.HttpFilter) []*listener.Filter {
	return []*listener.Filter{{
		Name: "envoy.filters.network.http_connection_manager",
		ConfigType: &listener.Filter_TypedConfig{TypedConfig: mustAny(t, &hcm.HttpConnectionManager{
			StatPrefix:     "outbound_0.0.0.0_443",
			RouteSpecifier: &hcm.HttpConnectionManager_Rds{Rds: &hcm.Rds{RouteConfigName: rds}},
			HttpFilters:    filters,
			ServerName:     "istio-envoy",
		})},
	}}
}

func address(port uint32) *core.Address {
	return &core.Address{Address: &core.Address_SocketAddress{SocketAddress: &core.SocketAddress{
		Address: "0.0.0.0", PortSpecifier: &core.SocketAddress_PortValue{PortValue: port},
	}}}
}

func tlsSocket(t *testing.T, sds ...string) *core.TransportSocket {
	var configs []*tlsv3.SdsSecretConfig
	for _, name := range sds {
		configs = append(configs, &tlsv3.SdsSecretConfig{Name: name})
	}
	dtc := &tlsv3.DownstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{
		TlsCertificateSdsSecretConfigs: configs,
		TlsParams:                      &tlsv3.TlsParameters{TlsMinimumProtocolVersion: tlsv3.TlsParameters_TLSv1_2},
		AlpnProtocols:                  []string{"h2", "http/1.1"},
	}}
	return &core.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &core.TransportSocket_TypedConfig{TypedConfig: mustAny(t, dtc)}}
}

// httpsChain is a filter chain for serverNames terminating TLS with sds.
func httpsChain(t *testing.T, serverNames []string, rds string, filters []*hcm.HttpFilter, sds ...string) *listener.FilterChain {
	return &listener.FilterChain{
		FilterChainMatch: &listener.FilterChainMatch{ServerNames: serverNames},
		TransportSocket:  tlsSocket(t, sds...),
		Filters:          hcmFilter(t, rds, filters),
	}
}

func listenerOn(port uint32, chains ...*listener.FilterChain) *listener.Listener {
	return &listener.Listener{Name: fmt.Sprintf("0.0.0.0_%d", port), Address: address(port), FilterChains: chains}
}

func toCluster(c string) *route.Route {
	return &route.Route{
		Match:  &route.RouteMatch{PathSpecifier: &route.RouteMatch_Prefix{Prefix: "/"}},
		Action: &route.Route_Route{Route: &route.RouteAction{ClusterSpecifier: &route.RouteAction_Cluster{Cluster: c}}},
	}
}

func vhost(name string, domains []string, routes ...*route.Route) *route.VirtualHost {
	return &route.VirtualHost{Name: name, Domains: domains, Routes: routes}
}

// edsCluster is an outbound cluster whose endpoints come over EDS.
func edsCluster(name string) *cluster.Cluster {
	return &cluster.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &cluster.Cluster_Type{Type: cluster.Cluster_EDS},
		EdsClusterConfig:     &cluster.Cluster_EdsClusterConfig{ServiceName: name, EdsConfig: &core.ConfigSource{ConfigSourceSpecifier: &core.ConfigSource_Ads{}}},
	}
}

func endpoints(name string, addrs ...string) *endpoint.ClusterLoadAssignment {
	cla := &endpoint.ClusterLoadAssignment{ClusterName: name}
	if len(addrs) == 0 {
		return cla
	}
	var lbs []*endpoint.LbEndpoint
	for _, a := range addrs {
		lbs = append(lbs, &endpoint.LbEndpoint{
			HealthStatus: core.HealthStatus_HEALTHY,
			HostIdentifier: &endpoint.LbEndpoint_Endpoint{Endpoint: &endpoint.Endpoint{Address: &core.Address{
				Address: &core.Address_SocketAddress{SocketAddress: &core.SocketAddress{Address: a, PortSpecifier: &core.SocketAddress_PortValue{PortValue: 80}}},
			}}},
		})
	}
	cla.Endpoints = []*endpoint.LocalityLbEndpoints{{LbEndpoints: lbs}}
	return cla
}

// healthyGateway is the configuration of the app served on 443 with the
// credential "cred", port 80 redirecting, and one endpoint behind the
// entry Service. filters are the HTTPS chain's HTTP filters.
func healthyGateway(t *testing.T, f *fakeADS, filters []*hcm.HttpFilter) {
	f.set(xds.ListenerType,
		listenerOn(80, &listener.FilterChain{Filters: hcmFilter(t, "http.80", filters)}),
		listenerOn(443, httpsChain(t, []string{appHost}, httpsRoute, filters, "kubernetes://cred")),
	)
	redirectVH := vhost(appHost+":80", []string{appHost, appHost + ":*"}, toCluster(entryCluster))
	redirectVH.RequireTls = route.VirtualHost_ALL
	f.set(xds.RouteConfigType,
		&route.RouteConfiguration{Name: "http.80", VirtualHosts: []*route.VirtualHost{redirectVH}},
		&route.RouteConfiguration{Name: httpsRoute, VirtualHosts: []*route.VirtualHost{
			vhost(appHost+":443", []string{appHost, appHost + ":*"}, toCluster(entryCluster)),
		}},
	)
	f.set(xds.ClusterType, edsCluster(entryCluster), edsCluster("outbound|80||other.app.svc.cluster.local"))
	f.set(xds.EndpointType, endpoints(entryCluster, "10.244.0.20"))
}

// credentialStore is a Kubernetes API with the credential Secrets, where
// the gateway's service account may list Secrets (or not).
type credentialStore struct {
	kube *fake.Clientset
	// roots trusts every CA issued by issue.
	roots *x509.CertPool
}

func newCredentialStore(t *testing.T, mayListSecrets bool) *credentialStore {
	kube := fake.NewClientset()
	kube.PrependReactor("create", "subjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		sar := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview)
		want := authorizationv1.ResourceAttributes{Namespace: gatewayNS, Verb: "list", Resource: "secrets"}
		ok := mayListSecrets && sar.Spec.User == "system:serviceaccount:istio-ingress:istio-ingress" && *sar.Spec.ResourceAttributes == want
		sar.Status.Allowed = ok
		return true, sar, nil
	})
	return &credentialStore{kube: kube, roots: x509.NewCertPool()}
}

// issue writes a credential Secret ns/name for dnsNames under key names
// certKey/keyKey, and returns the certificate.
func (s *credentialStore) issue(t *testing.T, ns, name, certKey, keyKey string, dnsNames ...string) *x509.Certificate {
	t.Helper()
	ca, cert, key, err := fixtures.IssueTLS(dnsNames, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	s.roots.AppendCertsFromPEM(ca)
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string][]byte{certKey: cert, keyKey: key}}
	ctx := context.Background()
	if _, err := s.kube.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{}); err == nil {
		if _, err := s.kube.CoreV1().Secrets(ns).Update(ctx, secret, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	} else if _, err := s.kube.CoreV1().Secrets(ns).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return leaf
}

func start(t *testing.T, addr string, store *credentialStore) *gatewayemulator.Emulator {
	t.Helper()
	return startAs(t, addr, store, proxy)
}

func startAs(t *testing.T, addr string, store *credentialStore, p xds.Proxy) *gatewayemulator.Emulator {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := gatewayemulator.Start(ctx, gatewayemulator.Options{XDS: addr, Proxy: p, Kube: store.kube})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

// app is the entry Service's stand-in: it answers what it was asked.
var app = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	_, _ = io.WriteString(w, "ChatQnA at "+r.Host+r.URL.Path)
})

// reply is what a client got.
type reply struct {
	status   int
	body     string
	location string
	server   string
	served   *x509.Certificate
}

// get makes a request as a client would: to the emulator's address for
// port, with host as SNI (HTTPS) and Host header, validating the
// certificate against roots.
func get(t *testing.T, e *gatewayemulator.Emulator, port uint32, scheme, host, path string, roots *x509.CertPool, header ...string) (reply, error) {
	t.Helper()
	if e.Addr(port) == "" {
		t.Fatalf("the emulator has no listener for port %d (ports %v)", port, e.Ports())
	}
	client := e.Client(port, roots)
	defer client.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodGet, scheme+"://"+host+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1] // SNI stays the URL's host
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, body: string(body), location: resp.Header.Get("Location"), server: resp.Header.Get("Server")}
	if resp.TLS != nil {
		r.served = resp.TLS.PeerCertificates[0]
	}
	return r, nil
}

func mustGet(t *testing.T, e *gatewayemulator.Emulator, port uint32, scheme, host, path string, roots *x509.CertPool, header ...string) reply {
	t.Helper()
	r, err := get(t, e, port, scheme, host, path, roots, header...)
	if err != nil {
		t.Fatalf("%s://%s%s on port %d: %v (emulator problems: %v)", scheme, host, path, port, err, e.Problems())
	}
	return r
}
