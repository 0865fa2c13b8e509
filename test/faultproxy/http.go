package faultproxy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
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

// Answer is a request an HTTPProxy answers itself instead of forwarding:
// those of Method (empty: any) whose URL path ends with PathSuffix get
// Status, with a Kubernetes Status object as the body, as the API server
// answers an error.
type Answer struct {
	Method     string
	PathSuffix string
	Status     int
}

func (a Answer) matches(r *http.Request) bool {
	return (a.Method == "" || r.Method == a.Method) && strings.HasSuffix(r.URL.Path, a.PathSuffix)
}

// HTTPProxy sits between a client and a Kubernetes API server at the HTTP
// level, where the byte-level Proxy cannot see a request: it terminates TLS
// with a certificate of its own, answers the requests its Answers match
// with an error, and forwards every other one upstream, authenticated as
// the upstream config says. It injects a server error (a 500, a 503) into
// exactly the read a test chooses.
type HTTPProxy struct {
	server  *http.Server
	addr    string
	caPEM   []byte
	answers []Answer

	mu       sync.Mutex
	answered []string // "METHOD path" of each request answered
}

// StartHTTP listens on a free loopback port and forwards to the API server
// of upstream, answering what answers match.
func StartHTTP(upstream *rest.Config, answers ...Answer) (*HTTPProxy, error) {
	target, err := url.Parse(upstream.Host)
	if err != nil {
		return nil, err
	}
	transport, err := rest.TransportFor(upstream)
	if err != nil {
		return nil, err
	}
	cert, caPEM, err := loopbackCertificate()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &HTTPProxy{addr: ln.Addr().String(), caPEM: caPEM, answers: answers}
	forward := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = target.Host
		},
		Transport:     transport,
		FlushInterval: -1, // watches stream
		ErrorLog:      log.New(io.Discard, "", 0),
	}
	p.server = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for _, a := range p.answers {
				if a.matches(r) {
					p.answer(w, r, a.Status)
					return
				}
			}
			forward.ServeHTTP(w, r)
		}),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}},
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	go func() { _ = p.server.ServeTLS(ln, "", "") }()
	return p, nil
}

// answer writes status as the API server writes an error.
func (p *HTTPProxy) answer(w http.ResponseWriter, r *http.Request, status int) {
	p.mu.Lock()
	p.answered = append(p.answered, r.Method+" "+r.URL.Path)
	p.mu.Unlock()
	body, _ := json.Marshal(map[string]interface{}{
		"kind": "Status", "apiVersion": "v1", "metadata": map[string]interface{}{},
		"status": "Failure", "message": "injected by the test's fault proxy", "reason": reasonFor(status), "code": status,
	})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// reasonFor is the StatusReason the API server gives with status.
func reasonFor(status int) string {
	switch status {
	case http.StatusServiceUnavailable:
		return "ServiceUnavailable"
	case http.StatusGatewayTimeout:
		return "Timeout"
	case http.StatusForbidden:
		return "Forbidden"
	}
	return "InternalError"
}

// Answered lists the requests the proxy answered itself, "METHOD path".
func (p *HTTPProxy) Answered() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.answered...)
}

// Close stops the proxy.
func (p *HTTPProxy) Close() error { return p.server.Close() }

// WriteKubeconfig writes a kubeconfig for the proxy: its server, trusting
// the proxy's certificate only, with no credentials (the proxy
// authenticates upstream) and namespace default.
func (p *HTTPProxy) WriteKubeconfig(path string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["faultproxy"] = &clientcmdapi.Cluster{Server: "https://" + p.addr, CertificateAuthorityData: p.caPEM}
	cfg.AuthInfos["faultproxy"] = &clientcmdapi.AuthInfo{}
	cfg.Contexts["faultproxy"] = &clientcmdapi.Context{Cluster: "faultproxy", AuthInfo: "faultproxy", Namespace: "default"}
	cfg.CurrentContext = "faultproxy"
	return clientcmd.WriteToFile(*cfg, path)
}

// loopbackCertificate is a certificate for 127.0.0.1 that is its own CA,
// and its PEM, for a kubeconfig to trust exactly it.
func loopbackCertificate() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "faultproxy"},
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
