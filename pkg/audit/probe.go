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
	seen := map[string]bool{}
	for _, gs := range servers {
		for _, h := range gs.server.Hosts {
			host := desired.ExampleHost(h, s.Namespace)
			if seen[host] {
				continue
			}
			seen[host] = true
			report.Hosts = append(report.Hosts, probeHost(ctx, report.Address, host, roots, o.Timeout))
		}
	}
	if report.HTTPAddress != "" {
		probeRedirect(ctx, report, desired.ExampleHost(servers[0].server.Hosts[0], s.Namespace), o.Timeout)
	}
	return report
}

// guessAddresses finds the load balancer address of the gateway Service and
// its ports for the HTTPS and HTTP servers.
func (v *view) guessAddresses() (https, plain string) {
	for _, gw := range v.gateways {
		for _, svc := range v.gatewayServices(gw) {
			if svc.Address == "" {
				continue
			}
			for _, srv := range gw.Servers {
				for _, p := range svc.Ports {
					if p.Target != srv.Port.Number {
						continue
					}
					addr := net.JoinHostPort(svc.Address, strconv.Itoa(int(p.Port)))
					switch {
					case srv.Port.Protocol == "HTTPS" && https == "":
						https = addr
					case srv.Port.Protocol == "HTTP" && plain == "":
						plain = addr
					}
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
