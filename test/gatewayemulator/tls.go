package gatewayemulator

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"sync"

	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// chooseChain picks the filter chain of l for a connection with SNI sni
// over transport ("tls" or "raw_buffer") as Envoy does: among the chains
// whose destination port fits, the server names step first (an exact
// name, else the longest matching "*.suffix", else the chains without
// server names), then, within that step's chains only, the transport
// step (an exact transport, else the chains without one). No chain there:
// the listener's default chain, or nil.
func (l *listenerConfig) chooseChain(sni, transport string) *chainConfig {
	candidates := l.byServerName(strings.ToLower(sni))
	var any *chainConfig
	for _, c := range candidates {
		switch c.transport {
		case transport:
			return c
		case "":
			if any == nil {
				any = c
			}
		}
	}
	if any != nil {
		return any
	}
	return l.fallback
}

func (l *listenerConfig) byServerName(sni string) []*chainConfig {
	var exact, unnamed []*chainConfig
	var wildcard []*chainConfig
	bestLen := 0
	for _, c := range l.chains {
		if len(c.serverNames) == 0 {
			unnamed = append(unnamed, c)
			continue
		}
		for _, name := range c.serverNames {
			name = strings.ToLower(name)
			switch {
			case sni == "":
			case name == sni:
				exact = append(exact, c)
			case strings.HasPrefix(name, "*.") && strings.HasSuffix(sni, name[1:]) && len(sni) > len(name)-1:
				switch {
				case len(name) > bestLen:
					wildcard, bestLen = []*chainConfig{c}, len(name)
				case len(name) == bestLen:
					wildcard = append(wildcard, c)
				}
			}
		}
	}
	switch {
	case len(exact) > 0:
		return exact
	case len(wildcard) > 0:
		return wildcard
	}
	return unnamed
}

// credentials reads the certificates SDS names from Kubernetes, as
// istiod's SDS does for the gateway proxy.
type credentials struct {
	kube kubernetes.Interface
	// namespace and serviceAccount are the gateway proxy's.
	namespace, serviceAccount string

	mu         sync.Mutex
	authorized *bool
}

// certificate reads the certificate and key the SDS resource name refers
// to, with the rules of istiod's pilot/pkg/model/credentials
// ParseResourceName and pilot/pkg/xds/sds.go filterAuthorizedResources.
func (c *credentials) certificate(ctx context.Context, resource string) (tls.Certificate, error) {
	ns, name, err := c.locate(ctx, resource)
	if err != nil {
		return tls.Certificate{}, err
	}
	secret, err := c.kube.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("SDS %s: %w", resource, err)
	}
	certPEM, keyPEM, err := certAndKey(secret)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("SDS %s: Secret %s/%s: %w", resource, ns, name, err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("SDS %s: Secret %s/%s: %w", resource, ns, name, err)
	}
	return pair, nil
}

// locate resolves an SDS resource name to the Secret it reads.
func (c *credentials) locate(ctx context.Context, resource string) (ns, name string, err error) {
	if rest, ok := strings.CutPrefix(resource, "kubernetes-gateway://"); ok {
		ns, name, ok := strings.Cut(rest, "/")
		if !ok || ns == "" || name == "" {
			return "", "", fmt.Errorf("SDS %s: want kubernetes-gateway://<namespace>/<name>", resource)
		}
		return ns, name, nil
	}
	if rest, ok := strings.CutPrefix(resource, "kubernetes://"); ok {
		ns, name := c.namespace, rest
		if before, after, found := strings.Cut(rest, "/"); found {
			ns, name = before, after
		}
		if ns != c.namespace {
			return "", "", fmt.Errorf("SDS %s: istiod serves a kubernetes:// credential only from the gateway's namespace %s", resource, c.namespace)
		}
		if err := c.authorize(ctx); err != nil {
			return "", "", fmt.Errorf("SDS %s: %w", resource, err)
		}
		return ns, name, nil
	}
	return "", "", fmt.Errorf("SDS %s: the emulator reads only kubernetes:// and kubernetes-gateway:// credentials", resource)
}

// authorize asks, once, whether the gateway's service account may list
// Secrets in its namespace: istiod's condition for kubernetes:// credentials.
func (c *credentials) authorize(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.authorized == nil {
		review, err := c.kube.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
			Spec: authorizationv1.SubjectAccessReviewSpec{
				User:               "system:serviceaccount:" + c.namespace + ":" + c.serviceAccount,
				ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: c.namespace, Verb: "list", Resource: "secrets"},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			// Not cached: a failed review says nothing either way.
			return fmt.Errorf("could not check that %s/%s may read Secrets: %w", c.namespace, c.serviceAccount, err)
		}
		allowed := review.Status.Allowed
		c.authorized = &allowed
	}
	if !*c.authorized {
		return fmt.Errorf("service account %s/%s may not list Secrets in %s", c.namespace, c.serviceAccount, c.namespace)
	}
	return nil
}

