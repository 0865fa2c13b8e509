package read

import (
	"context"
	"fmt"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/pkg/clients"
	"github.com/opea-project/kubectl-opea/pkg/istio"
)

// readCache holds the gateway side's reads of one audit: namespaces that
// share a gateway, its credentials' namespace or its ServiceAccount share
// the requests too. In an audit of all namespaces, cert-manager's objects
// are listed across namespaces up front, so that their number does not grow
// with the namespaces; credential Secrets are read by name, every one the
// Gateways name at once (fetchSecrets). Its other methods are called from
// one goroutine, after the shared inputs are read.
type readCache struct {
	// gatewayPods are the gateway pods by label selector.
	gatewayPods map[string]cachedPods
	// secrets are the credential Secrets read, by "namespace/name".
	secrets map[string]cachedSecret
	// secretAccess answers istiod's question per ServiceAccount
	// "namespace/name"; accessRefused when the review itself is.
	secretAccess  map[string]bool
	accessRefused bool
	// certManager are each namespace's Certificates and Issuers;
	// certManagerListed says every namespace's are there (absent: none).
	certManager       map[string]cachedCertManager
	certManagerListed bool
	clusterIssuers    *cachedCertManager
	// secureObjects are, when every namespace's Certificates and Issuers
	// are listed, those kubectl opea secure made, by the application
	// namespace they serve.
	secureObjects map[string]*Leftover
}

type cachedPods struct {
	pods    []snapshot.Object
	refused bool
}

type cachedSecret struct {
	secret  *snapshot.Secret // nil: not found, or refused
	refused bool
}

type cachedCertManager struct {
	certificates []snapshot.Certificate
	// issuerReady is keyed as Snapshot.IssuerReady.
	issuerReady map[string]bool
	refused     []snapshot.Access
}

func newReadCache() *readCache {
	return &readCache{
		gatewayPods:  map[string]cachedPods{},
		secrets:      map[string]cachedSecret{},
		secretAccess: map[string]bool{},
		certManager:  map[string]cachedCertManager{},
	}
}

// podsOf lists the pods selector matches in every namespace. Whole pods,
// not metadata: a named targetPort of the gateway Service resolves through
// their container ports.
func (c *readCache) podsOf(ctx context.Context, kube clients.Kube, selector string) (cachedPods, error) {
	if got, ok := c.gatewayPods[selector]; ok {
		return got, nil
	}
	pods, err := kube.CoreV1().Pods("").List(ctx, metav1.ListOptions{LabelSelector: selector})
	var got cachedPods
	switch {
	case apierrors.IsForbidden(err):
		got.refused = true
	case err != nil:
		return got, err
	default:
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil {
				got.pods = append(got.pods, gatewayPod(p))
			}
		}
	}
	c.gatewayPods[selector] = got
	return got, nil
}

func gatewayPod(p corev1.Pod) snapshot.Object {
	return snapshot.Object{Namespace: p.Namespace, Name: p.Name, Labels: p.Labels, Annotations: p.Annotations,
		ContainerPorts: istio.ContainerPorts(p.Spec), ServiceAccount: p.Spec.ServiceAccountName, HostNetwork: p.Spec.HostNetwork}
}

// mayListSecrets asks, once per ServiceAccount "namespace/name", whether
// it may list Secrets in its namespace.
func (c *readCache) mayListSecrets(ctx context.Context, kube clients.Kube, serviceAccount string) (bool, error) {
	if allowed, ok := c.secretAccess[serviceAccount]; ok || c.accessRefused {
		return allowed, nil
	}
	ns, sa, _ := strings.Cut(serviceAccount, "/")
	review, err := kube.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
		Spec: authorizationv1.SubjectAccessReviewSpec{
			User:               "system:serviceaccount:" + ns + ":" + sa,
			ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: ns, Verb: "list", Resource: "secrets"},
		},
	}, metav1.CreateOptions{})
	if apierrors.IsForbidden(err) {
		c.accessRefused = true
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("asking whether ServiceAccount %s may list Secrets: %w", serviceAccount, err)
	}
	c.secretAccess[serviceAccount] = review.Status.Allowed
	return review.Status.Allowed, nil
}
