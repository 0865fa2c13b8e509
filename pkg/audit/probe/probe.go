// Package probe is verify's live TLS probe: it connects to the gateway as
// a client would, for every HTTPS host of the application, and records
// what it saw for the checks to judge.
package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/opea-project/kubectl-opea/pkg/audit/internal/workers"
	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/pkg/gatewayapi"
	"github.com/opea-project/kubectl-opea/pkg/istio"
)

// Options say where the gateway listens and how to reach it.
type Options struct {
	Address     string // host:port of the HTTPS listener
	HTTPAddress string // host:port of the plain HTTP listener
	// Via is how the probe reaches the gateway when Address is empty:
	// ViaAuto, ViaAddress or ViaPortForward ("" is ViaAuto).
	Via string
	// Forwarder opens port-forwards to the gateway pods; nil, the probe
	// never port-forwards.
	Forwarder Forwarder
	// Timeout bounds each host's probe, and the whole probe: hosts still
	// waiting for their turn when it has passed are reported timed out.
	// Opening a port-forward has a time of its own, as long.
	Timeout time.Duration
	// Token, when set, is sent as a bearer token in a second GET / of each
	// host, over TLS only (never to the plain HTTP listener). It is a
	// secret: it goes into no report, message or error.
	Token string
}

// The ways the probe reaches the gateway (verify --probe-via).
const (
	// ViaAuto: the address given, else the load balancer address of the
	// gateway Service (or the Gateway API Gateway's status address),
	// else a port-forward to a gateway pod.
	ViaAuto = "auto"
	// ViaAddress: the address given or found, never a port-forward.
	ViaAddress = "address"
	// ViaPortForward: always a port-forward to a gateway pod.
	ViaPortForward = "port-forward"
)

// ViaValues are the values of Options.Via, as --probe-via takes them.
var ViaValues = []string{ViaAuto, ViaAddress, ViaPortForward}

// probeWorkers is how many hosts are probed at once.
const probeWorkers = 8

// dialFunc opens a connection to one of the gateway's listeners.
type dialFunc func(ctx context.Context) (net.Conn, error)

// dialAddress dials address over TCP.
func dialAddress(address string) dialFunc {
	return func(ctx context.Context) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "tcp", address)
	}
}

