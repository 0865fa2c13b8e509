package gatewayemulator

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/opea-project/kubectl-opea/test/xds"
)

// Options say which istiod to ask, as which gateway proxy, and where the
// credentials are read.
type Options struct {
	// XDS is istiod's plaintext xDS address (pilot-discovery --grpcAddr).
	XDS string
	// Proxy is the gateway pod the emulator stands in for.
	Proxy xds.Proxy
	// Kube reads the credential Secrets, and asks whether the gateway's
	// service account may read them, as istiod's SDS does.
	Kube kubernetes.Interface
}

// Emulator serves what istiod configured the gateway proxy to serve.
type Emulator struct {
	opts  Options
	creds *credentials

	mu        sync.Mutex
	cfg       *config
	listeners map[uint32]net.Listener // by the port in istiod's configuration
	backends  map[string]*backend
	problems  []string
	closed    bool
}

type backend struct {
	addr   string
	server *http.Server
}

// Start asks istiod for the proxy's configuration and serves it.
func Start(ctx context.Context, o Options) (*Emulator, error) {
	if o.XDS == "" || o.Kube == nil {
		return nil, errors.New("gateway emulator: Options need XDS and Kube")
	}
	e := &Emulator{
		opts:      o,
		creds:     &credentials{kube: o.Kube, namespace: o.Proxy.Namespace, serviceAccount: serviceAccount(o.Proxy)},
		listeners: map[uint32]net.Listener{},
		backends:  map[string]*backend{},
	}
	if err := e.Refresh(ctx); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

func serviceAccount(p xds.Proxy) string {
	if p.ServiceAccount == "" {
		return "default"
	}
	return p.ServiceAccount
}

// Refresh asks istiod again and serves what it says now. Ports that stay
// keep their loopback address; new ports get one; ports gone are closed.
func (e *Emulator) Refresh(ctx context.Context) error {
	raw, err := xds.FetchGatewayWithClusters(ctx, e.opts.XDS, e.opts.Proxy)
	if err != nil {
		return fmt.Errorf("gateway emulator: %w", err)
	}
	cfg, err := decodeConfig(raw)
	if err != nil {
		return fmt.Errorf("gateway emulator: %w", err)
	}
	e.creds.loadCertificates(ctx, cfg)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return errors.New("gateway emulator: closed")
	}
	e.cfg = cfg
	for port, ln := range e.listeners {
		if _, ok := cfg.listeners[port]; !ok {
			ln.Close()
			delete(e.listeners, port)
		}
	}
	for _, port := range cfg.ports() {
		if _, ok := e.listeners[port]; ok {
			continue
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("gateway emulator: listening for port %d: %w", port, err)
		}
		e.listeners[port] = ln
		go e.accept(ln, port)
	}
	return nil
}

// Addr is the loopback host:port that stands for the gateway's port (the
// port of istiod's listener, e.g. 443 or 8443), "" when istiod configured
// no listener there.
func (e *Emulator) Addr(port uint32) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if ln, ok := e.listeners[port]; ok {
		return ln.Addr().String()
	}
	return ""
}

// Ports are the listener ports of istiod's configuration.
func (e *Emulator) Ports() []uint32 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cfg.ports()
}

// Backend registers h as the workload behind a cluster: name is a cluster
// name ("outbound|80||chatqna-nginx.ns.svc.cluster.local") or the service
// host of outbound clusters ("chatqna-nginx.ns.svc.cluster.local"). h is
// served on a loopback port of its own, and the emulator forwards requests
// routed to the cluster there.
func (e *Emulator) Backend(name string, h http.Handler) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	e.mu.Lock()
	defer e.mu.Unlock()
	if old, ok := e.backends[name]; ok {
		old.server.Close()
	}
	e.backends[name] = &backend{addr: ln.Addr().String(), server: srv}
	return nil
}

// backendFor finds the backend registered for cluster, by its name or by
// the host of an outbound cluster ("outbound|<port>|<subset>|<host>").
func (e *Emulator) backendFor(cluster string) *backend {
	e.mu.Lock()
	defer e.mu.Unlock()
	if b, ok := e.backends[cluster]; ok {
		return b
	}
	if parts := strings.Split(cluster, "|"); len(parts) == 4 && parts[0] == "outbound" {
		return e.backends[parts[3]]
	}
	return nil
}

// Problems are the connections the emulator closed and why: a connection
// that matched no filter chain, a chain it refuses, a certificate it could
// not read. A request that fails gets a 500 naming the cause instead.
func (e *Emulator) Problems() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.problems...)
}

func (e *Emulator) problem(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.problems = append(e.problems, fmt.Sprintf(format, args...))
}

// Close stops every listener and backend.
func (e *Emulator) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = true
	for _, ln := range e.listeners {
		ln.Close()
	}
	for _, b := range e.backends {
		b.server.Close()
	}
}

func (e *Emulator) current() *config {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cfg
}

func (e *Emulator) accept(ln net.Listener, port uint32) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		go e.serveConn(conn, port)
	}
}

