package audit

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/opea-project/kubectl-opea/pkg/istio"
)

// credential is the Secret of one TLS listener, found where Istio reads it.
type credential struct {
	tlsListener
	secret *Secret
	// certPEM and keyPEM are the fields Istio would read, by its rules;
	// keys names them, and problem says why there are none.
	certPEM, keyPEM []byte
	keys            [2]string
	problem         error
	caPEM           []byte
}

// credentials finds each TLS listener's Secret where Istio reads it.
// missing lists the listeners whose Secret is absent there.
func (v *view) credentials() (found []credential, missing []tlsListener) {
	for _, t := range v.tlsListeners() {
		var sec *Secret
		for _, ns := range t.secretNamespaces {
			if s := v.s.Secrets[key(ns, t.secretName)]; s != nil {
				sec = s
				break
			}
		}
		if sec == nil {
			missing = append(missing, t)
			continue
		}
		c := credential{tlsListener: t, secret: sec, caPEM: istio.CredentialCA(sec.Data)}
		c.certPEM, c.keyPEM, c.keys, c.problem = istio.CredentialPair(sec.Data)
		found = append(found, c)
	}
	return found, missing
}

// credentialLookup is what credentials found, kept for every check that
// reads it.
type credentialLookup struct {
	found   []credential
	missing []tlsListener
}

// lookupCredentials looks the HTTPS servers' Secrets up once per view.
func (v *checkView) lookupCredentials() *credentialLookup {
	if v.lookup == nil {
		found, missing := v.credentials()
		v.lookup = &credentialLookup{found: found, missing: missing}
	}
	return v.lookup
}

// foundCredentials are the HTTPS servers' credentials found where Istio
// reads them: with credentialsPresent, one for each server.
func (v *checkView) foundCredentials() []credential { return v.lookupCredentials().found }

// missingCredentials are the TLS listeners whose Secret is not where Istio
// reads it.
func (v *checkView) missingCredentials() []tlsListener { return v.lookupCredentials().missing }

// parsed is a credential whose certificate and key parse.
type parsed struct {
	credential
	chain []*x509.Certificate
	key   crypto.PrivateKey
}

func (c credential) parse() (parsed, error) {
	p := parsed{credential: c}
	rest := c.certPEM
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return p, fmt.Errorf("the certificate does not parse: %w", err)
		}
		p.chain = append(p.chain, cert)
	}
	if len(p.chain) == 0 {
		return p, errors.New("the certificate field holds no PEM certificate")
	}
	block, _ := pem.Decode(c.keyPEM)
	if block == nil {
		return p, errors.New("the key field holds no PEM key")
	}
	var err error
	if p.key, err = x509.ParsePKCS8PrivateKey(block.Bytes); err != nil {
		if p.key, err = x509.ParseECPrivateKey(block.Bytes); err != nil {
			if p.key, err = x509.ParsePKCS1PrivateKey(block.Bytes); err != nil {
				return p, errors.New("the key does not parse as PKCS#8, EC or PKCS#1")
			}
		}
	}
	return p, nil
}

// credentialParsing is the found credentials parsed in order, up to the
// first that is not usable.
type credentialParsing struct {
	parsed []parsed
	// bad is the first credential that is not usable, nil when every one
	// is: its Secret is not in a form Istio reads (unreadable), or its
	// certificate or key does not parse (err), or else its key does not
	// match the certificate.
	bad        *credential
	unreadable bool
	err        error
}

// parseCredentials parses the found credentials once per view.
func (v *checkView) parseCredentials() *credentialParsing {
	if v.parsing != nil {
		return v.parsing
	}
	v.parsing = &credentialParsing{}
	for _, c := range v.foundCredentials() {
		if formatProblem(c) != "" {
			v.parsing.bad, v.parsing.unreadable = &c, true
			break
		}
		p, err := c.parse()
		if err != nil || !keyMatches(p) {
			v.parsing.bad, v.parsing.err = &c, err
			break
		}
		v.parsing.parsed = append(v.parsing.parsed, p)
	}
	return v.parsing
}

