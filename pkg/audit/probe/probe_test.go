package probe

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/opea-project/kubectl-opea/pkg/audit/check"
	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/pkg/istio"
)

// hangingGateway accepts TCP connections and never answers: a gateway whose
// listener is up and whose proxy is stuck. It records how many connections
// were open at once.
type hangingGateway struct {
	addr string

	mu         sync.Mutex
	open, most int
}

func newHangingGateway(t testing.TB) *hangingGateway {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	g := &hangingGateway{addr: l.Addr().String()}
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			g.mu.Lock()
			g.open++
			g.most = max(g.most, g.open)
			g.mu.Unlock()
			go func() {
				_, _ = io.Copy(io.Discard, conn) // until the client gives up
				conn.Close()
				g.mu.Lock()
				g.open--
				g.mu.Unlock()
			}()
		}
	}()
	return g
}

func (g *hangingGateway) mostOpen() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.most
}

// withHosts makes the healthy snapshot's Gateway and VirtualService serve
// hosts, and forgets its probe.
func withHosts(s *snapshot.Snapshot, hosts ...string) {
	s.Gateways[0].Servers[0].Hosts = hosts
	s.Gateways[0].Servers[1].Hosts = hosts
	s.VirtualServices[0].Hosts = hosts
	s.Probe = nil
}

func numberedHosts(n int) []string {
	var hosts []string
	for i := 1; i <= n; i++ {
		hosts = append(hosts, fmt.Sprintf("h%02d.example.com", i))
	}
	return hosts
}

// Twelve hosts against a gateway that never answers: they are probed at
// most probeWorkers at once and all within one deadline, so the hosts whose
// turn comes after it are reported timed out without being tried, and the
// results keep the hosts' order.
func TestProbeOfAHangingGatewayEndsAtOneDeadline(t *testing.T) {
	g := newHangingGateway(t)
	s := healthy(t)
	hosts := numberedHosts(12)
	withHosts(s, hosts...)
	report := Probe(context.Background(), s, Options{Address: g.addr, HTTPAddress: g.addr, Timeout: 300 * time.Millisecond})
	if report == nil {
		t.Fatal("no probe")
	}
	var got []string
	for i, h := range report.Hosts {
		got = append(got, h.Host)
		if !h.TimedOut || h.Served != nil {
			t.Errorf("%s: timed out %v, served %v", h.Host, h.TimedOut, h.Served)
		}
		// The first probeWorkers hosts were tried and got no answer; the
		// others' turn came after the deadline.
		if i < probeWorkers && !strings.Contains(h.HandshakeErr, "no TLS answer within 300ms") {
			t.Errorf("%s: handshake error %q, want a timeout", h.Host, h.HandshakeErr)
		}
		if i >= probeWorkers && !strings.Contains(h.ConnectErr, "not probed: the probe's deadline (--probe-timeout 300ms) passed") {
			t.Errorf("%s: connect error %q, want not probed", h.Host, h.ConnectErr)
		}
	}
	if diff := cmp.Diff(hosts, got); diff != "" {
		t.Errorf("hosts out of order (-want +got):\n%s", diff)
	}
	if !strings.Contains(report.RedirectErr, "not probed") {
		t.Errorf("redirect error %q", report.RedirectErr)
	}
	if most := g.mostOpen(); most < 2 || most > probeWorkers {
		t.Errorf("%d connections open at once, want concurrency bounded by %d", most, probeWorkers)
	}
	s.Probe = report
	o := outcomesByID(s)["probe.tls-handshake"]
	if o.Status != check.Fail || !strings.Contains(o.Message, "did not answer in time for 12 of 12 hosts (h01.example.com, h02.example.com, h03.example.com, h04.example.com, h05.example.com, and 7 more)") {
		t.Errorf("probe.tls-handshake = %s %q", o.Status, o.Message)
	}
}

// tlsGateway serves c on address (a loopback host:0) and answers 200; it
// records the server name (SNI) of every ClientHello.
type tlsGateway struct {
	addr string

	mu  sync.Mutex
	sni []string
}

