package check

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"sort"
	"strings"

	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/pkg/istio"
)

// credentialLookup is what credentials found, kept for every check that
// reads it.
type credentialLookup struct {
	found   []snapshot.Credential
	missing []snapshot.TLSListener
}

// lookupCredentials looks the HTTPS servers' Secrets up once per checkView.
func (v *checkView) lookupCredentials() *credentialLookup {
	if v.lookup == nil {
		found, missing := v.Credentials()
		v.lookup = &credentialLookup{found: found, missing: missing}
	}
	return v.lookup
}

// foundCredentials are the HTTPS servers' credentials found where Istio
// reads them: with credentialsPresent, one for each server.
func (v *checkView) foundCredentials() []snapshot.Credential { return v.lookupCredentials().found }

// missingCredentials are the TLS listeners whose Secret is not where Istio
// reads it.
func (v *checkView) missingCredentials() []snapshot.TLSListener { return v.lookupCredentials().missing }

// credentialParsing is the found credentials parsed in order, up to the
// first that is not usable.
type credentialParsing struct {
	parsed []snapshot.Parsed
	// bad is the first credential that is not usable, nil when every one
	// is: its Secret is not in a form Istio reads (unreadable), or its
	// certificate or key does not parse (err), or else its key does not
	// match the certificate.
	bad        *snapshot.Credential
	unreadable bool
	err        error
}

// parseCredentials parses the found credentials once per checkView.
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
		p, err := c.Parse()
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
func (v *checkView) parsedCredentials() []snapshot.Parsed { return v.parseCredentials().parsed }

func checkSecretPresent(v *checkView) Result {
	if missing := v.missingCredentials(); len(missing) > 0 {
		if t := missing[0]; t.Server == nil {
			// Unreached while listenerRefsResolved holds, said for completeness.
			return fail(fmt.Sprintf("kubectl create secret tls %s -n %s --cert=tls.crt --key=tls.key", t.SecretName, t.SecretNamespaces[0]),
				"Secret %s named by %s not found", snapshot.Key(t.SecretNamespaces[0], t.SecretName), t)
		}
		gs := *missing[0].Server
		name := missing[0].SecretName
		podNamespaces := v.GatewayPodNamespaces(gs.Gateway)
		if len(podNamespaces) == 0 {
			return skip("the Gateway matches no pod, so Istio reads its credential nowhere")
		}
		if v.s.Secrets[snapshot.Key(gs.Gateway.Namespace, name)] != nil {
			return fail(fmt.Sprintf("create the Secret in %s (Istio reads gateway credentials only from the gateway pods' namespace)", podNamespaces[0]),
				"Secret %s is in the Gateway's namespace %s, not in the gateway pods' namespace %s", name, gs.Gateway.Namespace, strings.Join(podNamespaces, ", "))
		}
		if cert := v.s.Issuing(podNamespaces[0], name); cert != nil {
			return fail(fmt.Sprintf("kubectl describe certificate %s -n %s; kubectl opea verify --wait waits for it", cert.Name, cert.Namespace),
				"Secret %s not found in %s: cert-manager Certificate %s has not written it yet", name, strings.Join(podNamespaces, ", "), snapshot.Key(cert.Namespace, cert.Name))
		}
		return fail(fmt.Sprintf("%s, or kubectl create secret tls %s -n %s --cert=... --key=...", v.secureCommand(), name, podNamespaces[0]),
			"Secret %s not found in %s", name, strings.Join(podNamespaces, ", "))
	}
	return pass("%s", v.foundCredentials()[0].Ref())
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
	if len(v.HTTPSServers()) == 0 {
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
		return Result{Status: Unknown, Hint: snapshot.PermissionHint,
			Message: fmt.Sprintf("could not ask whether ServiceAccount %s may list Secrets: you may not %s", strings.Join(unknown, ", "), snapshot.SubjectAccessReview)}
	}
	sort.Strings(allowed)
	return pass("%s may list Secrets in its namespace", strings.Join(allowed, ", "))
}

// gatewayServiceAccounts are the ServiceAccounts ("namespace/name") of the
// pods serving the application's HTTPS servers, each with whether
// SecretAccess holds an answer for it.
func (v *checkView) gatewayServiceAccounts() map[string]bool {
	out := map[string]bool{}
	for _, gs := range v.HTTPSServers() {
		for _, p := range v.GatewayPods(gs.Gateway) {
			k := p.ServiceAccountKey()
			_, out[k] = v.s.SecretAccess[k]
		}
	}
	return out
}

// formatProblem says why Istio could not read c's Secret, "" when it can.
func formatProblem(c snapshot.Credential) string {
	if c.Problem != nil {
		return fmt.Sprintf("Secret %s: %v", c.Ref(), c.Problem)
	}
	return ""
}

func checkSecretFormat(v *checkView) Result {
	creds := v.foundCredentials()
	for _, c := range creds {
		if p := formatProblem(c); p != "" {
			return fail(fmt.Sprintf("recreate it: kubectl create secret tls %s -n %s --cert=tls.crt --key=tls.key", c.Secret.Name, c.Secret.Namespace), "%s", p)
		}
	}
	c := creds[0]
	if c.Secret.Type != "kubernetes.io/tls" {
		return pass("%s is of type %s; Istio reads its certificate and key (%s, %s)", snapshot.SecretRef(c.Secret), c.Secret.Type, c.Keys[0], c.Keys[1])
	}
	if c.Keys[0] != "tls.crt" {
		return pass("%s: kubernetes.io/tls, read from %s and %s", snapshot.SecretRef(c.Secret), c.Keys[0], c.Keys[1])
	}
	return pass("%s: kubernetes.io/tls", snapshot.SecretRef(c.Secret))
}