// parsedCredentials are the found credentials, parsed: with
// credentialsUsable, every one.
func (v *checkView) parsedCredentials() []parsed { return v.parseCredentials().parsed }

func secretRef(s *Secret) string { return key(s.Namespace, s.Name) }

// ref names c's Secret and, for a Gateway API listener, the listener:
// several listeners may share a Secret, and their names say which to fix.
func (c credential) ref() string {
	if c.api != nil {
		return secretRef(c.secret) + " of " + c.api.String()
	}
	return secretRef(c.secret)
}

func checkSecretPresent(v *checkView) Result {
	if missing := v.missingCredentials(); len(missing) > 0 {
		if t := missing[0]; t.server == nil {
			// Unreached while listenerRefsResolved holds, said for completeness.
			return fail(fmt.Sprintf("kubectl create secret tls %s -n %s --cert=tls.crt --key=tls.key", t.secretName, t.secretNamespaces[0]),
				"Secret %s named by %s not found", key(t.secretNamespaces[0], t.secretName), t)
		}
		gs := *missing[0].server
		name := missing[0].secretName
		podNamespaces := v.gatewayPodNamespaces(gs.gw)
		if len(podNamespaces) == 0 {
			return skip("the Gateway matches no pod, so Istio reads its credential nowhere")
		}
		if v.s.Secrets[key(gs.gw.Namespace, name)] != nil {
			return fail(fmt.Sprintf("create the Secret in %s (Istio reads gateway credentials only from the gateway pods' namespace)", podNamespaces[0]),
				"Secret %s is in the Gateway's namespace %s, not in the gateway pods' namespace %s", name, gs.gw.Namespace, strings.Join(podNamespaces, ", "))
		}
		if cert := v.s.issuing(podNamespaces[0], name); cert != nil {
			return fail(fmt.Sprintf("kubectl describe certificate %s -n %s; kubectl opea verify --wait waits for it", cert.Name, cert.Namespace),
				"Secret %s not found in %s: cert-manager Certificate %s has not written it yet", name, strings.Join(podNamespaces, ", "), key(cert.Namespace, cert.Name))
		}
		return fail(fmt.Sprintf("%s, or kubectl create secret tls %s -n %s --cert=... --key=...", v.secureCommand(), name, podNamespaces[0]),
			"Secret %s not found in %s", name, strings.Join(podNamespaces, ", "))
	}
	return pass("%s", v.foundCredentials()[0].ref())
}

// checkGatewayMayRead: istiod hands a gateway its credentials only when
// the gateway's ServiceAccount may list Secrets in its namespace (the Role
// Istio's gateway charts create); without it the gateway has a listener
// with no certificate and every handshake fails.
//
// istiod asks that question only of credentials named
// kubernetes:// (an Istio Gateway's credentialName). A Gateway API
// listener's certificateRef becomes kubernetes-gateway://<ns>/<name>, and
// filterAuthorizedResources (pilot/pkg/xds/sds.go) sends it with no
// SubjectAccessReview when the reference is verified: a Secret in the
// Gateway's namespace, or one a ReferenceGrant allows
// (MergedGateway.VerifiedCertificateReferences), which
// gatewayapi.certificate-ref-granted judges.
func checkGatewayMayRead(v *checkView) Result {
	if len(v.httpsServers()) == 0 {
		return pass("istiod sends a Gateway API listener the certificates it references (same namespace or ReferenceGrant) without a SubjectAccessReview")
	}
	var allowed, denied, unknown []string
	for k, ok := range v.gatewayServiceAccounts() {
		switch {
		case !ok:
			unknown = append(unknown, k)
		case v.s.SecretAccess[k]:
			allowed = append(allowed, k)
		default:
			denied = append(denied, k)
		}
	}
	sort.Strings(denied)
	sort.Strings(unknown)
	switch {
	case len(allowed)+len(denied)+len(unknown) == 0:
		return skip("the Gateway matches no pod")
	case len(denied) > 0:
		ns, sa, _ := strings.Cut(denied[0], "/")
		return fail(fmt.Sprintf("kubectl create role %s-sds -n %s --verb=get,watch,list --resource=secrets && kubectl create rolebinding %s-sds -n %s --role=%s-sds --serviceaccount=%s:%s (the gateway chart does this with rbac.enabled=true)", sa, ns, sa, ns, sa, ns, sa),
			"ServiceAccount %s may not list Secrets in its namespace: istiod will not send the gateway its certificate", strings.Join(denied, ", "))
	case len(unknown) > 0:
		return Result{Status: Unknown, Hint: PermissionHint,
			Message: fmt.Sprintf("could not ask whether ServiceAccount %s may list Secrets: you may not %s", strings.Join(unknown, ", "), subjectAccessReview)}
	}
	sort.Strings(allowed)
	return pass("%s may list Secrets in its namespace", strings.Join(allowed, ", "))
}

