package check

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
)

// ---- Certificate lifecycle: the mesh root, renewals, and what the gateway
// serves after one.

// renewalGrace is how long a renewal may run past its renewalTime before
// verify calls it late: cert-manager starts it on time, and issuing takes
// moments.
const renewalGrace = 5 * time.Minute

// dateTime formats a moment for a message.
func dateTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 MST") }

// meshRoots are the certificates of the namespace's istio-ca-root-cert, in
// order; err says why there are none.
func (v *checkView) meshRoots() ([]*x509.Certificate, error) {
	roots, err := snapshot.Certificates(v.s.MeshRoot.PEM)
	if err != nil {
		return nil, fmt.Errorf("a certificate of %s does not parse: %w", snapshot.MeshRootKey, err)
	}
	if len(roots) == 0 {
		return nil, fmt.Errorf("%s holds no PEM certificate", snapshot.MeshRootKey)
	}
	return roots, nil
}

// meshRootRef names the namespace's istio-ca-root-cert for a message.
func (v *checkView) meshRootRef() string {
	return "ConfigMap " + snapshot.Key(v.s.Namespace, snapshot.MeshRootConfigMap)
}

// rootName names a root certificate by its subject.
func rootName(c *x509.Certificate) string {
	return fmt.Sprintf("%q", c.Subject.String())
}

// checkMeshRootExpiry: workloads' mTLS certificates chain to the mesh root;
// when it expires, every mTLS handshake of the mesh fails. istiod publishes
// it to every namespace as istio-ca-root-cert.
func checkMeshRootExpiry(v *checkView) Result {
	if !v.s.MeshRoot.Found {
		return warn("check that istiod runs and watches this namespace: kubectl logs -n istio-system -l app=istiod",
			"no ConfigMap %s in namespace %s: istiod publishes the mesh root in every namespace it serves", snapshot.MeshRootConfigMap, v.s.Namespace)
	}
	roots, err := v.meshRoots()
	if err != nil {
		return fail("let istiod rewrite it: kubectl delete configmap "+snapshot.MeshRootConfigMap+" -n "+v.s.Namespace, "%s: %v", v.meshRootRef(), err)
	}
	soonest := roots[0]
	for _, r := range roots[1:] {
		if r.NotAfter.Before(soonest.NotAfter) {
			soonest = r
		}
	}
	const rotate = "rotate the mesh root before then: plug in a new root CA (istio.io: Plug in CA Certificates) and let both be trusted during the change"
	switch left := soonest.NotAfter.Sub(v.s.Now); {
	case left <= 0:
		return fail(rotate, "the mesh root %s in %s expired on %s: workloads' mTLS certificates no longer validate", rootName(soonest), v.meshRootRef(), dateTime(soonest.NotAfter))
	case left < v.s.WarnExpiry:
		return warn(rotate, "the mesh root %s in %s expires on %s, in less than %s (--warn-expiry)", rootName(soonest), v.meshRootRef(), dateTime(soonest.NotAfter), v.s.WarnExpiry)
	}
	return pass("%s until %s", rootName(soonest), soonest.NotAfter.UTC().Format("2006-01-02"))
}

// checkMeshRootSingle: several roots in the bundle mean a root rotation in
// progress or roots of several meshes; ztunnel builds its trust from one
// root, so workloads whose certificates chain to another are refused
// (istio/ztunnel#1679, istio/istio#47427).
func checkMeshRootSingle(v *checkView) Result {
	roots, err := v.meshRoots()
	if err != nil {
		return skip("%s holds no usable certificate: see certificate.mesh-root-expiry", v.meshRootRef())
	}
	if len(roots) > 1 {
		names := make([]string, len(roots))
		for i, r := range roots {
			names[i] = rootName(r)
		}
		return warn("finish the root rotation: once every workload holds a certificate of the new root, remove the old root from istiod's CA (cacerts Secret root-cert.pem, or meshConfig.caCertificates)",
			"%s holds %d root certificates (%s): ztunnel trusts one, so workloads certified by another can be refused", v.meshRootRef(), len(roots), strings.Join(names, ", "))
	}
	return pass("one root, %s", rootName(roots[0]))
}

// gatewayCertificates are the Ready cert-manager Certificates that write
// the found credentials' Secrets; a Certificate not Ready is
// certificate.cert-manager-ready's finding.
func (v *checkView) gatewayCertificates() (ready []snapshot.Certificate, notReady int) {
	for _, c := range v.foundCredentials() {
		for _, cert := range v.s.Certificates {
			if !manages(cert, c.Secret) {
				continue
			}
			if cert.Ready {
				ready = append(ready, cert)
			} else {
				notReady++
			}
		}
	}
	return ready, notReady
}

// checkCertificateRenewal: cert-manager renews the gateway's certificate at
// status.renewalTime; a renewal that failed (lastFailureTime, Issuing False)
// or has not happened leaves the certificate to expire while Ready is still
// True.
func checkCertificateRenewal(v *checkView) Result {
	certs, notReady := v.gatewayCertificates()
	if len(certs) == 0 {
		return skip("the Certificate is not Ready: see certificate.cert-manager-ready (%d not Ready)", notReady)
	}
	for _, cert := range certs {
		if r, bad := v.renewalProblem(cert); bad {
			return r
		}
	}
	cert := certs[0]
	// cert-manager counts its own issuances: a Certificate created over a
	// valid Secret of its name takes that certificate as it is, Ready at
	// revision 0, and renews it like any other.
	ref := snapshot.Key(cert.Namespace, cert.Name)
	issued, revision := fmt.Sprintf("issued, revision %d", cert.Revision), fmt.Sprintf("revision %d", cert.Revision)
	if cert.Revision == 0 {
		issued, revision = "took over an existing Secret, no issuance of its own yet", "took over an existing Secret"
	}
	if cert.RenewalTime.IsZero() {
		return pass("Certificate %s %s; no renewal time set", ref, issued)
	}
	return pass("Certificate %s renews at %s (%s, issued %s)", ref, dateTime(cert.RenewalTime), revision, dateTime(cert.NotBefore))
}

