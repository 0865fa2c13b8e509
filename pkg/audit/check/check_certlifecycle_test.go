package check

import (
	"strings"
	"testing"
	"time"

	"github.com/opea-project/kubectl-opea/pkg/audit/internal/fixture"
	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
)

const day = 24 * time.Hour

// failedRenewal is what cert-manager writes on a Certificate whose last
// issuance failed at failedAt.
func failedRenewal(s *snapshot.Snapshot, renewal, failedAt time.Time) {
	c := &s.Certificates[0]
	c.RenewalTime, c.LastFailureTime, c.FailedAttempts = renewal, failedAt, 2
	c.Issuing = &snapshot.Condition{Status: "False", Reason: "Failed", LastTransitionTime: failedAt,
		Message: "The certificate request has failed to complete and will be retried: Error signing certificate: certificate chain is malformed or broken"}
}

// earlierServed has the gateway serve, for the probed host, a certificate
// for the same names issued before the Secret's: the one before a renewal.
func earlierServed(t *testing.T, s *snapshot.Snapshot) {
	s.Probe.Hosts[0].Served = issue(t, []string{"chatqna.example.com"}, now.Add(-48*time.Hour), now.Add(40*day)).Leaf
}

// certLifecycleBrokenCases break the certificates' lifecycle: the mesh
// root, the renewals, what the gateway serves after one.
var certLifecycleBrokenCases = []brokenCase{
	{"mesh root expiring within --warn-expiry", "certificate.mesh-root-expiry", Warn, "in less than 720h0m0s (--warn-expiry)", func(t *testing.T, s *snapshot.Snapshot) {
		s.MeshRoot.PEM = fixture.MeshRoot(t, "cluster.local", now.Add(10*day))
	}},
	{"mesh root expired", "certificate.mesh-root-expiry", Fail, "expired on", func(t *testing.T, s *snapshot.Snapshot) {
		s.MeshRoot.PEM = fixture.MeshRoot(t, "cluster.local", now.Add(-day))
	}},
	{"no mesh root published", "certificate.mesh-root-expiry", Warn, "no ConfigMap istio-ca-root-cert in namespace chatqna", func(t *testing.T, s *snapshot.Snapshot) {
		s.MeshRoot = snapshot.MeshRoot{}
	}},
	{"mesh root not PEM", "certificate.mesh-root-expiry", Fail, "root-cert.pem holds no PEM certificate", func(t *testing.T, s *snapshot.Snapshot) {
		s.MeshRoot.PEM = []byte("not a certificate")
	}},
	{"two roots in the bundle", "certificate.mesh-root-single", Warn, "holds 2 root certificates", func(t *testing.T, s *snapshot.Snapshot) {
		s.MeshRoot.PEM = append(fixture.MeshRoot(t, "old root", now.Add(365*day)), fixture.MeshRoot(t, "new root", now.Add(3650*day))...)
	}},
	{"renewal failed and overdue", "certificate.renewal", Fail, "could not renew Certificate istio-ingress/opea-chatqna-tls, due since 2026-11-26 12:00 UTC: last failure at 2026-11-27 11:00 UTC (2 attempts in a row): Failed: The certificate request has failed",
		func(t *testing.T, s *snapshot.Snapshot) { failedRenewal(s, now.Add(-day), now.Add(-time.Hour)) }},
	{"an issuance failed before the renewal is due", "certificate.renewal", Warn, "last issuance of Certificate istio-ingress/opea-chatqna-tls failed at", func(t *testing.T, s *snapshot.Snapshot) {
		failedRenewal(s, now.Add(10*day), now.Add(-time.Hour))
	}},
	{"renewal late", "certificate.renewal", Warn, "was due at 2026-11-27 10:00 UTC and has not happened: in progress since", func(t *testing.T, s *snapshot.Snapshot) {
		c := &s.Certificates[0]
		c.RenewalTime = now.Add(-2 * time.Hour)
		c.Issuing = &snapshot.Condition{Status: "True", Reason: "Renewing", Message: "Renewing certificate as renewal was scheduled at 2026-11-27 10:00:00 +0000 UTC", LastTransitionTime: now.Add(-2 * time.Hour)}
	}},
	{"gateway serves the certificate from before the renewal", "certificate.served-current", Fail, "the gateway has not loaded it", earlierServed},
	// Certificates count time in seconds: a renewal right after issuance
	// has the same notBefore.
	{"gateway serves an issue of the same second", "certificate.served-current", Fail, "the gateway has not loaded it", func(t *testing.T, s *snapshot.Snapshot) {
		s.Probe.Hosts[0].Served = issue(t, []string{"chatqna.example.com"}, now.Add(-24*time.Hour), now.Add(89*day)).Leaf
	}},
}

