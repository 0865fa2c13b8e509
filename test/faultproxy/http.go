package faultproxy

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
)

// Rule is a fault of the HTTP proxy: the requests Match selects, after
// the first Skip of them, are answered with Status by the proxy itself, or
// held until Release (or until the client gives up) and then forwarded.
type Rule struct {
	Match func(*http.Request) bool
	Skip  int
	// Status, when not 0, is the answer: a Kubernetes Status with Message.
	Status  int
	Message string
	// Hold holds the request instead; Held reports it.
	Hold bool
	// Times limits how many requests the rule breaks; 0 is every one.
	Times int

	seen, broken int
}

// HTTPProxy is a TLS reverse proxy in front of a Kubernetes API server,
// for tests that need to break one request among many, chosen by what it
// asks for (method, path, query) rather than by byte offset: TLS ends at the
// proxy, which forwards the client's own Authorization header, so the
// server still authenticates the client.
type HTTPProxy struct {
	server  *httptest.Server
	target  *url.URL
	forward *httputil.ReverseProxy

	mu       sync.Mutex
	rules    []*Rule
	released chan struct{}
	held     chan string
}

// StartHTTP starts a proxy to the API server at target (https://host:port),
// whose certificate roots verifies, breaking requests as rules say.
func StartHTTP(target string, roots *x509.CertPool, rules ...*Rule) (*HTTPProxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	p := &HTTPProxy{target: u, rules: rules, released: make(chan struct{}), held: make(chan string, 64)}
	p.forward = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Host = u.Host
		},
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}, ForceAttemptHTTP2: true},
	}
	p.server = httptest.NewUnstartedServer(http.HandlerFunc(p.serve))
	p.server.EnableHTTP2 = true
	p.server.StartTLS()
	return p, nil
}

// URL is the proxy's address, https://127.0.0.1:port.
func (p *HTTPProxy) URL() string { return p.server.URL }

// CAData is the PEM of the certificate the proxy serves, for a kubeconfig's
// certificate-authority-data.
func (p *HTTPProxy) CAData() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.server.Certificate().Raw})
}

// Held receives "METHOD path?query" of each request a rule holds, as it
// is held.
func (p *HTTPProxy) Held() <-chan string { return p.held }

// Release forwards every request held, and every one a rule would hold
// from now on.
func (p *HTTPProxy) Release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.released:
	default:
		close(p.released)
	}
}

// Close releases what is held and stops the proxy.
func (p *HTTPProxy) Close() {
	p.Release()
	p.server.CloseClientConnections()
	p.server.Close()
}

// Broken is how many requests rule has broken so far.
func (p *HTTPProxy) Broken(rule *Rule) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return rule.broken
}

// rule is the rule that breaks r, nil when none does.
func (p *HTTPProxy) rule(r *http.Request) *Rule {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, rule := range p.rules {
		if !rule.Match(r) {
			continue
		}
		rule.seen++
		if rule.seen <= rule.Skip || rule.Times > 0 && rule.broken >= rule.Times {
			continue
		}
		rule.broken++
		return rule
	}
	return nil
}

func (p *HTTPProxy) serve(w http.ResponseWriter, r *http.Request) {
	rule := p.rule(r)
	switch {
	case rule == nil:
	case rule.Status != 0:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rule.Status)
		_ = json.NewEncoder(w).Encode(map[string]interface{}{
			"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": rule.Message, "code": rule.Status,
		})
		return
	case rule.Hold:
		select {
		case p.held <- fmt.Sprintf("%s %s", r.Method, r.URL.RequestURI()):
		default:
		}
		select {
		case <-p.released:
		case <-r.Context().Done():
			return // the client gave up: the server never sees the request
		}
	}
	p.forward.ServeHTTP(w, r)
}