func newTLSGateway(t *testing.T, address string, c issued) *tlsGateway {
	t.Helper()
	l, err := net.Listen("tcp", address)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", address, err)
	}
	cert, err := tls.X509KeyPair(c.CertPEM, c.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	g := &tlsGateway{addr: l.Addr().String()}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	srv.Listener.Close()
	srv.Listener = l
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are the point
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		g.mu.Lock()
		g.sni = append(g.sni, hello.ServerName)
		g.mu.Unlock()
		return nil, nil
	}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return g
}

func (g *tlsGateway) serverNames() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.sni...)
}

func useCertificate(s *snapshot.Snapshot, c issued) {
	s.Secrets["istio-ingress/opea-chatqna-tls"].Data = map[string][]byte{"tls.crt": c.CertPEM, "tls.key": c.KeyPEM, "ca.crt": c.CAPEM}
}

// Many hosts probed at once come back in the hosts' order, each with the
// name it was probed for in SNI.
func TestProbeResultsKeepTheHostsOrder(t *testing.T) {
	c := issue(t, []string{"*.example.com"}, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	g := newTLSGateway(t, "127.0.0.1:0", c)
	s := healthy(t)
	useCertificate(s, c)
	hosts := numberedHosts(20)
	withHosts(s, hosts...)
	report := Probe(context.Background(), s, Options{Address: g.addr, Timeout: 10 * time.Second})
	var got []string
	for _, h := range report.Hosts {
		got = append(got, h.Host)
		if h.HandshakeErr != "" || h.ConnectErr != "" || h.Status != http.StatusOK {
			t.Errorf("%s: %+v", h.Host, h)
		}
	}
	if diff := cmp.Diff(hosts, got); diff != "" {
		t.Errorf("hosts out of order (-want +got):\n%s", diff)
	}
	sni := g.serverNames()
	sort.Strings(sni)
	want := append(append([]string(nil), hosts...), hosts...) // the handshake, then GET /
	sort.Strings(want)
	if diff := cmp.Diff(want, sni); diff != "" {
		t.Errorf("server names sent (-want +got):\n%s", diff)
	}
}

// A host that is an IP address is probed as clients reach it: no SNI, and
// the certificate must carry the address as an IP SAN, not as a DNS name.
func TestProbeOfAnIPHostSendsNoSNIAndChecksIPSANs(t *testing.T) {
	notBefore, notAfter := time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	for _, tc := range []struct {
		name           string
		listen         string
		serverHosts    []string
		cert           issued
		wantHost       string
		wantHandshake  string // "" for success
		wantStatusCode int
	}{
		{name: "IPv4 host, IP SAN", listen: "127.0.0.1:0", serverHosts: []string{"127.0.0.1"},
			cert: issueSANs(t, nil, []net.IP{net.ParseIP("127.0.0.1")}, notBefore, notAfter), wantHost: "127.0.0.1", wantStatusCode: 200},
		{name: "IPv6 host, IP SAN", listen: "[::1]:0", serverHosts: []string{"::1"},
			cert: issueSANs(t, nil, []net.IP{net.ParseIP("::1")}, notBefore, notAfter), wantHost: "::1", wantStatusCode: 200},
		{name: "hosts *, the certificate's IP SAN probed", listen: "127.0.0.1:0", serverHosts: []string{"*"},
			cert: issueSANs(t, nil, []net.IP{net.ParseIP("127.0.0.1")}, notBefore, notAfter), wantHost: "127.0.0.1", wantStatusCode: 200},
		{name: "IPv4 host written as a DNS SAN", listen: "127.0.0.1:0", serverHosts: []string{"127.0.0.1"},
			cert: issueSANs(t, []string{"127.0.0.1"}, nil, notBefore, notAfter), wantHost: "127.0.0.1", wantHandshake: "doesn't contain any IP SANs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newTLSGateway(t, tc.listen, tc.cert)
			s := healthy(t)
			useCertificate(s, tc.cert)
			withHosts(s, tc.serverHosts...)
			report := Probe(context.Background(), s, Options{Address: g.addr, Timeout: 10 * time.Second})
			if report == nil || len(report.Hosts) != 1 {
				t.Fatalf("probe report %+v, want one host", report)
			}
			h := report.Hosts[0]
			if h.Host != tc.wantHost {
				t.Errorf("probed %q, want %q", h.Host, tc.wantHost)
			}
			if tc.wantHandshake == "" && (h.HandshakeErr != "" || h.StatusErr != "" || h.Status != tc.wantStatusCode) {
				t.Errorf("probe of %s: %+v", h.Host, h)
			}
			if tc.wantHandshake != "" && !strings.Contains(h.HandshakeErr, tc.wantHandshake) {
				t.Errorf("handshake error %q, want %q", h.HandshakeErr, tc.wantHandshake)
			}
			for _, name := range g.serverNames() {
				if name != "" {
					t.Errorf("SNI %q sent for an IP address", name)
				}
			}
		})
	}
}