// Probe connects to the gateway as a client would: for every HTTPS host of
// the application, a TLS handshake with SNI that validates the certificate
// (against the Secret's ca.crt, or the system roots), then GET /; and a plain
// HTTP request that should be redirected. Hosts are probed concurrently, at
// most probeWorkers at once, and all within one deadline of o.Timeout;
// results are in the order of the hosts. It reaches the gateway at the
// address given or found, or else (o.Via) through a port-forward to one of
// its pods. It returns nil when there is no way to the gateway, or when
// what it needs could not be read.
func Probe(ctx context.Context, s *snapshot.Snapshot, o Options) *snapshot.ProbeReport {
	if len(s.Refused(snapshot.ProbeInputs...)) > 0 {
		return nil
	}
	v := s.Scope()
	if len(v.TLSListeners()) == 0 {
		return nil
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	report := &snapshot.ProbeReport{Address: o.Address, HTTPAddress: o.HTTPAddress, Token: o.Token != ""}
	if report.Address == "" && o.Via != ViaPortForward {
		report.Guessed = true
		report.Address, report.HTTPAddress = GuessAddresses(v)
	}
	if report.Address != "" {
		var plain dialFunc
		if report.HTTPAddress != "" {
			plain = dialAddress(report.HTTPAddress)
		}
		probeListeners(ctx, v, report, dialAddress(report.Address), plain, o)
		return report
	}
	if o.Via == ViaAddress || o.Forwarder == nil {
		return nil
	}
	return probeThroughPortForward(ctx, v, o)
}

// probeListeners probes every host through https, and the redirect
// through plain when there is one, into report.
func probeListeners(ctx context.Context, v *snapshot.Scope, report *snapshot.ProbeReport, https, plain dialFunc, o Options) {
	timeout := o.Timeout
	var roots *x509.CertPool // nil: the system roots
	if creds, _ := v.Credentials(); len(creds) > 0 && len(creds[0].CAPEM) > 0 {
		roots = x509.NewCertPool()
		roots.AppendCertsFromPEM(creds[0].CAPEM)
	}
	hosts := probeHosts(v)
	report.Hosts = make([]snapshot.HostProbe, len(hosts))
	var tasks []func(context.Context)
	for i, host := range hosts {
		tasks = append(tasks, func(ctx context.Context) {
			report.Hosts[i] = probeHost(ctx, https, host, roots, o)
		})
	}
	if plain != nil && len(hosts) > 0 {
		tasks = append(tasks, func(ctx context.Context) { probeRedirect(ctx, report, plain, hosts[0], timeout) })
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	workers.Run(ctx, probeWorkers, tasks)
}

// probeTarget is how the probe names host: serverName goes into the TLS
// ClientHello and the certificate check, urlHost into the request URL. For
// an IP literal serverName is the bare address: crypto/tls then sends no
// SNI and requires the certificate to carry it as an IP SAN, as any client
// does.
func probeTarget(host string) (serverName, urlHost string) {
	bare := strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if ip := net.ParseIP(bare); ip != nil {
		if ip.To4() == nil {
			return bare, "[" + bare + "]"
		}
		return bare, bare
	}
	return host, host
}

// timedOut reports whether err is the end of the probe's time.
func timedOut(ctx context.Context, err error) bool {
	var netErr net.Error
	return errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil || (errors.As(err, &netErr) && netErr.Timeout())
}

// probeHosts are the names (SNI) to probe: each TLS listener's client hosts,
// a wildcard made concrete for the application; for a listener of any host
// (an Istio server of hosts "*" without concrete VirtualService hosts, a
// Gateway API listener and routes without hostnames), the names its
// certificate holds.
func probeHosts(v *snapshot.Scope) []string {
	creds, _ := v.Credentials()
	seen := map[string]bool{}
	var out []string
	for _, t := range v.TLSListeners() {
		hosts := v.ListenerHosts(t)
		if len(hosts) == 0 {
			for _, c := range creds {
				if p, err := c.Parse(); err == nil && c.SameGateway(t) {
					hosts = append(hosts, p.Chain[0].DNSNames...)
					for _, ip := range p.Chain[0].IPAddresses {
						hosts = append(hosts, ip.String())
					}
				}
			}
		}
		for _, h := range hosts {
			host := istio.ExampleHost(h, v.Snapshot().Namespace)
			if !seen[host] {
				seen[host] = true
				out = append(out, host)
			}
		}
	}
	return out
}

// GuessAddresses finds the load balancer address of the gateway Service and
// its ports for the HTTPS and HTTP servers: the Service port that forwards to
// the port a server listens on. For a Gateway API Gateway, it is the address
// istiod reported in its status, with the listeners' ports (the Service
// Istio deploys for a Gateway exposes each listener port as is).
func GuessAddresses(v *snapshot.Scope) (https, plain string) {
	if https, plain = guessClassicAddresses(v); https != "" {
		return https, plain
	}
	for _, l := range v.APITLSListeners() {
		if addr := l.Gateway.Address(); addr != "" {
			https = net.JoinHostPort(addr, strconv.Itoa(int(l.Listener.Port)))
			plain = plainAddress(v, l.Gateway)
			return https, plain
		}
	}
	return "", ""
}

// plainAddress is the status address of gw with the port of its HTTP
// listener that redirects, or else of its first HTTP listener; "" when it
// has none.
func plainAddress(v *snapshot.Scope, gw gatewayapi.Gateway) string {
	var port int32
	for _, p := range v.APIPlainListeners() {
		if p.Gateway.Namespace != gw.Namespace || p.Gateway.Name != gw.Name {
			continue
		}
		if port == 0 || len(p.Redirects) > 0 {
			port = p.Listener.Port
		}
		if len(p.Redirects) > 0 {
			break
		}
	}
	if port == 0 {
		return ""
	}
	return net.JoinHostPort(gw.Address(), strconv.Itoa(int(port)))
}

func guessClassicAddresses(v *snapshot.Scope) (https, plain string) {
	for _, gw := range v.Gateways {
		pods := v.GatewayPods(gw)
		if len(pods) == 0 {
			continue
		}
		pod := pods[0]
		for _, svc := range v.PodServices(pod) {
			if svc.Address == "" {
				continue
			}
			for _, srv := range gw.Servers {
				port, ok := snapshot.Forwarded(svc, pod, v.ListenPort(pod, srv.Port.Number))
				if !ok {
					continue
				}
				addr := net.JoinHostPort(svc.Address, strconv.Itoa(int(port)))
				switch {
				case srv.Port.Protocol == "HTTPS" && https == "":
					https = addr
				case srv.Port.Protocol == "HTTP" && plain == "":
					plain = addr
				}
			}
		}
	}
	return https, plain
}

func probeHost(ctx context.Context, dial dialFunc, host string, roots *x509.CertPool, o Options) snapshot.HostProbe {
	timeout := o.Timeout
	hp := snapshot.HostProbe{Host: host}
	if ctx.Err() != nil {
		hp.TimedOut = true
		hp.ConnectErr = fmt.Sprintf("not probed: the probe's deadline (--probe-timeout %s) passed before its turn", timeout)
		return hp
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	serverName, urlHost := probeTarget(host)
	conn, err := dial(ctx)
	if hp.ForwardErr = forwardFailureOf(err); hp.ForwardErr != "" {
		return hp
	}
	if err != nil {
		hp.ConnectErr = err.Error()
		if hp.TimedOut = timedOut(ctx, err); hp.TimedOut {
			hp.ConnectErr = fmt.Sprintf("no connection within %s", timeout)
		}
		return hp
	}
	cfg := &tls.Config{ServerName: serverName, RootCAs: roots, MinVersion: tls.VersionTLS12}
	tlsConn := tls.Client(conn, cfg)
	if err := tlsConn.HandshakeContext(ctx); err != nil {
		conn.Close()
		if hp.ForwardErr = forwardFailureOf(err); hp.ForwardErr != "" {
			return hp
		}
		hp.HandshakeErr = err.Error()
		if hp.TimedOut = timedOut(ctx, err); hp.TimedOut {
			hp.HandshakeErr = fmt.Sprintf("no TLS answer within %s: the listener accepted the connection but did not complete the handshake", timeout)
		}
		return hp
	}
	hp.Served = tlsConn.ConnectionState().PeerCertificates[0]
	tlsConn.Close()

	client := &http.Client{
		Transport: &http.Transport{
			TLSClientConfig: cfg,
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return dial(ctx)
			},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer client.CloseIdleConnections()
	anonymous := get(ctx, client, urlHost, "", timeout)
	hp.Status, hp.Body, hp.Location = anonymous.status, anonymous.body, anonymous.location
	hp.StatusErr, hp.ForwardErr, hp.TimedOut = anonymous.failure, anonymous.forwardErr, anonymous.late
	if o.Token != "" && hp.StatusErr == "" && hp.ForwardErr == "" {
		withToken := get(ctx, client, urlHost, o.Token, timeout)
		hp.TokenStatus, hp.TokenBody = withToken.status, withToken.body
		hp.TokenErr, hp.ForwardErr, hp.TimedOut = withToken.failure, withToken.forwardErr, withToken.late
	}
	return hp
}

// answer is what one GET through the gateway came to: the status, the
// first line of the body and the Location of the gateway's answer; or why
// there was none (failure, with late when the timeout passed first); or,
// when the gateway was not reached because the port-forward failed, that
// failure (forwardErr) alone.
type answer struct {
	status     int
	body       string
	location   string
	failure    string
	late       bool
	forwardErr string
}

// get sends GET https://urlHost/ through client, with token as a bearer
// token when it is not empty. The failure never holds the token: net/http
// names the URL, not the headers.
func get(ctx context.Context, client *http.Client, urlHost, token string, timeout time.Duration) answer {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, (&url.URL{Scheme: "https", Host: urlHost, Path: "/"}).String(), nil)
	if err != nil {
		return answer{failure: err.Error()}
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if forwardErr := forwardFailureOf(err); forwardErr != "" {
		return answer{forwardErr: forwardErr}
	}
	if err != nil {
		if timedOut(ctx, err) {
			return answer{failure: fmt.Sprintf("no HTTP answer within %s", timeout), late: true}
		}
		return answer{failure: err.Error()}
	}
	defer resp.Body.Close()
	return answer{status: resp.StatusCode, body: firstLine(resp.Body), location: resp.Header.Get("Location")}
}

// firstLine is the first line of what r holds in its first bytes, as a
// gateway's own answers (403 "RBAC: access denied", 503 "no healthy
// upstream") name their cause there; printable ASCII only, since it is
// printed to a terminal.
func firstLine(r io.Reader) string {
	buf := make([]byte, 256)
	n, _ := io.ReadFull(r, buf)
	line, _, _ := strings.Cut(string(buf[:n]), "\n")
	return strings.Map(func(c rune) rune {
		if c < ' ' || c > '~' {
			return -1
		}
		return c
	}, strings.TrimSpace(line))
}

func probeRedirect(ctx context.Context, r *snapshot.ProbeReport, dial dialFunc, host string, timeout time.Duration) {
	if ctx.Err() != nil {
		r.RedirectErr = fmt.Sprintf("not probed: the probe's deadline (--probe-timeout %s) passed before its turn", timeout)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	_, urlHost := probeTarget(host)
	client := &http.Client{
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dial(ctx)
		}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, (&url.URL{Scheme: "http", Host: urlHost, Path: "/"}).String(), nil)
	if err != nil {
		r.RedirectErr = err.Error()
		return
	}
	resp, err := client.Do(req)
	if r.ForwardErr = forwardFailureOf(err); r.ForwardErr != "" {
		return
	}
	if err != nil {
		r.RedirectErr = err.Error()
		if timedOut(ctx, err) {
			r.RedirectErr = fmt.Sprintf("no HTTP answer within %s", timeout)
		}
		return
	}
	resp.Body.Close()
	r.RedirectStatus, r.RedirectLocation = resp.StatusCode, resp.Header.Get("Location")
}

// forwardFailureOf is the failure of the port-forward that err is, ""
// when it is none: the gateway was then not reached, and err says nothing
// of it.
func forwardFailureOf(err error) string {
	var forward *ForwardError
	if errors.As(err, &forward) {
		return forward.Error()
	}
	return ""
}