// certAndKey applies istiod's ExtractCertInfo: non-empty "cert" and "key"
// first, then non-empty "tls.crt" and "tls.key".
func certAndKey(s *corev1.Secret) (cert, key []byte, err error) {
	if len(s.Data["cert"]) > 0 && len(s.Data["key"]) > 0 {
		return s.Data["cert"], s.Data["key"], nil
	}
	if len(s.Data["tls.crt"]) > 0 && len(s.Data["tls.key"]) > 0 {
		return s.Data["tls.crt"], s.Data["tls.key"], nil
	}
	return nil, nil, errors.New(`no non-empty "cert" and "key", nor "tls.crt" and "tls.key"`)
}

// loadCertificates reads every certificate the chains of cfg name, as
// Envoy holds what SDS last pushed: a failure is kept, to fail the
// handshakes that need it.
func (c *credentials) loadCertificates(ctx context.Context, cfg *config) {
	c.mu.Lock()
	c.authorized = nil // ask again: RBAC may have changed
	c.mu.Unlock()
	cfg.certs = map[string]loadedCert{}
	for _, l := range cfg.listeners {
		for _, chain := range append(append([]*chainConfig(nil), l.chains...), l.fallback) {
			for _, sds := range chain.tlsSecrets() {
				if _, done := cfg.certs[sds]; !done {
					cert, err := c.certificate(ctx, sds)
					cfg.certs[sds] = loadedCert{cert: cert, err: err}
				}
			}
		}
	}
}

type loadedCert struct {
	cert tls.Certificate
	err  error
}

func (ch *chainConfig) tlsSecrets() []string {
	if ch == nil || ch.tls == nil {
		return nil
	}
	var names []string
	for _, sds := range ch.tls.GetCommonTlsContext().GetTlsCertificateSdsSecretConfigs() {
		names = append(names, sds.GetName())
	}
	return names
}

// tlsConfig is the server side of a chain's DownstreamTlsContext for a
// client whose hello is h, with the certificates loaded for cfg.
func tlsConfig(cfg *config, dtc *tlsv3.DownstreamTlsContext, h *tls.ClientHelloInfo) (*tls.Config, error) {
	common := dtc.GetCommonTlsContext()
	if len(common.GetTlsCertificates()) > 0 {
		return nil, errors.New("inline tls_certificates are not implemented (istiod sends gateways SDS names)")
	}
	if dtc.GetRequireClientCertificate().GetValue() {
		return nil, errors.New("the chain requires a client certificate, which the emulator does not validate")
	}
	var certs []tls.Certificate
	for _, sds := range common.GetTlsCertificateSdsSecretConfigs() {
		loaded, ok := cfg.certs[sds.GetName()]
		if !ok {
			return nil, fmt.Errorf("SDS %s was not loaded", sds.GetName())
		}
		if loaded.err != nil {
			return nil, loaded.err
		}
		certs = append(certs, loaded.cert)
	}
	if len(certs) == 0 {
		return nil, errors.New("the chain names no certificate")
	}
	chosen := chooseCertificate(certs, h)
	out := &tls.Config{Certificates: []tls.Certificate{chosen}, NextProtos: []string{"http/1.1"}}
	params := common.GetTlsParams()
	out.MinVersion = tlsVersion(params.GetTlsMinimumProtocolVersion(), tls.VersionTLS12)
	out.MaxVersion = tlsVersion(params.GetTlsMaximumProtocolVersion(), tls.VersionTLS13)
	return out, nil
}

func tlsVersion(v tlsv3.TlsParameters_TlsProtocol, auto uint16) uint16 {
	switch v {
	case tlsv3.TlsParameters_TLSv1_0:
		return tls.VersionTLS10
	case tlsv3.TlsParameters_TLSv1_1:
		return tls.VersionTLS11
	case tlsv3.TlsParameters_TLSv1_2:
		return tls.VersionTLS12
	case tlsv3.TlsParameters_TLSv1_3:
		return tls.VersionTLS13
	}
	return auto // TLS_AUTO: Envoy's defaults are 1.2 to 1.3 for servers
}

// chooseCertificate picks among a chain's certificates: those whose names
// cover the SNI (all when none does), then the first ECDSA one if the
// client offers an ECDSA signature scheme, else the first that is not
// ECDSA, else the first.
func chooseCertificate(certs []tls.Certificate, h *tls.ClientHelloInfo) tls.Certificate {
	if len(certs) == 1 {
		return certs[0]
	}
	var named []tls.Certificate
	for _, c := range certs {
		if leaf, err := x509.ParseCertificate(c.Certificate[0]); err == nil && h.ServerName != "" && leaf.VerifyHostname(h.ServerName) == nil {
			named = append(named, c)
		}
	}
	if len(named) == 0 {
		named = certs
	}
	wantECDSA := offersECDSA(h)
	for _, c := range named {
		if _, isECDSA := c.PrivateKey.(*ecdsa.PrivateKey); isECDSA == wantECDSA {
			return c
		}
	}
	return named[0]
}

func offersECDSA(h *tls.ClientHelloInfo) bool {
	for _, s := range h.SignatureSchemes {
		switch s {
		case tls.ECDSAWithP256AndSHA256, tls.ECDSAWithP384AndSHA384, tls.ECDSAWithP521AndSHA512, tls.ECDSAWithSHA1:
			return true
		}
	}
	return false
}
