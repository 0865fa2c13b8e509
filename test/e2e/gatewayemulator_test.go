package e2e

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/opea-project/kubectl-opea/pkg/await"
	"github.com/opea-project/kubectl-opea/test/fixtures"
	"github.com/opea-project/kubectl-opea/test/gatewayemulator"
	"github.com/opea-project/kubectl-opea/test/xds"
)

// The live probe of verify, and the differential table's "served", go
// through the gateway emulator: a stand-in for the ingress gateway's
// Envoy that serves what the running istiod sends the gateway proxy, in
// front of a stand-in for the app's entry Service.

// appAnswer is what the stand-in for ns's entry Service answers: a
// request that gets it went through the gateway's routing to this app.
func appAnswer(ns string) string { return "ChatQnA of " + ns + "\n" }

// entryHost is the entry Service's host, as istiod names it in clusters.
func entryHost(ns string) string { return "chatqna-nginx." + ns + ".svc.cluster.local" }

// waitEntryEndpoints waits for the EndpointSlice controller to list the
// ready pods of the entry Service chatqna-nginx of ns: istiod sends the
// gateway its endpoints from it.
func waitEntryEndpoints(t *testing.T, ns string) {
	t.Helper()
	if err := fixtures.WaitEndpointSlice(context.Background(), adminKube(t), ns, "chatqna-nginx"); err != nil {
		t.Fatal(err)
	}
}

// emulateGateway starts the gateway emulator as proxy, fed by the running
// istiod, with the stand-in for the entry Service of each of appNamespaces
// behind it; closed when the test ends.
func emulateGateway(t *testing.T, proxy xds.Proxy, appNamespaces ...string) *gatewayemulator.Emulator {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := gatewayemulator.Start(ctx, gatewayemulator.Options{XDS: cluster.Istio.XDS, Proxy: proxy, Kube: adminKube(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	for _, ns := range appNamespaces {
		answer := appAnswer(ns)
		if err := e.Backend(entryHost(ns), http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, answer)
		})); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// probeFlags point verify's live probe at the emulator's listeners for
// layout's HTTPS and HTTP ports.
func probeFlags(t *testing.T, e *gatewayemulator.Emulator, layout fixtures.GatewayLayout) []string {
	t.Helper()
	https, plain := e.Addr(layout.HTTPSTarget), e.Addr(layout.HTTPTarget)
	if https == "" || plain == "" {
		t.Fatalf("istiod configured the gateway with no listener on %d or %d (ports %v)", layout.HTTPSTarget, layout.HTTPTarget, e.Ports())
	}
	return []string{"--probe-address", https, "--probe-http-address", plain}
}

// gatewayReply is what a client got from the gateway.
type gatewayReply struct {
	status         int
	body, location string
}

// askGateway sends GET <scheme>://host/ to the emulator's listener for
// port, as a client would: for https, with SNI host and the certificate
// validated against roots.
func askGateway(e *gatewayemulator.Emulator, port uint32, scheme, host string, roots *x509.CertPool) (gatewayReply, error) {
	client := e.Client(port, roots)
	defer client.CloseIdleConnections()
	resp, err := client.Get(scheme + "://" + host + "/")
	if err != nil {
		return gatewayReply{}, fmt.Errorf("%w (the emulator: %v)", err, e.Problems())
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return gatewayReply{status: resp.StatusCode, body: string(body), location: resp.Header.Get("Location")}, nil
}

// servedThrough is nil when the gateway serves ns's app for host as a
// client wants it: HTTPS on layout's port with a certificate roots
// validate and the app's own answer, and plain HTTP redirected to https.
func servedThrough(e *gatewayemulator.Emulator, layout fixtures.GatewayLayout, ns, host string, roots *x509.CertPool) error {
	r, err := askGateway(e, layout.HTTPSTarget, "https", host, roots)
	if err != nil {
		return err
	}
	if r.status != http.StatusOK || r.body != appAnswer(ns) {
		return fmt.Errorf("GET https://%s/ answered %d %q, not the app's answer", host, r.status, strings.TrimSpace(r.body))
	}
	r, err = askGateway(e, layout.HTTPTarget, "http", host, nil)
	if err != nil {
		return err
	}
	if r.status < 300 || r.status > 399 || !strings.HasPrefix(r.location, "https://"+host) {
		return fmt.Errorf("GET http://%s/ answered %d (Location %q), not a redirect to https", host, r.status, r.location)
	}
	return nil
}

// credentialRoots trusts the CA in Secret ns/name's ca.crt.
func credentialRoots(t *testing.T, ns, name string) *x509.CertPool {
	t.Helper()
	s, err := adminKube(t).CoreV1().Secrets(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(s.Data["ca.crt"]) {
		t.Fatalf("Secret %s/%s has no CA in ca.crt", ns, name)
	}
	return roots
}

// waitGatewayServes refreshes the emulator from istiod until check holds
// (istiod pushes a change, an EndpointSlice, within moments), and fails the
// test with check's last complaint.
func waitGatewayServes(t *testing.T, e *gatewayemulator.Emulator, check func() error) {
	t.Helper()
	err := await.Until(context.Background(), 30*time.Second, 200*time.Millisecond, "the gateway to serve", func(ctx context.Context) (bool, string, error) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		err := e.Refresh(ctx)
		if err == nil {
			err = check()
		}
		return err == nil, fmt.Sprint(err), nil
	})
	if err != nil {
		t.Fatalf("the gateway, as istiod configures it: %v", err)
	}
}