// BenchmarkProbeHangingGateway measures the probe of twelve hosts against
// a gateway that never answers, with a 100ms --probe-timeout.
func BenchmarkProbeHangingGateway(b *testing.B) {
	g := newHangingGateway(b)
	s := healthy(b)
	withHosts(s, numberedHosts(12)...)
	for b.Loop() {
		Probe(context.Background(), s, Options{Address: g.addr, HTTPAddress: g.addr, Timeout: 100 * time.Millisecond})
	}
}

// A gateway that answers anything but the application fails
// probe.https-route with the body's first line and the likely cause.
func TestProbeFailsAnswersThatAreNotTheApplications(t *testing.T) {
	c := issue(t, []string{"chatqna.example.com"}, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	cert, err := tls.X509KeyPair(c.CertPEM, c.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		status int
		body   string
		want   check.Status
		says   string
	}{
		{200, "ChatQnA\n", check.Pass, "GET / answered 200"},
		{302, "", check.Pass, "GET / answered 302"},
		{403, "RBAC: access denied", check.Fail, `answered 403 ("RBAC: access denied"): the gateway's own authorization refuses clients: DENY policy istio-ingress/no-root matches`},
		{401, "Jwt is missing", check.Fail, `answered 401 ("Jwt is missing"): the gateway wants credentials`},
		{503, "upstream connect error or disconnect/reset before headers. reset reason: connection termination\nmore", check.Fail,
			`answered 503 ("upstream connect error or disconnect/reset before headers. reset reason: connection termination"): the gateway could not get the application's answer`},
		{503, "no healthy upstream", check.Fail, "the gateway has no ready endpoint of the application"},
		{500, "\x1b[31mboom\x1b[0m", check.Fail, `answered 500 ("[31mboom[0m"): the gateway could not get`},
	} {
		t.Run(fmt.Sprint(tc.status, " ", tc.body), func(t *testing.T) {
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
			srv.StartTLS()
			defer srv.Close()
			s := healthy(t)
			useCertificate(s, c)
			withHosts(s, "chatqna.example.com")
			// A DENY by path: one of requests without a token would leave
			// the answer to the Authentication checks.
			s.AuthorizationPolicies = []istio.AuthorizationPolicy{accepted("istio-ingress", "no-root", istio.AuthorizationPolicy{Action: "DENY",
				Rules: []istio.AuthorizationRule{{To: []istio.RuleTo{{Operation: istio.Operation{Paths: []string{"/"}}}}}}})}
			s.Probe = Probe(context.Background(), s, Options{Address: srv.Listener.Addr().String(), Timeout: 10 * time.Second})
			o := outcomesByID(s)["probe.https-route"]
			if o.Status != tc.want || !strings.Contains(o.Message, tc.says) {
				t.Errorf("%s %q; want %s containing %q", o.Status, o.Message, tc.want, tc.says)
			}
		})
	}
}