// renewalProblem judges one Certificate's renewal: a failed issuance fails
// once its renewal is due and warns before; a renewal late by more than
// renewalGrace warns.
func (v *checkView) renewalProblem(cert snapshot.Certificate) (Result, bool) {
	ref := snapshot.Key(cert.Namespace, cert.Name)
	hint := fmt.Sprintf("kubectl describe certificate %s -n %s (and its CertificateRequests: kubectl get certificaterequests -n %s); once fixed, cmctl renew %s -n %s",
		cert.Name, cert.Namespace, cert.Namespace, cert.Name, cert.Namespace)
	due := !cert.RenewalTime.IsZero() && v.s.Now.After(cert.RenewalTime)
	if !cert.LastFailureTime.IsZero() {
		why := "the issuance failed"
		if c := cert.Issuing; c != nil && c.Status == "False" && c.Message != "" {
			why = fmt.Sprintf("%s: %s", c.Reason, c.Message)
		}
		attempts := ""
		if cert.FailedAttempts > 1 {
			attempts = fmt.Sprintf(" (%d attempts in a row)", cert.FailedAttempts)
		}
		expires := ""
		if !cert.NotAfter.IsZero() {
			expires = "; the certificate in the Secret expires on " + dateTime(cert.NotAfter)
		}
		if due {
			return fail(hint, "cert-manager could not renew Certificate %s, due since %s: last failure at %s%s: %s%s",
				ref, dateTime(cert.RenewalTime), dateTime(cert.LastFailureTime), attempts, why, expires), true
		}
		return warn(hint, "cert-manager's last issuance of Certificate %s failed at %s%s: %s%s", ref, dateTime(cert.LastFailureTime), attempts, why, expires), true
	}
	if due && v.s.Now.Sub(cert.RenewalTime) > renewalGrace {
		what := "cert-manager has not started it: check that its controllers run (kubectl get pods -n cert-manager)"
		if c := cert.Issuing; c != nil && c.Status == "True" {
			what = fmt.Sprintf("in progress since %s: %s", dateTime(c.LastTransitionTime), c.Message)
		}
		return warn(hint, "the renewal of Certificate %s was due at %s and has not happened: %s", ref, dateTime(cert.RenewalTime), what), true
	}
	return Result{}, false
}

// earlierIssue reports whether served is an earlier issue of current: a
// certificate for the same names, not issued after it (certificates count
// time in seconds: two issues can share one). A gateway serves one when it
// has not loaded the Secret cert-manager renewed.
func earlierIssue(served, current *x509.Certificate) bool {
	if bytes.Equal(served.Raw, current.Raw) || served.NotBefore.After(current.NotBefore) {
		return false
	}
	a, b := slices.Clone(served.DNSNames), slices.Clone(current.DNSNames)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// staleHost is the first probed host for which the gateway serves an
// earlier issue of its Secret's certificate, and that certificate; ok is
// false when there is none.
func (v *checkView) staleHost() (host snapshot.HostProbe, current snapshot.Parsed, ok bool) {
	if v.s.Probe == nil {
		return snapshot.HostProbe{}, snapshot.Parsed{}, false
	}
	for _, h := range v.s.Probe.Hosts {
		if h.Served == nil {
			continue
		}
		for _, p := range v.parsedCredentials() {
			if bytes.Equal(h.Served.Raw, p.Chain[0].Raw) {
				break
			}
			if earlierIssue(h.Served, p.Chain[0]) {
				return h, p, true
			}
		}
	}
	return snapshot.HostProbe{}, snapshot.Parsed{}, false
}

// checkServedCurrent: after cert-manager renews the certificate, the
// gateway must serve the new one (istiod pushes it over SDS). One that
// keeps serving the old certificate fails clients once it expires, while
// every check of the Secret passes.
func checkServedCurrent(v *checkView) Result {
	if h, current, stale := v.staleHost(); stale {
		leaf := current.Chain[0]
		renewed := "it was replaced"
		if cert := v.s.Issuing(current.Secret.Namespace, current.Secret.Name); cert != nil && cert.Revision > 0 {
			renewed = fmt.Sprintf("Certificate %s renewed it (revision %d)", snapshot.Key(cert.Namespace, cert.Name), cert.Revision)
		}
		return fail(fmt.Sprintf("check that istiod pushes the Secret to the gateway (istioctl proxy-config secret -n <ns> <gateway pod>); restarting the gateway pods loads it (%s)", v.gatewayLogsHint()),
			"for %s the gateway%s serves the certificate issued %s (serial %s, expires %s), not the one %s holds, issued %s (serial %s): %s and the gateway has not loaded it",
			h.Host, viaLabel(v.s.Probe), dateTime(h.Served.NotBefore), h.Served.SerialNumber, dateTime(h.Served.NotAfter), current.Ref(), dateTime(leaf.NotBefore), leaf.SerialNumber, renewed)
	}
	ps := v.parsedCredentials()
	for _, h := range v.s.Probe.Hosts {
		if !slices.ContainsFunc(ps, func(p snapshot.Parsed) bool { return bytes.Equal(h.Served.Raw, p.Chain[0].Raw) }) {
			return skip("the gateway serves a certificate that is not an issue of the Secret's: see probe.served-certificate")
		}
	}
	return pass("the gateway serves the certificate issued %s, the latest in %s%s", dateTime(ps[0].Chain[0].NotBefore), ps[0].Ref(), viaLabel(v.s.Probe))
}
