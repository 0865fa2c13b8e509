package gatewayemulator

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"strings"
	"time"
)

// jwtStatus is why Envoy's jwt_authn turns a token away, worded as Envoy's
// jwt_verify_lib words it in the body of its 401.
type jwtStatus string

const (
	jwtOK             jwtStatus = ""
	jwtMissing        jwtStatus = "Jwt is missing"
	jwtBadFormat      jwtStatus = "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections"
	jwtBadHeader      jwtStatus = "Jwt header is an invalid JSON"
	jwtBadPayload     jwtStatus = "Jwt payload is an invalid JSON"
	jwtExpired        jwtStatus = "Jwt is expired"
	jwtNotYetValid    jwtStatus = "Jwt not yet valid"
	jwtVerifyFailed   jwtStatus = "Jwt verification fails"
	jwtUnknownIssuer  jwtStatus = "Jwt issuer is not configured"
	jwtAudience       jwtStatus = "Audiences in Jwt are not allowed"
	jwtNoKey          jwtStatus = "Jwks doesn't have key to match kid or alg from Jwt"
	jwtAlgUnsupported jwtStatus = "Jwt algorithm is not supported"
)

// clockSkew is Envoy's default clock_skew_seconds, allowed on exp and nbf.
const clockSkew = 60 * time.Second

// jwt is a token split and decoded, not yet verified.
type jwt struct {
	alg, kid     string
	payload      map[string]any
	signedPart   string
	signature    []byte
	iss          string
	audiences    []string
	exp, nbf     float64
	hasExp, hasN bool
}

// parseJWT decodes a compact JWS as Envoy does before it looks for a key.
func parseJWT(token string) (*jwt, jwtStatus) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, jwtBadFormat
	}
	var header struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if err := decodeSegment(parts[0], &header); err != nil {
		return nil, jwtBadHeader
	}
	var payload map[string]any
	if err := decodeSegment(parts[1], &payload); err != nil || payload == nil {
		return nil, jwtBadPayload
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, jwtBadFormat
	}
	t := &jwt{alg: header.Alg, kid: header.Kid, payload: payload, signedPart: parts[0] + "." + parts[1], signature: sig}
	t.iss, _ = payload["iss"].(string)
	switch aud := payload["aud"].(type) {
	case string:
		t.audiences = []string{aud}
	case []any:
		for _, a := range aud {
			if s, ok := a.(string); ok {
				t.audiences = append(t.audiences, s)
			}
		}
	}
	t.exp, t.hasExp = payload["exp"].(float64)
	t.nbf, t.hasN = payload["nbf"].(float64)
	return t, jwtOK
}

