package gatewayemulator_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/encoding/prototext"

	// Types that appear in istiod's recorded configuration.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/internal_upstream/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/raw_buffer/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"

	"github.com/opea-project/kubectl-opea/test/xds"
)

// The recordings in testdata are what istiod (pilot-discovery at the
// version test/istiotools pins) sent the gateway proxy, with
// xds.FetchGatewayWithClusters, written as prototext DiscoveryResponses:
//
//   - secure-classic: `kubectl opea secure -n classic --host app.example.com`
//     behind Istio's gateway chart (pods in istio-ingress), the app's pods
//     running and captured, the entry Service's EndpointSlice written;
//   - secure-gateway-api-lockdown: `kubectl opea secure -n api --host
//     app.example.com --gateway-api --lockdown`, the gateway istiod deployed
//     in namespace api.
func serveRecording(t *testing.T, name string) (*fakeADS, string) {
	t.Helper()
	f, addr := startFakeADS(t)
	for file, typ := range map[string]string{"lds": xds.ListenerType, "rds": xds.RouteConfigType, "cds": xds.ClusterType, "eds": xds.EndpointType} {
		data, err := os.ReadFile(filepath.Join("testdata", name, file+".txtpb"))
		if err != nil {
			t.Fatal(err)
		}
		var resp discovery.DiscoveryResponse
		if err := prototext.Unmarshal(data, &resp); err != nil {
			t.Fatalf("%s/%s: %v", name, file, err)
		}
		f.setAny(typ, resp.GetResources())
	}
	return f, addr
}

// What istiod sends for secure's Istio Gateway: the app is served with the
// credential's certificate, plain HTTP redirects; every HTTP filter istiod
// puts there is one the emulator passes or implements.
func TestRecordedSecureClassic(t *testing.T) {
	_, addr := serveRecording(t, "secure-classic")
	store := newCredentialStore(t, true)
	store.issue(t, gatewayNS, "opea-classic-tls", "tls.crt", "tls.key", appHost)
	e := start(t, addr, store)
	if err := e.Backend("chatqna-nginx.classic.svc.cluster.local", app); err != nil {
		t.Fatal(err)
	}
	if r := mustGet(t, e, 443, "https", appHost, "/", store.roots); r.status != 200 || r.body != "ChatQnA at app.example.com/" {
		t.Errorf("HTTPS: %d %q, want the app's answer", r.status, r.body)
	}
	if r := mustGet(t, e, 80, "http", appHost, "/", nil); r.status != 301 || r.location != "https://app.example.com/" {
		t.Errorf("HTTP: %d %q, want a 301 to https", r.status, r.location)
	}
	if r := mustGet(t, e, 443, "https", appHost, "/", store.roots, "Host", "other.example.com"); r.status != 404 {
		t.Errorf("another host over the app's SNI: %d, want 404", r.status)
	}
}

// What istiod sends the gateway it deployed for secure --gateway-api
// --lockdown: the lockdown's namespace-wide ALLOW lands on the gateway's
// HTTP filter chains, and a client without a principal gets 403 on both
// ports (issue 20, finding 1).
func TestRecordedGatewayAPILockdownTurnsClientsAway(t *testing.T) {
	_, addr := serveRecording(t, "secure-gateway-api-lockdown")
	store := newCredentialStore(t, false) // kubernetes-gateway:// needs no SubjectAccessReview
	store.issue(t, "api", "opea-api-tls", "tls.crt", "tls.key", appHost)
	em := startAs(t, addr, store, xds.Proxy{Namespace: "api", Name: "opea-ingress-istio-0", ServiceAccount: "opea-ingress-istio", IP: "10.244.0.10",
		Labels: map[string]string{"gateway.networking.k8s.io/gateway-name": "opea-ingress"}})
	if err := em.Backend("chatqna-nginx.api.svc.cluster.local", app); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		port   uint32
		scheme string
	}{{443, "https"}, {80, "http"}} {
		r := mustGet(t, em, c.port, c.scheme, appHost, "/", store.roots)
		if r.status != 403 || !strings.Contains(r.body, "RBAC: access denied") {
			t.Errorf("%s: %d %q, want 403 RBAC: access denied", c.scheme, r.status, r.body)
		}
	}
}
