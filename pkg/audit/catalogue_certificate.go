package audit

import (
	"bytes"
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

	"k8s.io/apimachinery/pkg/labels"

	"github.com/opea-project/kubectl-opea/pkg/istio"
)

// credential is the Secret of one HTTPS server, found where Istio reads it.
type credential struct {
	gatewayServer
	secret *Secret
	// certPEM and keyPEM are the fields Istio would read, by its rules;
	// keys names them, and problem says why there are none.
	certPEM, keyPEM []byte
	keys            [2]string
	problem         error
	caPEM           []byte
}

// credentials finds each HTTPS server's Secret in the gateway pods'
// namespaces. missing lists the servers whose Secret is absent there.
func (v *view) credentials() (found []credential, missing []gatewayServer) {
	for _, gs := range v.httpsServers() {
		var sec *Secret
		for _, ns := range v.gatewayPodNamespaces(gs.gw) {
			if s := v.s.Secrets[key(ns, gs.server.TLS.CredentialName)]; s != nil {
				sec = s
				break
			}
		}
		if sec == nil {
			missing = append(missing, gs)
			continue
		}
		c := credential{gatewayServer: gs, secret: sec, caPEM: istio.CredentialCA(sec.Data)}
		c.certPEM, c.keyPEM, c.keys, c.problem = istio.CredentialPair(sec.Data)
		found = append(found, c)
	}
	return found, missing
}

func (v *view) needCredentials() ([]credential, Result, bool) {
	if len(v.httpsServers()) == 0 {
		return nil, skip("no HTTPS server"), false
	}
	found, missing := v.credentials()
	if len(missing) > 0 || len(found) == 0 {
		return nil, skip("the credential Secret is missing"), false
	}
	return found, Result{}, true
}

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

func (v *view) needParsed() ([]parsed, Result, bool) {
	creds, r, ok := v.needCredentials()
	if !ok {
		return nil, r, false
	}
	var out []parsed
	for _, c := range creds {
		if formatProblem(c) != "" {
			return nil, skip("the credential Secret is not usable"), false
		}
		p, err := c.parse()
		if err != nil || !keyMatches(p) {
			return nil, skip("the certificate or key is not usable"), false
		}
		out = append(out, p)
	}
	return out, Result{}, true
}

func secretRef(s *Secret) string { return key(s.Namespace, s.Name) }

func checkSecretPresent(v *view) Result {
	if len(v.httpsServers()) == 0 {
		return skip("no HTTPS server")
	}
	found, missing := v.credentials()
	if len(missing) > 0 {
		gs := missing[0]
		name := gs.server.TLS.CredentialName
		podNamespaces := v.gatewayPodNamespaces(gs.gw)
		if len(podNamespaces) == 0 {
			return skip("the Gateway matches no pod, so Istio reads its credential nowhere")
		}
		if v.s.Secrets[key(gs.gw.Namespace, name)] != nil {
			return fail(fmt.Sprintf("create the Secret in %s (Istio reads gateway credentials only from the gateway pods' namespace)", podNamespaces[0]),
				"Secret %s is in the Gateway's namespace %s, not in the gateway pods' namespace %s", name, gs.gw.Namespace, strings.Join(podNamespaces, ", "))
		}
		return fail(fmt.Sprintf("kubectl opea secure -n %s, or kubectl create secret tls %s -n %s --cert=... --key=...", v.s.Namespace, name, podNamespaces[0]),
			"Secret %s not found in %s", name, strings.Join(podNamespaces, ", "))
	}
	return pass("%s", secretRef(found[0].secret))
}

// checkGatewayMayRead: istiod hands a gateway its credentials only when
// the gateway's ServiceAccount may list Secrets in its namespace (the Role
// Istio's gateway charts create); without it the gateway has a listener
// with no certificate and every handshake fails.
func checkGatewayMayRead(v *view) Result {
	if len(v.httpsServers()) == 0 {
		return skip("no HTTPS server")
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
		return fmt.Sprintf("Secret %s: %v", secretRef(c.secret), c.problem)
	}
	return ""
}

