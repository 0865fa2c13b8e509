package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/opea-project/kubectl-opea/pkg/audit/check"
)

// fakeForwarder stands in for the API server's port-forward (the real one
// is tested end to end, through kwok): each pod port goes to a local
// address. It records what it was asked.
type fakeForwarder struct {
	pod              string
	refuse           string // MayForward's answer
	openErr, dialErr error
	ports            map[int32]string
	// httpsDials, when above 0, is how many dials to port 443 the
	// port-forward carries: the ones after fail as a broken port-forward.
	httpsDials int

	mu    sync.Mutex
	calls []string
	dials map[int32]int
}

// dialBreaks counts a dial to port and reports whether the port-forward
// breaks it.
func (f *fakeForwarder) dialBreaks(port int32) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dials == nil {
		f.dials = map[int32]int{}
	}
	f.dials[port]++
	return port == 443 && f.httpsDials > 0 && f.dials[port] > f.httpsDials
}

func (f *fakeForwarder) record(call string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
}

func (f *fakeForwarder) ReadyPod(_ context.Context, ns, selector string) (string, error) {
	f.record("ready pod in " + ns + " with " + selector)
	return f.pod, nil
}

func (f *fakeForwarder) MayForward(_ context.Context, ns, pod string) (string, error) {
	f.record("may forward to " + ns + "/" + pod)
	return f.refuse, nil
}

func (f *fakeForwarder) Open(_ context.Context, ns, pod string) (Tunnel, error) {
	f.record("open " + ns + "/" + pod)
	if f.openErr != nil {
		return nil, f.openErr
	}
	return fakeTunnel{f}, nil
}

type fakeTunnel struct{ f *fakeForwarder }

func (t fakeTunnel) Dial(ctx context.Context, port int32) (net.Conn, error) {
	if t.f.dialErr != nil {
		return nil, &ForwardError{Err: t.f.dialErr}
	}
	if t.f.dialBreaks(port) {
		return nil, &ForwardError{Err: errors.New("the node closed the stream")}
	}
	return (&net.Dialer{}).DialContext(ctx, "tcp", t.f.ports[port])
}

func (t fakeTunnel) Close() error { return nil }

// forwardedGateway serves c over TLS and a redirect over plain HTTP, as
// the gateway pod's ports 443 and 80.
func forwardedGateway(t *testing.T, c issued) map[int32]string {
	t.Helper()
	g := newTLSGateway(t, "127.0.0.1:0", c)
	plain := httptest.NewServer(http.RedirectHandler("https://chatqna.example.com/", http.StatusMovedPermanently))
	t.Cleanup(plain.Close)
	return map[int32]string{443: g.addr, 80: strings.TrimPrefix(plain.URL, "http://")}
}