// Each broken case of the lifecycle has a healthy twin, one step away,
// that passes.
func TestCertificateLifecycleHealthyTwins(t *testing.T) {
	for _, tc := range []struct {
		name, id string
		twin     func(t *testing.T, s *snapshot.Snapshot)
	}{
		{"the same root, warned of 240h before", "certificate.mesh-root-expiry", func(t *testing.T, s *snapshot.Snapshot) {
			s.MeshRoot.PEM, s.WarnExpiry = fixture.MeshRoot(t, "cluster.local", now.Add(11*day)), 240*time.Hour
		}},
		{"the new root alone", "certificate.mesh-root-single", func(t *testing.T, s *snapshot.Snapshot) {
			s.MeshRoot.PEM = fixture.MeshRoot(t, "new root", now.Add(3650*day))
		}},
		{"the failed renewal retried with success", "certificate.renewal", func(t *testing.T, s *snapshot.Snapshot) {
			failedRenewal(s, now.Add(-day), now.Add(-time.Hour))
			c := &s.Certificates[0]
			c.LastFailureTime, c.FailedAttempts, c.RenewalTime, c.Revision = time.Time{}, 0, now.Add(59*day), 2
			c.Issuing = &snapshot.Condition{Status: "False", Reason: "Issued", Message: "The certificate has been successfully issued"}
		}},
		{"a renewal just due, in progress", "certificate.renewal", func(t *testing.T, s *snapshot.Snapshot) {
			c := &s.Certificates[0]
			c.RenewalTime = now.Add(-time.Minute)
			c.Issuing = &snapshot.Condition{Status: "True", Reason: "Renewing", LastTransitionTime: now.Add(-time.Minute)}
		}},
		{"the gateway reloaded", "certificate.served-current", func(t *testing.T, s *snapshot.Snapshot) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := healthy(t)
			tc.twin(t, s)
			got := outcomesByID(s)[tc.id]
			if got.Status != Pass {
				t.Errorf("%s: %s %q, want a pass", tc.id, got.Status, got.Message)
			}
		})
	}
}

// A Certificate created over a valid Secret of its name is Ready without an
// issuance: the renewal check passes and says so instead of "revision 0".
func TestCertificateRenewalOfATakenOverSecret(t *testing.T) {
	for _, tc := range []struct {
		name     string
		revision int64
		renewal  time.Time
		want     string
	}{
		{"taken over, renewal set", 0, now.Add(30 * day), "renews at 2026-12-27 12:00 UTC (took over an existing Secret, issued "},
		{"taken over, no renewal time", 0, time.Time{}, "took over an existing Secret, no issuance of its own yet; no renewal time set"},
		{"issued, renewal set", 3, now.Add(30 * day), "renews at 2026-12-27 12:00 UTC (revision 3, issued "},
		{"issued, no renewal time", 3, time.Time{}, "issued, revision 3; no renewal time set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := healthy(t)
			s.Certificates[0].Revision, s.Certificates[0].RenewalTime = tc.revision, tc.renewal
			got := outcomesByID(s)["certificate.renewal"]
			if got.Status != Pass || !strings.Contains(got.Message, tc.want) || strings.Contains(got.Message, "revision 0") {
				t.Errorf("certificate.renewal: %s %q, want a pass saying %q", got.Status, got.Message, tc.want)
			}
		})
	}
}

// A stale certificate is reported once, by certificate.served-current:
// probe.served-certificate, which compares the same two certificates, is
// skipped pointing to it.
func TestStaleCertificateIsReportedOnce(t *testing.T) {
	s := healthy(t)
	earlierServed(t, s)
	got := outcomesByID(s)["probe.served-certificate"]
	if got.Status != Skip || !strings.Contains(got.Message, "certificate.served-current") {
		t.Errorf("probe.served-certificate: %s %q, want skipped naming certificate.served-current", got.Status, got.Message)
	}
	// A certificate that is no issue of the Secret's is probe.served-certificate's.
	s = healthy(t)
	s.Probe.Hosts[0].Served = issue(t, []string{"other.example.com"}, now.Add(-48*time.Hour), now.Add(40*day)).Leaf
	outcomes := outcomesByID(s)
	if outcomes["probe.served-certificate"].Status != Fail || outcomes["certificate.served-current"].Status != Skip {
		t.Errorf("another certificate: probe.served-certificate %s, certificate.served-current %s %q",
			outcomes["probe.served-certificate"].Status, outcomes["certificate.served-current"].Status, outcomes["certificate.served-current"].Message)
	}
}

// Through a port-forward, the served certificate's pass says so.
func TestServedCurrentNamesThePortForward(t *testing.T) {
	s := healthy(t)
	s.Probe.Via = "port-forward to istio-ingress/istio-ingress-abc"
	if got := outcomesByID(s)["certificate.served-current"]; got.Status != Pass || !strings.HasSuffix(got.Message, "(via port-forward to istio-ingress/istio-ingress-abc)") {
		t.Errorf("%s %q", got.Status, got.Message)
	}
}