func checkSecretFormat(v *view) Result {
	creds, r, ok := v.needCredentials()
	if !ok {
		return r
	}
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

func checkKeyPair(v *view) Result {
	creds, r, ok := v.needCredentials()
	if !ok {
		return r
	}
	for _, c := range creds {
		if formatProblem(c) != "" {
			return skip("the credential Secret is not usable")
		}
		p, err := c.parse()
		if err != nil {
			return fail("reissue the certificate, or recreate the Secret from a valid PEM certificate and key", "Secret %s: %v", secretRef(c.secret), err)
		}
		if !keyMatches(p) {
			return fail("recreate the Secret with the key that belongs to the certificate", "Secret %s: the key does not match the certificate", secretRef(c.secret))
		}
	}
	return pass("they parse and match")
}

func checkSANs(v *view) Result {
	ps, r, ok := v.needParsed()
	if !ok {
		return r
	}
	for _, p := range ps {
		hosts := v.clientHosts(p.gatewayServer)
		if len(hosts) == 0 {
			// Hosts "*" and no concrete VirtualService host: any name the
			// certificate holds is one clients can use.
			continue
		}
		for _, host := range hosts {
			if !istio.CertificateCovers(p.chain[0].DNSNames, p.chain[0].IPAddresses, host) {
				return fail("reissue the certificate for the Gateway's hosts (kubectl opea secure puts the same --host in both)",
					"the certificate in %s is for %s, not for host %s", secretRef(p.secret), strings.Join(p.chain[0].DNSNames, ","), host)
			}
		}
	}
	return pass("%s", strings.Join(ps[0].chain[0].DNSNames, ", "))
}

func checkValidity(v *view) Result {
	ps, r, ok := v.needParsed()
	if !ok {
		return r
	}
	for _, p := range ps {
		leaf := p.chain[0]
		switch {
		case v.s.Now.Before(leaf.NotBefore):
			return fail("check the clocks, or reissue the certificate", "the certificate in %s is not valid before %s", secretRef(p.secret), leaf.NotBefore.UTC().Format("2006-01-02 15:04 MST"))
		case v.s.Now.After(leaf.NotAfter):
			return fail("renew the certificate (cmctl renew, or recreate the Secret)", "the certificate in %s expired on %s", secretRef(p.secret), leaf.NotAfter.UTC().Format("2006-01-02 15:04 MST"))
		case leaf.NotAfter.Sub(v.s.Now) < v.s.MinValidity:
			return warn("renew the certificate soon, or have cert-manager renew it earlier (spec.renewBefore)", "the certificate in %s expires on %s, in less than %s",
				secretRef(p.secret), leaf.NotAfter.UTC().Format("2006-01-02"), v.s.MinValidity)
		}
	}
	return pass("until %s", ps[0].chain[0].NotAfter.UTC().Format("2006-01-02"))
}

func checkChain(v *view) Result {
	ps, r, ok := v.needParsed()
	if !ok {
		return r
	}
	for _, p := range ps {
		if len(p.caPEM) == 0 {
			return pass("no ca.crt in %s to check against (a public CA is validated by the probe)", secretRef(p.secret))
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(p.caPEM) {
			return fail("put the issuing CA in PEM form into ca.crt", "ca.crt of %s holds no PEM certificate", secretRef(p.secret))
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
			return fail("reissue the certificate from the CA in ca.crt, or correct ca.crt", "the certificate in %s does not chain to its ca.crt: %v", secretRef(p.secret), err)
		}
	}
	return pass("chains to ca.crt")
}

func checkCertManagerReady(v *view) Result {
	creds, r, ok := v.needCredentials()
	if !ok {
		return r
	}
	checked := 0
	for _, c := range creds {
		for _, cert := range v.s.Certificates {
			if cert.Namespace != c.secret.Namespace || cert.SecretName != c.secret.Name {
				continue
			}
			checked++
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
	if checked == 0 {
		return skip("the credential Secret is not managed by cert-manager")
	}
	return pass("Certificate and issuer Ready")
}

// ---- Live TLS probe

func checkProbeHandshake(v *view) Result {
	if len(v.httpsServers()) == 0 {
		return skip("no HTTPS server to probe")
	}
	p := v.s.Probe
	if p == nil {
		return warn(fmt.Sprintf("pass --probe-address HOST:PORT of the gateway's HTTPS listener (e.g. after %s)", v.portForwardHint()),
			"no address to probe: the gateway Service has no load balancer address")
	}
	var late []string
	for _, h := range p.Hosts {
		switch {
		case h.TimedOut && h.Served == nil:
			late = append(late, h.Host)
		case h.ConnectErr != "" && p.Guessed:
			return warn("pass --probe-address HOST:PORT that reaches the gateway from here", "could not connect to %s (the gateway Service's address): %s", p.Address, h.ConnectErr)
		case h.ConnectErr != "":
			return fail("check --probe-address", "could not connect to %s: %s", p.Address, h.ConnectErr)
		case h.HandshakeErr != "":
			return fail("check that the gateway serves the Secret's certificate for this host, and that clients trust its CA",
				"TLS handshake with %s for %s failed: %s", p.Address, h.Host, h.HandshakeErr)
		}
	}
	if len(late) > 0 {
		first := firstTimeout(p.Hosts)
		msg := fmt.Sprintf("%s did not answer in time for %d of %d hosts (%s): %s", p.Address, len(late), len(p.Hosts), shortList(late, 5), first)
		if p.Guessed {
			return warn("pass --probe-address HOST:PORT that reaches the gateway from here, or raise --probe-timeout", "%s", msg)
		}
		return fail("check that the gateway pods are ready and listen there ("+v.gatewayLogsHint()+"), or raise --probe-timeout", "%s", msg)
	}
	var hosts []string
	for _, h := range p.Hosts {
		hosts = append(hosts, h.Host)
	}
	return pass("%s validated for %s", p.Address, strings.Join(hosts, ", "))
}

// firstTimeout is the error of the first host whose probe timed out before
// the handshake completed.
func firstTimeout(hosts []HostProbe) string {
	for _, h := range hosts {
		if h.TimedOut && h.Served == nil {
			if h.ConnectErr != "" {
				return h.ConnectErr
			}
			return h.HandshakeErr
		}
	}
	return ""
}

// shortList joins names, the first n of them and how many more.
func shortList(names []string, n int) string {
	if len(names) > n {
		names = append(names[:n:n], fmt.Sprintf("and %d more", len(names)-n))
	}
	return strings.Join(names, ", ")
}

func (v *view) probedHandshakes() ([]HostProbe, bool) {
	p := v.s.Probe
	if p == nil || len(p.Hosts) == 0 {
		return nil, false
	}
	for _, h := range p.Hosts {
		if h.ConnectErr != "" || h.HandshakeErr != "" || h.Served == nil {
			return nil, false
		}
	}
	return p.Hosts, true
}

func checkProbeServedCert(v *view) Result {
	hosts, ok := v.probedHandshakes()
	if !ok {
		return skip("no successful handshake")
	}
	ps, _, ok := v.needParsed()
	if !ok {
		return skip("the Secret's certificate is not usable")
	}
	for _, h := range hosts {
		matched := false
		for _, p := range ps {
			matched = matched || bytes.Equal(h.Served.Raw, p.chain[0].Raw)
		}
		if !matched {
			return fail("wait for the gateway to load the new Secret, or check that no other Gateway claims this host",
				"for %s the gateway serves a certificate (serial %s) that is not the one in %s", h.Host, h.Served.SerialNumber, secretRef(ps[0].secret))
		}
	}
	return pass("the served certificate is the Secret's")
}

func checkProbeRoute(v *view) Result {
	hosts, ok := v.probedHandshakes()
	if !ok {
		return skip("no successful handshake")
	}
	for _, h := range hosts {
		switch {
		case h.StatusErr != "":
			return fail("check the gateway's logs: "+v.gatewayLogsHint(), "GET https://%s/ failed: %s", h.Host, h.StatusErr)
		case h.Status == 404:
			return fail("check routing: the VirtualService's hosts and gateways must match the Gateway", "GET https://%s/ answered 404: no route", h.Host)
		}
	}
	return pass("GET / answered %d", hosts[0].Status)
}

func checkProbeRedirect(v *view) Result {
	p := v.s.Probe
	if p == nil || p.HTTPAddress == "" {
		return skip("no plain HTTP address to probe")
	}
	if p.RedirectErr != "" {
		if p.Guessed {
			return warn("pass --probe-http-address HOST:PORT that reaches the gateway from here", "could not reach %s: %s", p.HTTPAddress, p.RedirectErr)
		}
		return fail("check --probe-http-address", "plain HTTP to %s failed: %s", p.HTTPAddress, p.RedirectErr)
	}
	switch p.RedirectStatus {
	case 301, 302, 307, 308:
		if strings.HasPrefix(p.RedirectLocation, "https://") {
			return pass("%d to %s", p.RedirectStatus, p.RedirectLocation)
		}
	}
	return fail("set tls.httpsRedirect: true on the Gateway's HTTP server", "plain HTTP to %s answered %d (Location %q), not a redirect to https", p.HTTPAddress, p.RedirectStatus, p.RedirectLocation)
}

// portForwardHint is the kubectl port-forward that reaches the HTTPS
// listener of the application's gateway through its Service.
func (v *view) portForwardHint() string {
	for _, gs := range v.httpsServers() {
		for _, pod := range v.gatewayPods(gs.gw) {
			for _, svc := range v.podServices(pod) {
				if port, ok := forwarded(svc, pod, v.listenPort(pod, gs.server.Port.Number)); ok {
					return fmt.Sprintf("kubectl port-forward -n %s svc/%s 8443:%d", svc.Namespace, svc.Name, port)
				}
			}
		}
	}
	return "kubectl port-forward -n <gateway-namespace> svc/<gateway-service> 8443:443"
}

// gatewayLogsHint is the kubectl logs of the application's gateway pods.
func (v *view) gatewayLogsHint() string {
	for _, gw := range v.gateways {
		if ns := v.gatewayPodNamespaces(gw); len(ns) > 0 {
			return fmt.Sprintf("kubectl logs -n %s -l %s", ns[0], labels.Set(gw.Selector))
		}
	}
	return "kubectl logs -n <gateway-namespace> -l <gateway selector>"
}