// With no load balancer address, the probe goes through a port-forward to
// a ready gateway pod, on the ports the pod listens on, and says so.
func TestProbeThroughAPortForwardWhenNoAddressIsKnown(t *testing.T) {
	c := issue(t, []string{"chatqna.example.com"}, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	ports := forwardedGateway(t, c)
	s := healthy(t)
	useCertificate(s, c)
	s.Probe = nil
	f := &fakeForwarder{pod: "istio-ingress-abc", ports: ports}
	report := Probe(context.Background(), s, Options{Forwarder: f, Timeout: 5 * time.Second})
	if report == nil {
		t.Fatal("no probe")
	}
	want := []string{"ready pod in istio-ingress with app=istio-ingress,istio=ingress", "may forward to istio-ingress/istio-ingress-abc", "open istio-ingress/istio-ingress-abc"}
	if diff := cmp.Diff(want, f.calls); diff != "" {
		t.Errorf("asked of the API server (-want +got):\n%s", diff)
	}
	if report.Via != "port-forward to istio-ingress/istio-ingress-abc" || report.Address != "port 443 via port-forward to istio-ingress/istio-ingress-abc" ||
		report.HTTPAddress != "port 80 via port-forward to istio-ingress/istio-ingress-abc" {
		t.Errorf("via %q, address %q, HTTP address %q", report.Via, report.Address, report.HTTPAddress)
	}
	if len(report.Hosts) != 1 || report.Hosts[0].Served == nil || report.Hosts[0].Status != http.StatusOK || report.RedirectStatus != http.StatusMovedPermanently {
		t.Errorf("probe: %+v", report)
	}
	// --probe-via address never port-forwards; --probe-address is probed itself.
	for _, o := range []Options{{Via: ViaAddress}, {Address: ports[443]}} {
		f := &fakeForwarder{pod: "istio-ingress-abc", ports: ports}
		o.Forwarder, o.Timeout = f, 5*time.Second
		report := Probe(context.Background(), s, o)
		if len(f.calls) > 0 || (report != nil && report.Via != "") {
			t.Errorf("%+v: port-forwarded: %v", o, f.calls)
		}
	}
}

// A user who may not port-forward gets the probe skipped with the reason;
// a port-forward that fails is a could-not-check, never a pass.
func TestProbeThroughAPortForwardThatCannotRun(t *testing.T) {
	for _, tc := range []struct {
		name   string
		f      *fakeForwarder
		status check.Status
		want   string
	}{
		{"refused", &fakeForwarder{pod: "gw-1", refuse: "you may not create pods/portforward in namespace istio-ingress"},
			check.Skip, "not probed: you may not create pods/portforward in namespace istio-ingress"},
		{"not opened", &fakeForwarder{pod: "gw-1", openErr: errors.New("error upgrading connection: 403")},
			check.Warn, "could not check, the probe did not reach the gateway (via port-forward to istio-ingress/gw-1): the port-forward failed: error upgrading connection"},
		{"connection not carried", &fakeForwarder{pod: "gw-1", dialErr: errors.New("port 443: no forward found")},
			check.Warn, "the port-forward failed: port 443: no forward found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := healthy(t)
			s.Probe = nil
			s.Probe = Probe(context.Background(), s, Options{Via: ViaPortForward, Forwarder: tc.f, Timeout: 5 * time.Second})
			outcomes := map[string]check.Outcome{}
			for _, o := range check.Run(s) {
				outcomes[o.ID] = o
			}
			if got := outcomes["probe.tls-handshake"]; got.Status != tc.status || !strings.Contains(got.Message, tc.want) {
				t.Errorf("probe.tls-handshake: %s %q, want %s with %q", got.Status, got.Message, tc.status, tc.want)
			}
			for _, id := range []string{"probe.served-certificate", "probe.https-route", "probe.http-redirect", "certificate.served-current"} {
				if got := outcomes[id]; got.Status != check.Skip || !strings.HasPrefix(got.Message, "not probed: ") {
					t.Errorf("%s: %s %q, want skipped as not probed", id, got.Status, got.Message)
				}
			}
		})
	}
}

// A port-forward that breaks after the handshake, at the GET or at the GET
// with the token, is recorded as the port-forward's failure: the gateway's
// answer is then unknown, never an HTTP failure of the gateway.
func TestProbeThroughAPortForwardThatBreaksBeforeAnAnswer(t *testing.T) {
	c := issue(t, []string{"chatqna.example.com"}, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	ports := forwardedGateway(t, c)
	// Each GET dials anew: the GET with the token meets the broken
	// port-forward, not a connection the first GET left open.
	ports[443] = gatewayWithoutKeepAlives(t, c)
	s := healthy(t)
	useCertificate(s, c)
	s.Probe = nil
	const broken = "the port-forward failed: the node closed the stream"
	for _, tc := range []struct {
		name       string
		httpsDials int
		status     int
	}{
		{"at the GET", 1, 0},
		{"at the GET with the token", 2, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeForwarder{pod: "istio-ingress-abc", ports: ports, httpsDials: tc.httpsDials}
			report := Probe(context.Background(), s, Options{Forwarder: f, Timeout: 5 * time.Second, Token: "a-token"})
			if report == nil || len(report.Hosts) != 1 {
				t.Fatalf("probe: %+v", report)
			}
			h := report.Hosts[0]
			if h.Served == nil || h.Status != tc.status || h.ForwardErr != broken {
				t.Errorf("served %v, status %d, port-forward failure %q; want a certificate, %d, %q", h.Served != nil, h.Status, h.ForwardErr, tc.status, broken)
			}
			if h.StatusErr != "" || h.TokenStatus != 0 || h.TokenErr != "" || h.TimedOut {
				t.Errorf("an answer or failure of the gateway recorded: status error %q, token status %d, token error %q, timed out %v", h.StatusErr, h.TokenStatus, h.TokenErr, h.TimedOut)
			}
		})
	}
}

// gatewayWithoutKeepAlives serves c over TLS and answers 200, closing the
// connection after each answer. It returns its address.
func gatewayWithoutKeepAlives(t *testing.T, c issued) string {
	t.Helper()
	cert, err := tls.X509KeyPair(c.CertPEM, c.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.Config.SetKeepAlivesEnabled(false)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}
