// Package jwtissuer is a token issuer for tests: RSA (RS256) and ECDSA
// (ES256) signing keys, their JWKS as an IdP publishes it (over HTTPS on
// loopback: ServeJWKS), and signed tokens with the claims a test asks
// for. Test code only.
package jwtissuer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"time"
)

// Issuer signs tokens with its keys.
type Issuer struct {
	// URL is the iss claim of its tokens.
	URL string
	rsa *rsa.PrivateKey
	ec  *ecdsa.PrivateKey
}

// New makes an issuer with fresh RSA and ECDSA keys.
func New(url string) (*Issuer, error) {
	r, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	e, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	return &Issuer{URL: url, rsa: r, ec: e}, nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// fixed is n big-endian in exactly size bytes.
func fixed(n *big.Int, size int) []byte {
	out := make([]byte, size)
	return n.FillBytes(out)
}

// JWKS is the public keys as a JSON Web Key Set: kid "rsa" (RS256) and
// kid "ec" (ES256).
func (i *Issuer) JWKS() string {
	e := big.NewInt(int64(i.rsa.E)).Bytes()
	point, _ := i.ec.PublicKey.Bytes() // 0x04, x, y: 32 bytes each on P-256
	set := map[string]any{"keys": []map[string]string{
		{"kty": "RSA", "kid": "rsa", "alg": "RS256", "use": "sig", "n": b64(i.rsa.N.Bytes()), "e": b64(e)},
		{"kty": "EC", "kid": "ec", "alg": "ES256", "use": "sig", "crv": "P-256", "x": b64(point[1:33]), "y": b64(point[33:])},
	}}
	b, _ := json.Marshal(set)
	return string(b)
}

// Token signs claims (iss is added when absent) with alg RS256 or ES256.
func (i *Issuer) Token(alg string, claims map[string]any) (string, error) {
	if _, ok := claims["iss"]; !ok {
		claims["iss"] = i.URL
	}
	kid := map[string]string{"RS256": "rsa", "ES256": "ec"}[alg]
	if kid == "" {
		return "", fmt.Errorf("alg %s: use RS256 or ES256", alg)
	}
	header, _ := json.Marshal(map[string]string{"alg": alg, "typ": "JWT", "kid": kid})
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	signed := b64(header) + "." + b64(payload)
	digest := sha256.Sum256([]byte(signed))
	var sig []byte
	switch alg {
	case "RS256":
		sig, err = rsa.SignPKCS1v15(rand.Reader, i.rsa, crypto.SHA256, digest[:])
	case "ES256":
		var r, s *big.Int
		r, s, err = ecdsa.Sign(rand.Reader, i.ec, digest[:])
		if err == nil {
			sig = append(fixed(r, 32), fixed(s, 32)...)
		}
	}
	if err != nil {
		return "", err
	}
	return signed + "." + b64(sig), nil
}

// Tamper changes the token's payload and keeps its signature: a token
// whose signature no longer fits.
func Tamper(token string, claims map[string]any) string {
	parts := strings.Split(token, ".")
	payload, _ := json.Marshal(claims)
	return parts[0] + "." + b64(payload) + "." + parts[2]
}

// Server publishes an issuer's JWKS over HTTPS on loopback, as an IdP
// does.
type Server struct {
	// URL is the JWKS URI: https://127.0.0.1:<port>/protocol/openid-connect/certs.
	URL string
	srv *http.Server
}

// ServeJWKS serves jwks on a free loopback port over HTTPS with the
// serving certificate and key (PEM; e.g. from package testpki), which must
// hold IP 127.0.0.1. Every path answers with the key set.
func ServeJWKS(jwks string, certPEM, keyPEM []byte) (*Server, error) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("the serving certificate: %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{
		ReadHeaderTimeout: 5 * time.Second,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, jwks)
		}),
	}
	go func() { _ = srv.ServeTLS(l, "", "") }()
	return &Server{URL: "https://" + l.Addr().String() + "/protocol/openid-connect/certs", srv: srv}, nil
}

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }
