package read

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/pkg/certmanager"
)

// prefetchCertManager lists the Certificates and Issuers of every
// namespace, when cert-manager is served, noting those secure made. Either
// refused, each namespace's are listed alone.
func (c *readCache) prefetchCertManager(ctx context.Context, dyn dynamic.Interface, served string) error {
	if served == "" {
		return nil
	}
	certs, err := dyn.Resource(certmanager.Certificates).List(ctx, metav1.ListOptions{})
	if apierrors.IsForbidden(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listing certificates: %w", err)
	}
	issuers, err := dyn.Resource(certmanager.Issuers).List(ctx, metav1.ListOptions{})
	if apierrors.IsForbidden(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listing issuers: %w", err)
	}
	for i := range certs.Items {
		u := &certs.Items[i]
		got := c.certManager[u.GetNamespace()]
		got.certificates = append(got.certificates, certificateOf(u))
		c.certManager[u.GetNamespace()] = got
		c.noteSecureObject(u)
	}
	for i := range issuers.Items {
		u := &issuers.Items[i]
		c.noteSecureObject(u)
		got := c.certManager[u.GetNamespace()]
		if got.issuerReady == nil {
			got.issuerReady = map[string]bool{}
		}
		got.issuerReady["Issuer/"+snapshot.Key(u.GetNamespace(), u.GetName())], _ = certmanager.Ready(u)
		c.certManager[u.GetNamespace()] = got
	}
	c.certManagerListed = true
	return nil
}

func certificateOf(u *unstructured.Unstructured) snapshot.Certificate {
	ready, message := certmanager.Ready(u)
	cert := snapshot.Certificate{Namespace: u.GetNamespace(), Name: u.GetName(), Ready: ready, Message: message}
	cert.SecretName, _, _ = unstructured.NestedString(u.Object, "spec", "secretName")
	cert.IssuerName, _, _ = unstructured.NestedString(u.Object, "spec", "issuerRef", "name")
	cert.IssuerKind, _, _ = unstructured.NestedString(u.Object, "spec", "issuerRef", "kind")
	cert.NotBefore = statusTime(u, "notBefore")
	cert.NotAfter = statusTime(u, "notAfter")
	cert.RenewalTime = statusTime(u, "renewalTime")
	cert.LastFailureTime = statusTime(u, "lastFailureTime")
	cert.Revision, _, _ = unstructured.NestedInt64(u.Object, "status", "revision")
	cert.FailedAttempts, _, _ = unstructured.NestedInt64(u.Object, "status", "failedIssuanceAttempts")
	cert.Issuing = condition(u, "Issuing")
	return cert
}

// statusTime is the RFC 3339 time of u's status field, zero when it is
// absent or not a time.
func statusTime(u *unstructured.Unstructured, field string) time.Time {
	value, _, _ := unstructured.NestedString(u.Object, "status", field)
	t, err := time.Parse(time.RFC3339, value)
	if err != nil {
		return time.Time{}
	}
	return t
}

// condition is u's status condition of type kind, nil when it has none.
func condition(u *unstructured.Unstructured, kind string) *snapshot.Condition {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]interface{})
		if m["type"] != kind {
			continue
		}
		out := &snapshot.Condition{}
		out.Status, _ = m["status"].(string)
		out.Reason, _ = m["reason"].(string)
		out.Message, _ = m["message"].(string)
		if at, ok := m["lastTransitionTime"].(string); ok {
			out.LastTransitionTime, _ = time.Parse(time.RFC3339, at)
		}
		return out
	}
	return nil
}

// certManagerIn reads the Certificates and Issuers of namespace ns; "" is
// the ClusterIssuers.
func (c *readCache) certManagerIn(ctx context.Context, dyn dynamic.Interface, ns string) (cachedCertManager, error) {
	if ns == "" && c.clusterIssuers != nil {
		return *c.clusterIssuers, nil
	}
	if got, ok := c.certManager[ns]; ns != "" && (ok || c.certManagerListed) {
		return got, nil
	}
	list := func(which, where string) (*unstructured.UnstructuredList, *snapshot.Access, error) {
		gvr := certmanager.Issuers
		switch which {
		case "certificates":
			gvr = certmanager.Certificates
		case "clusterissuers":
			gvr = certmanager.ClusterIssuers
		}
		l, err := dyn.Resource(gvr).Namespace(where).List(ctx, metav1.ListOptions{})
		if apierrors.IsForbidden(err) {
			return &unstructured.UnstructuredList{}, &snapshot.Access{Verb: "list", Group: gvr.Group, Resource: gvr.Resource, Namespace: where}, nil
		}
		if err != nil {
			in := ""
			if where != "" {
				in = " in " + where
			}
			return nil, nil, fmt.Errorf("listing %s%s: %w", gvr.Resource, in, err)
		}
		return l, nil, nil
	}
	got := cachedCertManager{issuerReady: map[string]bool{}}
	note := func(a *snapshot.Access) {
		if a != nil {
			got.refused = append(got.refused, *a)
		}
	}
	if ns == "" {
		issuers, refused, err := list("clusterissuers", "")
		if err != nil {
			return got, err
		}
		note(refused)
		for i := range issuers.Items {
			got.issuerReady["ClusterIssuer/"+issuers.Items[i].GetName()], _ = certmanager.Ready(&issuers.Items[i])
		}
		c.clusterIssuers = &got
		return got, nil
	}
	certs, refused, err := list("certificates", ns)
	if err != nil {
		return got, err
	}
	note(refused)
	for i := range certs.Items {
		got.certificates = append(got.certificates, certificateOf(&certs.Items[i]))
	}
	issuers, refused, err := list("issuers", ns)
	if err != nil {
		return got, err
	}
	note(refused)
	for i := range issuers.Items {
		got.issuerReady["Issuer/"+snapshot.Key(ns, issuers.Items[i].GetName())], _ = certmanager.Ready(&issuers.Items[i])
	}
	c.certManager[ns] = got
	return got, nil
}

// readCertManager puts into s the Certificates and Issuers of namespaces,
// and the ClusterIssuers.
func (c *readCache) readCertManager(ctx context.Context, dyn dynamic.Interface, namespaces []string, s *snapshot.Snapshot) error {
	for _, ns := range append(namespaces, "") {
		got, err := c.certManagerIn(ctx, dyn, ns)
		if err != nil {
			return err
		}
		s.Certificates = append(s.Certificates, got.certificates...)
		for k, ready := range got.issuerReady {
			s.IssuerReady[k] = ready
		}
		for _, a := range got.refused {
			s.Deny(snapshot.InputCertificates, a)
		}
	}
	return nil
}