func keyMatches(p snapshot.Parsed) bool {
	pub, ok := p.Key.(interface{ Public() crypto.PublicKey })
	if !ok {
		return false
	}
	switch k := pub.Public().(type) {
	case *ecdsa.PublicKey:
		return k.Equal(p.Chain[0].PublicKey)
	case *rsa.PublicKey:
		return k.Equal(p.Chain[0].PublicKey)
	case ed25519.PublicKey:
		return k.Equal(p.Chain[0].PublicKey)
	}
	return false
}

func checkKeyPair(v *checkView) Result {
	p := v.parseCredentials()
	switch {
	case p.bad == nil:
		return pass("they parse and match")
	case p.err != nil:
		return fail("reissue the certificate, or recreate the Secret from a valid PEM certificate and key", "Secret %s: %v", p.bad.Ref(), p.err)
	}
	return fail("recreate the Secret with the key that belongs to the certificate", "Secret %s: the key does not match the certificate", p.bad.Ref())
}

func checkSANs(v *checkView) Result {
	ps := v.parsedCredentials()
	for _, p := range ps {
		hosts := v.ListenerHosts(p.TLSListener)
		if len(hosts) == 0 {
			// Hosts "*" and no concrete VirtualService host: any name the
			// certificate holds is one clients can use.
			continue
		}
		for _, host := range hosts {
			if !istio.CertificateCovers(p.Chain[0].DNSNames, p.Chain[0].IPAddresses, host) {
				return fail("reissue the certificate for the Gateway's hosts (kubectl opea secure puts the same --host in both)",
					"the certificate in %s is for %s, not for host %s", p.Ref(), strings.Join(p.Chain[0].DNSNames, ","), host)
			}
		}
	}
	return pass("%s", strings.Join(ps[0].Chain[0].DNSNames, ", "))
}

func checkValidity(v *checkView) Result {
	ps := v.parsedCredentials()
	for _, p := range ps {
		leaf := p.Chain[0]
		switch {
		case v.s.Now.Before(leaf.NotBefore):
			return fail("check the clocks, or reissue the certificate", "the certificate in %s is not valid before %s", p.Ref(), leaf.NotBefore.UTC().Format("2006-01-02 15:04 MST"))
		case v.s.Now.After(leaf.NotAfter):
			return fail("renew the certificate (cmctl renew, or recreate the Secret)", "the certificate in %s expired on %s", p.Ref(), leaf.NotAfter.UTC().Format("2006-01-02 15:04 MST"))
		case leaf.NotAfter.Sub(v.s.Now) < v.s.MinValidity:
			return warn("renew the certificate soon, or have cert-manager renew it earlier (spec.renewBefore)", "the certificate in %s expires on %s, in less than %s",
				p.Ref(), leaf.NotAfter.UTC().Format("2006-01-02"), v.s.MinValidity)
		}
	}
	return pass("until %s", ps[0].Chain[0].NotAfter.UTC().Format("2006-01-02"))
}

func checkChain(v *checkView) Result {
	ps := v.parsedCredentials()
	for _, p := range ps {
		if len(p.CAPEM) == 0 {
			return pass("no ca.crt in %s to check against (a public CA is validated by the probe)", snapshot.SecretRef(p.Secret))
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(p.CAPEM) {
			return fail("put the issuing CA in PEM form into ca.crt", "ca.crt of %s holds no PEM certificate", p.Ref())
		}
		inter := x509.NewCertPool()
		for _, c := range p.Chain[1:] {
			inter.AddCert(c)
		}
		// Expiry is certificate.validity's finding: judge the chain at a
		// moment the leaf is valid, so one defect is reported once.
		at := v.s.Now
		if leaf := p.Chain[0]; at.After(leaf.NotAfter) {
			at = leaf.NotAfter
		} else if at.Before(leaf.NotBefore) {
			at = leaf.NotBefore
		}
		if _, err := p.Chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			return fail("reissue the certificate from the CA in ca.crt, or correct ca.crt", "the certificate in %s does not chain to its ca.crt: %v", p.Ref(), err)
		}
	}
	return pass("chains to ca.crt")
}

// manages reports whether cert writes sec.
func manages(cert snapshot.Certificate, sec *snapshot.Secret) bool {
	return cert.Namespace == sec.Namespace && cert.SecretName == sec.Name
}

// certManagerManaged reports whether a Certificate writes a found
// credential's Secret.
func (v *checkView) certManagerManaged() bool {
	for _, c := range v.foundCredentials() {
		for _, cert := range v.s.Certificates {
			if manages(cert, c.Secret) {
				return true
			}
		}
	}
	return false
}

func checkCertManagerReady(v *checkView) Result {
	for _, c := range v.foundCredentials() {
		for _, cert := range v.s.Certificates {
			if !manages(cert, c.Secret) {
				continue
			}
			ref := snapshot.Key(cert.Namespace, cert.Name)
			if !cert.Ready {
				return fail(fmt.Sprintf("kubectl describe certificate %s -n %s", cert.Name, cert.Namespace), "Certificate %s is not Ready: %s", ref, cert.Message)
			}
			issuer := "Issuer/" + snapshot.Key(cert.Namespace, cert.IssuerName)
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
