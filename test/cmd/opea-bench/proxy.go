package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// countingProxy sits between the measured tools and the API server and
// counts every request it forwards. Counting here rather than in each tool
// counts the same thing for both, whatever client library or cache each
// uses. The tools connect without credentials; the proxy authenticates
// upstream as the cluster admin.
type countingProxy struct {
	server *http.Server
	addr   string
	caPEM  []byte

	mu     sync.Mutex
	total  int64
	byKind map[string]int64
	errs   []string
}

// startProxy listens on a free loopback port with a throwaway self-signed
// certificate and forwards to the API server upstream.Host.
func startProxy(upstream *rest.Config) (*countingProxy, error) {
	target, err := url.Parse(upstream.Host)
	if err != nil {
		return nil, err
	}
	transport, err := rest.TransportFor(upstream)
	if err != nil {
		return nil, err
	}
	cert, caPEM, err := selfSignedCert()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &countingProxy{addr: ln.Addr().String(), caPEM: caPEM, byKind: map[string]int64{}}
	forward := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = target.Host
		},
		Transport: transport,
		// Watches stream: pass each event on at once.
		FlushInterval: -1,
		ErrorHandler:  p.upstreamError,
		// A watch cut short when a tool exits is normal, not worth a line.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	p.server = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p.count(r)
			forward.ServeHTTP(w, r)
		}),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}},
		ReadHeaderTimeout: 10 * time.Second,
	}
	// ServeTLS offers HTTP/2, as the API server does, so both tools talk to
	// the proxy as they would to the cluster.
	go func() { _ = p.server.ServeTLS(ln, "", "") }()
	return p, nil
}

func (p *countingProxy) count(r *http.Request) {
	kind := requestKind(r)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total++
	p.byKind[kind]++
}

// upstreamError records a request the proxy could not forward, unless the
// tool itself gave up on it (it exited with a watch open).
func (p *countingProxy) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() == nil {
		p.mu.Lock()
		p.errs = append(p.errs, r.Method+" "+r.URL.Path+": "+err.Error())
		p.mu.Unlock()
	}
	w.WriteHeader(http.StatusBadGateway)
}

// reset starts counting afresh, for the next tool run.
func (p *countingProxy) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total, p.byKind, p.errs = 0, map[string]int64{}, nil
}

// counts returns what was counted since reset, and an error naming the
// requests the proxy failed to forward, if any.
func (p *countingProxy) counts() (int64, map[string]int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	byKind := make(map[string]int64, len(p.byKind))
	for k, v := range p.byKind {
		byKind[k] = v
	}
	var err error
	if len(p.errs) > 0 {
		err = errors.New("the proxy could not forward: " + strings.Join(p.errs, "; "))
	}
	return p.total, byKind, err
}

func (p *countingProxy) close() { _ = p.server.Close() }

// writeKubeconfig writes a kubeconfig that points at the proxy and holds no
// credentials.
func (p *countingProxy) writeKubeconfig(path string) error {
	return p.writeKubeconfigWithContexts(path, "bench")
}

// writeKubeconfigWithContexts is writeKubeconfig with a context of each
// name, all of the one cluster behind the proxy; the first is the current.
func (p *countingProxy) writeKubeconfigWithContexts(path string, contexts ...string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["bench"] = &clientcmdapi.Cluster{Server: "https://" + p.addr, CertificateAuthorityData: p.caPEM}
	cfg.AuthInfos["bench"] = &clientcmdapi.AuthInfo{}
	for _, name := range contexts {
		cfg.Contexts[name] = &clientcmdapi.Context{Cluster: "bench", AuthInfo: "bench", Namespace: "default"}
	}
	cfg.CurrentContext = contexts[0]
	return clientcmd.WriteToFile(*cfg, path)
}

// selfSignedCert makes a certificate for 127.0.0.1 that is its own CA, so
// the kubeconfig can trust exactly it.
func selfSignedCert() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "opea-bench counting proxy"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// requestKind names a request by verb and resource, such as "list pods" or
// "watch gateways.networking.istio.io", so the report can say which requests
// a tool's count is made of.
func requestKind(r *http.Request) string {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	var group string
	var rest []string
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		rest = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		group, rest = parts[1], parts[3:]
	case parts[0] == "api" || parts[0] == "apis":
		return "discovery"
	default:
		return strings.ToLower(r.Method) + " /" + parts[0]
	}
	if len(rest) == 0 {
		return "discovery"
	}
	// namespaces/NS/<resource>... names a namespaced resource.
	if rest[0] == "namespaces" && len(rest) >= 3 {
		rest = rest[2:]
	}
	resource := rest[0]
	if group != "" {
		resource += "." + group
	}
	if len(rest) >= 3 {
		resource += "/" + rest[2]
	}
	return verb(r, len(rest) >= 2) + " " + resource
}

// verb is the Kubernetes verb of a request, as the API server's audit log
// would name it.
func verb(r *http.Request, named bool) string {
	switch r.Method {
	case http.MethodGet:
		if w := r.URL.Query().Get("watch"); w == "true" || w == "1" {
			return "watch"
		}
		if named {
			return "get"
		}
		return "list"
	case http.MethodPost:
		return "create"
	case http.MethodPut:
		return "update"
	case http.MethodPatch:
		return "patch"
	case http.MethodDelete:
		return "delete"
	}
	return strings.ToLower(r.Method)
}
