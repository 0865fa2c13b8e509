package plugin

import (
	"context"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"

	"github.com/opea-project/kubectl-opea/pkg/audit"
	"github.com/opea-project/kubectl-opea/pkg/desired"
)

var certificateGVR = schema.GroupVersionResource{Group: "cert-manager.io", Version: "v1", Resource: "certificates"}

// waitForCertificate polls until cert-manager reports the gateway's
// Certificate Ready and its Secret holds a certificate, or --timeout passes
// (exit code 124).
func (o *SecureOptions) waitForCertificate(ctx context.Context, kube kubernetes.Interface, p *plan) error {
	if p.params.Certificates == desired.ExistingSecret {
		return nil
	}
	dyn, err := o.clients.Dynamic()
	if err != nil {
		return err
	}
	names := desired.NamesFor(o.namespace)
	ns := p.gateway.Namespace
	fmt.Fprintf(o.ErrOut, "Waiting up to %s for certificate %s/%s to be issued...\n", o.Timeout, ns, names.Certificate)
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	state := "not found yet"
	for {
		cert, err := dyn.Resource(certificateGVR).Namespace(ns).Get(ctx, names.Certificate, metav1.GetOptions{})
		if err == nil {
			ready, message := audit.ReadyCondition(cert)
			state = message
			if ready {
				secret, err := kube.CoreV1().Secrets(ns).Get(ctx, names.TLSSecret, metav1.GetOptions{})
				if err == nil && len(secret.Data["tls.crt"]) > 0 {
					fmt.Fprintf(o.Out, "certificate.cert-manager.io/%s ready\n", names.Certificate)
					return nil
				}
				state = "Ready, but Secret " + names.TLSSecret + " holds no certificate yet"
			}
		} else if !apierrors.IsNotFound(err) && ctx.Err() == nil {
			return err
		}
		select {
		case <-ctx.Done():
			return &ExitError{Code: ExitTimeout, Err: fmt.Errorf(
				"timed out after %s waiting for certificate %s/%s (%s); see 'kubectl describe certificate %s -n %s'",
				o.Timeout, ns, names.Certificate, state, names.Certificate, ns)}
		case <-time.After(time.Second):
		}
	}
}

// printNextSteps tells the user how to check the result and call the
// application with a client that validates the certificate.
func (o *SecureOptions) printNextSteps(p *plan) {
	host := desired.ExampleHost(p.params.Hosts[0], o.namespace)
	address := p.gateway.Address
	if address == "" {
		address = "<GATEWAY-ADDRESS>"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nNext:\n  # check that everything is in place and effective\n  kubectl opea verify -n %s\n", o.namespace)
	switch p.params.Certificates {
	case desired.OwnCA:
		// cert-manager's CA issuer puts its CA into every Secret it signs.
		names := desired.NamesFor(o.namespace)
		fmt.Fprintf(&b, "  # once the certificate is issued, give clients the application's CA (no curl -k)\n")
		fmt.Fprintf(&b, "  kubectl get secret %s -n %s -o jsonpath='{.data.ca\\.crt}' | base64 -d > %s-ca.crt\n", names.TLSSecret, p.gateway.Namespace, o.namespace)
		fmt.Fprintf(&b, "  curl --cacert %s-ca.crt --resolve %s:443:%s https://%s/\n", o.namespace, host, address, host)
	default:
		fmt.Fprintf(&b, "  # call the application through the gateway, validating its certificate\n")
		fmt.Fprintf(&b, "  curl --resolve %s:443:%s https://%s/\n", host, address, host)
	}
	if p.gateway.Address == "" {
		fmt.Fprintf(&b, "  # the gateway Service %s/%s has no load balancer address: use its node port, or\n", p.gateway.Namespace, p.gateway.Service)
		fmt.Fprintf(&b, "  #   kubectl port-forward -n %s svc/%s 8443:443   and --resolve %s:8443:127.0.0.1\n", p.gateway.Namespace, p.gateway.Service, host)
	}
	fmt.Fprint(o.Out, b.String())
}