func decodeSegment(s string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// checkTime is Envoy's check of exp and nbf, with its default skew.
func (t *jwt) checkTime(now time.Time) jwtStatus {
	unix := float64(now.Unix())
	skew := clockSkew.Seconds()
	if t.hasN && unix+skew < t.nbf {
		return jwtNotYetValid
	}
	if t.hasExp && t.exp != 0 && unix-skew > t.exp {
		return jwtExpired
	}
	return jwtOK
}

// audienceAllowed: with no audiences configured any token passes; else one
// of the token's must be among them.
func (t *jwt) audienceAllowed(allowed []string) bool {
	if len(allowed) == 0 {
		return true
	}
	for _, a := range t.audiences {
		for _, b := range allowed {
			if a == b {
				return true
			}
		}
	}
	return false
}

// jwk is one key of a JWKS.
type jwk struct {
	kid, alg string
	public   crypto.PublicKey
}

// parseJWKS reads the keys istiod inlines: RSA and EC (P-256, P-384)
// public keys. Keys of other types are skipped, as Envoy skips them; a
// JWKS with no usable key is an error.
func parseJWKS(data string) ([]jwk, error) {
	var set struct {
		Keys []struct {
			Kty string `json:"kty"`
			Kid string `json:"kid"`
			Alg string `json:"alg"`
			N   string `json:"n"`
			E   string `json:"e"`
			Crv string `json:"crv"`
			X   string `json:"x"`
			Y   string `json:"y"`
		} `json:"keys"`
	}
	if err := json.Unmarshal([]byte(data), &set); err != nil {
		return nil, fmt.Errorf("the JWKS is not JSON: %v", err)
	}
	var keys []jwk
	for _, k := range set.Keys {
		var pub crypto.PublicKey
		switch k.Kty {
		case "RSA":
			n, err1 := base64.RawURLEncoding.DecodeString(k.N)
			e, err2 := base64.RawURLEncoding.DecodeString(k.E)
			if err1 != nil || err2 != nil || len(e) == 0 || len(e) > 4 {
				continue
			}
			pub = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		case "EC":
			var curve elliptic.Curve
			switch k.Crv {
			case "P-256":
				curve = elliptic.P256()
			case "P-384":
				curve = elliptic.P384()
			default:
				continue
			}
			x, err1 := base64.RawURLEncoding.DecodeString(k.X)
			y, err2 := base64.RawURLEncoding.DecodeString(k.Y)
			size := (curve.Params().BitSize + 7) / 8
			if err1 != nil || err2 != nil || len(x) != size || len(y) != size {
				continue
			}
			// The uncompressed point; parsing checks that it is on the curve.
			key, err := ecdsa.ParseUncompressedPublicKey(curve, append(append([]byte{4}, x...), y...))
			if err != nil {
				continue
			}
			pub = key
		default:
			continue
		}
		keys = append(keys, jwk{kid: k.Kid, alg: k.Alg, public: pub})
	}
	if len(keys) == 0 {
		return nil, errors.New("the JWKS has no RSA or EC key")
	}
	return keys, nil
}

// verifySignature tries the keys that fit the token's kid and alg, as Envoy
// does: a key with a kid only for a token with that kid, a key with an alg
// only for that alg.
func (t *jwt) verifySignature(keys []jwk) jwtStatus {
	h, ok := hashOf(t.alg)
	if !ok {
		return jwtAlgUnsupported
	}
	tried := false
	for _, k := range keys {
		if (t.kid != "" && k.kid != "" && k.kid != t.kid) || (k.alg != "" && k.alg != t.alg) {
			continue
		}
		if !keyFits(t.alg, k.public) {
			continue
		}
		tried = true
		h.Reset()
		h.Write([]byte(t.signedPart))
		if signatureValid(t.alg, k.public, h.Sum(nil), t.signature) {
			return jwtOK
		}
	}
	if !tried {
		return jwtNoKey
	}
	return jwtVerifyFailed
}

func hashOf(alg string) (hash.Hash, bool) {
	switch alg {
	case "RS256", "ES256", "PS256":
		return sha256.New(), true
	case "RS384", "ES384", "PS384":
		return sha512.New384(), true
	case "RS512", "PS512":
		return sha512.New(), true
	}
	return nil, false
}

func keyFits(alg string, pub crypto.PublicKey) bool {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
	case *ecdsa.PublicKey:
		return (alg == "ES256" && k.Curve == elliptic.P256()) || (alg == "ES384" && k.Curve == elliptic.P384())
	}
	return false
}

var cryptoHashes = map[string]crypto.Hash{"256": crypto.SHA256, "384": crypto.SHA384, "512": crypto.SHA512}

func signatureValid(alg string, pub crypto.PublicKey, digest, sig []byte) bool {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		hashID := cryptoHashes[alg[2:]]
		if strings.HasPrefix(alg, "PS") {
			return rsa.VerifyPSS(k, hashID, digest, sig, nil) == nil
		}
		return rsa.VerifyPKCS1v15(k, hashID, digest, sig) == nil
	case *ecdsa.PublicKey:
		// JWS puts r and s side by side, each the curve's size.
		size := (k.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*size {
			return false
		}
		r, s := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
		return ecdsa.Verify(k, digest, r, s)
	}
	return false
}