// gatewayServiceAccounts are the ServiceAccounts ("namespace/name") of the
// pods serving the application's HTTPS servers, each with whether
// SecretAccess holds an answer for it.
func (v *view) gatewayServiceAccounts() map[string]bool {
	out := map[string]bool{}
	for _, gs := range v.httpsServers() {
		for _, p := range v.gatewayPods(gs.gw) {
			k := p.serviceAccountKey()
			_, out[k] = v.s.SecretAccess[k]
		}
	}
	return out
}

// formatProblem says why Istio could not read c's Secret, "" when it can.
func formatProblem(c credential) string {
	if c.problem != nil {
		return fmt.Sprintf("Secret %s: %v", c.ref(), c.problem)
	}
	return ""
}

func checkSecretFormat(v *checkView) Result {
	creds := v.foundCredentials()
	for _, c := range creds {
		if p := formatProblem(c); p != "" {
			return fail(fmt.Sprintf("recreate it: kubectl create secret tls %s -n %s --cert=tls.crt --key=tls.key", c.secret.Name, c.secret.Namespace), "%s", p)
		}
	}
	c := creds[0]
	if c.secret.Type != "kubernetes.io/tls" {
		return pass("%s is of type %s; Istio reads its certificate and key (%s, %s)", secretRef(c.secret), c.secret.Type, c.keys[0], c.keys[1])
	}
	if c.keys[0] != "tls.crt" {
		return pass("%s: kubernetes.io/tls, read from %s and %s", secretRef(c.secret), c.keys[0], c.keys[1])
	}
	return pass("%s: kubernetes.io/tls", secretRef(c.secret))
}

func keyMatches(p parsed) bool {
	pub, ok := p.key.(interface{ Public() crypto.PublicKey })
	if !ok {
		return false
	}
	switch k := pub.Public().(type) {
	case *ecdsa.PublicKey:
		return k.Equal(p.chain[0].PublicKey)
	case *rsa.PublicKey:
		return k.Equal(p.chain[0].PublicKey)
	case ed25519.PublicKey:
		return k.Equal(p.chain[0].PublicKey)
	}
	return false
}

func checkKeyPair(v *checkView) Result {
	p := v.parseCredentials()
	switch {
	case p.bad == nil:
		return pass("they parse and match")
	case p.err != nil:
		return fail("reissue the certificate, or recreate the Secret from a valid PEM certificate and key", "Secret %s: %v", p.bad.ref(), p.err)
	}
	return fail("recreate the Secret with the key that belongs to the certificate", "Secret %s: the key does not match the certificate", p.bad.ref())
}

func checkSANs(v *checkView) Result {
	ps := v.parsedCredentials()
	for _, p := range ps {
		hosts := v.listenerHosts(p.tlsListener)
		if len(hosts) == 0 {
			// Hosts "*" and no concrete VirtualService host: any name the
			// certificate holds is one clients can use.
			continue
		}
		for _, host := range hosts {
			if !istio.CertificateCovers(p.chain[0].DNSNames, p.chain[0].IPAddresses, host) {
				return fail("reissue the certificate for the Gateway's hosts (kubectl opea secure puts the same --host in both)",
					"the certificate in %s is for %s, not for host %s", p.ref(), strings.Join(p.chain[0].DNSNames, ","), host)
			}
		}
	}
	return pass("%s", strings.Join(ps[0].chain[0].DNSNames, ", "))
}