// serveConn picks the filter chain, terminates TLS if the chain says so,
// and serves HTTP/1.1 on the connection.
func (e *Emulator) serveConn(conn net.Conn, port uint32) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	cfg := e.current()
	l := cfg.listeners[port]
	if l == nil || l.refused != "" {
		e.problem("port %d: %s", port, refusal(l))
		return
	}
	br := bufio.NewReader(conn)
	first, err := br.Peek(1)
	if err != nil {
		return
	}
	peeked := &peekedConn{Conn: conn, r: br}
	var sni string
	var chain *chainConfig
	var served net.Conn = peeked
	isTLS := first[0] == 0x16 // a TLS handshake record, as tls_inspector sees it
	if isTLS {
		var chainErr error
		tlsConn := tls.Server(peeked, &tls.Config{GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			sni = h.ServerName
			chain = l.chooseChain(sni, "tls")
			switch {
			case chain == nil:
				chainErr = fmt.Errorf("no filter chain of listener %s matches SNI %q over TLS", l.name, sni)
			case chain.refused != "":
				chainErr = errors.New(chain.refused)
			case chain.tls == nil:
				chainErr = fmt.Errorf("filter chain %s of listener %s is plaintext, the client speaks TLS", chain.name, l.name)
			default:
				var c *tls.Config
				c, chainErr = tlsConfig(cfg, chain.tls, h)
				if chainErr == nil {
					return c, nil
				}
				chainErr = fmt.Errorf("filter chain %s of listener %s: %w", chain.name, l.name, chainErr)
			}
			return nil, chainErr
		}})
		if err := tlsConn.Handshake(); err != nil {
			if chainErr != nil {
				err = chainErr
			}
			e.problem("port %d: TLS handshake: %v", port, err)
			return
		}
		served = tlsConn
	} else {
		chain = l.chooseChain("", "raw_buffer")
		switch {
		case chain == nil:
			e.problem("port %d: no filter chain of listener %s matches a plaintext connection", port, l.name)
			return
		case chain.refused != "":
			e.problem("port %d: %s", port, chain.refused)
			return
		case chain.tls != nil:
			e.problem("port %d: filter chain %s of listener %s expects TLS, the client speaks plaintext", port, chain.name, l.name)
			return
		}
	}
	_ = conn.SetDeadline(time.Time{})
	remoteIP, _, _ := net.SplitHostPort(conn.RemoteAddr().String())
	srv := &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			q := newRequest(r, isTLS, sni, port, remoteIP, e.opts.Proxy.IP)
			if name := chain.hcm.GetServerName(); name != "" {
				w.Header().Set("Server", name)
			}
			d := e.handle(cfg, chain.hcm, q)
			if d.local != nil {
				d.local.write(w)
				return
			}
			e.upstream(cfg, d, w, r, isTLS)
		}),
	}
	_ = srv.Serve(&oneConnListener{conn: served})
}

func refusal(l *listenerConfig) string {
	if l == nil {
		return "istiod configured no listener"
	}
	return l.refused
}

// upstream forwards the request to the backend standing in for the
// cluster's endpoints, or answers 503 as Envoy does when there is none.
func (e *Emulator) upstream(cfg *config, d decision, w http.ResponseWriter, r *http.Request, isTLS bool) {
	n, err := cfg.healthyEndpoints(d.cluster)
	if err != nil {
		// Envoy's answer to a route whose cluster it does not know.
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	b := e.backendFor(d.cluster)
	if n == 0 || b == nil {
		answer{status: http.StatusServiceUnavailable, body: "no healthy upstream"}.write(w)
		return
	}
	scheme := "http"
	if isTLS {
		scheme = "https"
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL = &url.URL{Scheme: "http", Host: b.addr, Path: d.path, RawQuery: r.URL.RawQuery}
			pr.Out.Host = d.host
			pr.Out.Header.Set("X-Forwarded-Proto", scheme)
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			answer{status: http.StatusServiceUnavailable,
				body: "upstream connect error or disconnect/reset before headers. reset reason: connection failure"}.write(w)
		},
	}
	proxy.ServeHTTP(w, r)
}

// peekedConn is a connection whose first bytes were read ahead.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// oneConnListener hands http.Server one connection, then waits until it is
// closed so that Serve returns only when the connection is done.
type oneConnListener struct {
	conn net.Conn
	once sync.Once
	done chan struct{}
	mu   sync.Mutex
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if l.done == nil {
		l.done = make(chan struct{})
	}
	done := l.done
	first := false
	l.once.Do(func() { first = true })
	l.mu.Unlock()
	if first {
		return &notifyConn{Conn: l.conn, closed: done}, nil
	}
	<-done
	return nil, net.ErrClosed
}

func (l *oneConnListener) Close() error   { return nil }
func (l *oneConnListener) Addr() net.Addr { return l.conn.LocalAddr() }

type notifyConn struct {
	net.Conn
	once   sync.Once
	closed chan struct{}
}

func (c *notifyConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// Client is an HTTP client that reaches the emulator's listener for port
// (istiod's port number) whatever the URL's host, as a client whose DNS
// points the host at the gateway: the URL's host is the SNI and the Host
// header, and the certificate is validated against roots (nil: the
// system's). It does not follow redirects.
func (e *Emulator) Client(port uint32, roots *x509.CertPool) *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				addr := e.Addr(port)
				if addr == "" {
					return nil, fmt.Errorf("istiod configured the gateway with no listener on port %d", port)
				}
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
