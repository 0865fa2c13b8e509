package audit

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/opea-project/kubectl-opea/pkg/desired"
)

// ProbeOptions say where the gateway listens. Empty addresses are guessed
// from the gateway Service's load balancer address.
type ProbeOptions struct {
	Address     string // host:port of the HTTPS listener
	HTTPAddress string // host:port of the plain HTTP listener
	Timeout     time.Duration
}

// Probe connects to the gateway as a client would: for every HTTPS host of
// the application, a TLS handshake with SNI that validates the certificate
// (against the Secret's ca.crt, or the system roots), then GET /; and a plain
// HTTP request that should be redirected. It returns nil when there is no
// address to probe.
func Probe(ctx context.Context, s *Snapshot, o ProbeOptions) *ProbeReport {
	v := newView(s)
	servers := v.httpsServers()
	if len(servers) == 0 {
		return nil
	}
	report := &ProbeReport{Address: o.Address, HTTPAddress: o.HTTPAddress}
	if report.Address == "" {
		report.Guessed = true
		report.Address, report.HTTPAddress = v.guessAddresses()
		if report.Address == "" {
			return nil
		}
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	var roots *x509.CertPool // nil: the system roots
	if creds, _ := v.credentials(); len(creds) > 0 && len(creds[0].caPEM) > 0 {
		roots = x509.NewCertPool()
		roots.AppendCertsFromPEM(creds[0].caPEM)
	}
	hosts := v.probeHosts()
	for _, host := range hosts {
		report.Hosts = append(report.Hosts, probeHost(ctx, report.Address, host, roots, o.Timeout))
	}
	if report.HTTPAddress != "" && len(hosts) > 0 {
		probeRedirect(ctx, report, hosts[0], o.Timeout)
	}
	return report
}

// probeHosts are the names (SNI) to probe: each HTTPS server's client hosts,
// a wildcard made concrete for the application; for a server of hosts "*"
// without concrete VirtualService hosts, the names its certificate holds.
func (v *view) probeHosts() []string {
	creds, _ := v.credentials()
	seen := map[string]bool{}
	var out []string
	for _, gs := range v.httpsServers() {
		hosts := v.clientHosts(gs)
		if len(hosts) == 0 {
			for _, c := range creds {
				if p, err := c.parse(); err == nil && c.gw.Namespace == gs.gw.Namespace && c.gw.Name == gs.gw.Name {
					hosts = append(hosts, p.chain[0].DNSNames...)
				}
			}
		}
		for _, h := range hosts {
			host := desired.ExampleHost(h, v.s.Namespace)
			if !seen[host] {
				seen[host] = true
				out = append(out, host)
			}
		}
	}
	return out
}

// guessAddresses finds the load balancer address of the gateway Service and
// its ports for the HTTPS and HTTP servers: the Service port that forwards to
// the port a server listens on.
func (v *view) guessAddresses() (https, plain string) {
	for _, gw := range v.gateways {
		pods := v.gatewayPods(gw)
		if len(pods) == 0 {
			continue
		}
		pod := pods[0]
		for _, svc := range v.podServices(pod) {
			if svc.Address == "" {
				continue
			}
			for _, srv := range gw.Servers {
				port, ok := forwarded(svc, pod, v.listenPort(pod, srv.Port.Number))
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

func probeHost(ctx context.Context, address, host string, roots *x509.CertPool, timeout time.Duration) HostProbe {
	hp := HostProbe{Host: host}
	dialer := &net.Dialer{Timeout: timeout}
	conn, err := dialer.DialContext(ctx, "tcp", address)
	if err != nil {
		hp.ConnectErr = err.Error()
		return hp
	}
	cfg := &tls.Config{ServerName: host, RootCAs: roots, MinVersion: tls.VersionTLS12}
	tlsConn := tls.Client(conn, cfg)
	hsCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := tlsConn.HandshakeContext(hsCtx); err != nil {
		conn.Close()
		hp.HandshakeErr = err.Error()
		return hp
	}
	hp.Served = tlsConn.ConnectionState().PeerCertificates[0]
	tlsConn.Close()

	client := &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			TLSClientConfig: cfg,
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return dialer.DialContext(ctx, network, address)
			},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+host+"/", nil)
	if err != nil {
		hp.StatusErr = err.Error()
		return hp
	}
	resp, err := client.Do(req)
	if err != nil {
		hp.StatusErr = err.Error()
		return hp
	}
	resp.Body.Close()
	hp.Status = resp.StatusCode
	return hp
}

func probeRedirect(ctx context.Context, r *ProbeReport, host string, timeout time.Duration) {
	dialer := &net.Dialer{Timeout: timeout}
	client := &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, r.HTTPAddress)
		}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+host+"/", nil)
	if err != nil {
		r.RedirectErr = err.Error()
		return
	}
	resp, err := client.Do(req)
	if err != nil {
		r.RedirectErr = err.Error()
		return
	}
	resp.Body.Close()
	r.RedirectStatus, r.RedirectLocation = resp.StatusCode, resp.Header.Get("Location")
}