func checkValidity(v *checkView) Result {
	ps := v.parsedCredentials()
	for _, p := range ps {
		leaf := p.chain[0]
		switch {
		case v.s.Now.Before(leaf.NotBefore):
			return fail("check the clocks, or reissue the certificate", "the certificate in %s is not valid before %s", p.ref(), leaf.NotBefore.UTC().Format("2006-01-02 15:04 MST"))
		case v.s.Now.After(leaf.NotAfter):
			return fail("renew the certificate (cmctl renew, or recreate the Secret)", "the certificate in %s expired on %s", p.ref(), leaf.NotAfter.UTC().Format("2006-01-02 15:04 MST"))
		case leaf.NotAfter.Sub(v.s.Now) < v.s.MinValidity:
			return warn("renew the certificate soon, or have cert-manager renew it earlier (spec.renewBefore)", "the certificate in %s expires on %s, in less than %s",
				p.ref(), leaf.NotAfter.UTC().Format("2006-01-02"), v.s.MinValidity)
		}
	}
	return pass("until %s", ps[0].chain[0].NotAfter.UTC().Format("2006-01-02"))
}

func checkChain(v *checkView) Result {
	ps := v.parsedCredentials()
	for _, p := range ps {
		if len(p.caPEM) == 0 {
			return pass("no ca.crt in %s to check against (a public CA is validated by the probe)", secretRef(p.secret))
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(p.caPEM) {
			return fail("put the issuing CA in PEM form into ca.crt", "ca.crt of %s holds no PEM certificate", p.ref())
		}
		inter := x509.NewCertPool()
		for _, c := range p.chain[1:] {
			inter.AddCert(c)
		}
		// Expiry is certificate.validity's finding: judge the chain at a
		// moment the leaf is valid, so one defect is reported once.
		at := v.s.Now
		if leaf := p.chain[0]; at.After(leaf.NotAfter) {
			at = leaf.NotAfter
		} else if at.Before(leaf.NotBefore) {
			at = leaf.NotBefore
		}
		if _, err := p.chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			return fail("reissue the certificate from the CA in ca.crt, or correct ca.crt", "the certificate in %s does not chain to its ca.crt: %v", p.ref(), err)
		}
	}
	return pass("chains to ca.crt")
}

// manages reports whether cert writes sec.
func manages(cert Certificate, sec *Secret) bool {
	return cert.Namespace == sec.Namespace && cert.SecretName == sec.Name
}

// certManagerManaged reports whether a Certificate writes a found
// credential's Secret.
func (v *checkView) certManagerManaged() bool {
	for _, c := range v.foundCredentials() {
		for _, cert := range v.s.Certificates {
			if manages(cert, c.secret) {
				return true
			}
		}
	}
	return false
}

func checkCertManagerReady(v *checkView) Result {
	for _, c := range v.foundCredentials() {
		for _, cert := range v.s.Certificates {
			if !manages(cert, c.secret) {
				continue
			}
			ref := key(cert.Namespace, cert.Name)
			if !cert.Ready {
				return fail(fmt.Sprintf("kubectl describe certificate %s -n %s", cert.Name, cert.Namespace), "Certificate %s is not Ready: %s", ref, cert.Message)
			}
			issuer := "Issuer/" + key(cert.Namespace, cert.IssuerName)
			if cert.IssuerKind == "ClusterIssuer" {
				issuer = "ClusterIssuer/" + cert.IssuerName
			}
			if ready, found := v.s.IssuerReady[issuer]; !found || !ready {
				return fail(fmt.Sprintf("kubectl describe %s", strings.ToLower(strings.Replace(issuer, "/", " ", 1))), "%s of Certificate %s is missing or not Ready", issuer, ref)
			}
		}
	}
	return pass("Certificate and issuer Ready")
}
