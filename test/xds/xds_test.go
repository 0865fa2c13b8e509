package xds_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	securityv1beta1 "istio.io/api/security/v1beta1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	istioclient "istio.io/client-go/pkg/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/opea-project/kubectl-opea/test/controlplane"
	"github.com/opea-project/kubectl-opea/test/xds"
)

const (
	gatewayNS     = "istio-ingress"
	gatewayPod    = "istio-ingress-0"
	gatewaySA     = "istio-ingress"
	gatewayIP     = "10.244.0.10"
	appNS         = "chatqna"
	appHost       = "chatqna.example.com"
	tlsSecret     = "opea-chatqna-tls"
	meshNS        = "mesh-strict"
	meshPodIP     = "10.244.0.20"
	eventuallyFor = 60 * time.Second
)

var gatewayLabels = map[string]string{"istio": "ingress"}

// TestIstiod runs a real istiod against a local control plane and checks
// what it renders for the ingress gateway and for ztunnel.
func TestIstiod(t *testing.T) {
	bin := os.Getenv(istiodEnv)
	if bin == "" {
		t.Skipf("%s is not set: set it to a pilot-discovery binary (built from test/istiotools) to run istiod against a local control plane", istiodEnv)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	cp, err := controlplane.Start(ctx, controlplane.Options{Progress: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cp.Stop(); err != nil {
			t.Error(err)
		}
	})
	d := startIstiod(t, ctx, bin, cp)
	kube := kubernetes.NewForConfigOrDie(cp.AdminConfig())
	istio := istioclient.NewForConfigOrDie(cp.AdminConfig())

	t.Run("gateway", func(t *testing.T) {
		createGatewayFixtures(t, ctx, kube, istio)
		proxy := xds.Proxy{
			Namespace:      gatewayNS,
			Name:           gatewayPod,
			ServiceAccount: gatewaySA,
			IP:             gatewayIP,
			Labels:         gatewayLabels,
		}
		want := "outbound|80||chatqna-nginx.chatqna.svc.cluster.local"
		// istiod picks the new objects up asynchronously.
		g := eventually(t, ctx, func(ctx context.Context) (*xds.GatewayConfig, error) {
			g, err := xds.Gateway(ctx, d.GRPCAddr, proxy)
			if err != nil {
				return nil, err
			}
			if g.ClusterFor(appHost) != want || !g.RedirectsToHTTPS(80, appHost) {
				return g, fmt.Errorf("not yet: %+v", g)
			}
			return g, nil
		})
		if g.ListenerOnPort(443) == nil {
			t.Fatalf("no listener on 443: %+v", g.Listeners)
		}
		if got := g.SecretFor(443, appHost); !slices.Equal(got, []string{"kubernetes://" + tlsSecret}) {
			t.Errorf("SecretFor(443, %s) = %v, want [kubernetes://%s]", appHost, got, tlsSecret)
		}
		if got := g.ClusterFor(appHost); got != want {
			t.Errorf("ClusterFor(%s) = %q, want %q", appHost, got, want)
		}
		if got := g.ClusterOn(443, appHost); got != want {
			t.Errorf("ClusterOn(443, %s) = %q, want %q", appHost, got, want)
		}
		if !g.RedirectsToHTTPS(80, appHost) {
			t.Errorf("port 80 does not redirect %s to https", appHost)
		}
		if g.RedirectsToHTTPS(443, appHost) {
			t.Errorf("port 443 redirects %s to https", appHost)
		}
		if got := g.SecretFor(443, "other.example.com"); got != nil {
			t.Errorf("SecretFor(443, other.example.com) = %v, want none", got)
		}
		for _, l := range g.Listeners {
			t.Logf("listener %s port %d: %+v", l.Name, l.Port, l.FilterChains)
		}
		for name, r := range g.Routes {
			t.Logf("route %s: %+v", name, r.VirtualHosts)
		}
	})

	t.Run("mesh", func(t *testing.T) {
		createMeshFixtures(t, ctx, kube)
		// The workload is known, with no PeerAuthentication yet.
		st := eventually(t, ctx, func(ctx context.Context) (*xds.AmbientState, error) {
			st, err := xds.Ambient(ctx, d.HTTPAddr)
			if err != nil {
				return nil, err
			}
			if len(st.WorkloadsIn(meshNS)) == 0 {
				return st, fmt.Errorf("no workload in %s yet", meshNS)
			}
			return st, nil
		})
		if w := st.WorkloadsIn(meshNS)[0]; !w.Ambient() {
			t.Errorf("workload %s/%s is not captured by ztunnel: %+v", w.Namespace, w.Name, w)
		}
		if got := st.StrictPolicies(meshNS); got != nil {
			t.Fatalf("strict policies before any PeerAuthentication: %v", got)
		}

		pa := &securityv1.PeerAuthentication{
			ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: meshNS},
			Spec: securityv1beta1.PeerAuthentication{
				Mtls: &securityv1beta1.PeerAuthentication_MutualTLS{Mode: securityv1beta1.PeerAuthentication_MutualTLS_STRICT},
			},
		}
		if _, err := istio.SecurityV1().PeerAuthentications(meshNS).Create(ctx, pa, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		want := []string{"istio-system/" + xds.StaticStrictPolicy}
		got := eventually(t, ctx, func(ctx context.Context) ([]string, error) {
			got, err := xds.StrictPolicies(ctx, d.HTTPAddr, meshNS)
			if err == nil && !slices.Equal(got, want) {
				err = fmt.Errorf("StrictPolicies = %v, want %v", got, want)
			}
			return got, err
		})
		t.Logf("strict policies for %s: %v", meshNS, got)
		st, err := xds.Ambient(ctx, d.HTTPAddr)
		if err != nil {
			t.Fatal(err)
		}
		if p := st.Policy(want[0]); p == nil || p.Action != "DENY" {
			t.Errorf("policy %s = %+v, want a DENY policy", want[0], p)
		}
		// Other namespaces are not covered by this namespace's policy.
		if got := st.StrictPolicies(gatewayNS); got != nil {
			t.Errorf("StrictPolicies(%s) = %v, want none", gatewayNS, got)
		}
	})
}

// eventually retries f until it succeeds or eventuallyFor passes.
func eventually[T any](t *testing.T, ctx context.Context, f func(context.Context) (T, error)) T {
	t.Helper()
	deadline := time.Now().Add(eventuallyFor)
	for {
		callCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		v, err := f(callCtx)
		cancel()
		if err == nil {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", eventuallyFor, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// createGatewayFixtures makes what an OPEA app secured by kubectl-opea
// looks like to istiod: a gateway Deployment's pod and Service, the TLS
// secret, the app's Service, a Gateway and a VirtualService.
func createGatewayFixtures(t *testing.T, ctx context.Context, kube kubernetes.Interface, istio istioclient.Interface) {
	t.Helper()
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, ns := range []string{gatewayNS, appNS} {
		must(kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}))
	}
	must(kube.CoreV1().ServiceAccounts(gatewayNS).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: gatewaySA}}, metav1.CreateOptions{}))
	must(kube.CoreV1().Services(gatewayNS).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "istio-ingress"},
		Spec: corev1.ServiceSpec{
			Selector: gatewayLabels,
			Ports: []corev1.ServicePort{
				{Name: "http2", Port: 80, TargetPort: intstr.FromInt32(80)},
				{Name: "https", Port: 443, TargetPort: intstr.FromInt32(443)},
			},
		},
	}, metav1.CreateOptions{}))
	createRunningPod(t, ctx, kube, gatewayNS, gatewayPod, gatewaySA, gatewayIP, gatewayLabels, nil)
	must(kube.CoreV1().Secrets(gatewayNS).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: tlsSecret},
		Type:       corev1.SecretTypeTLS,
		Data:       selfSignedTLS(t, appHost),
	}, metav1.CreateOptions{}))
	must(kube.CoreV1().Services(appNS).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "chatqna-nginx"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "chatqna-nginx"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}, metav1.CreateOptions{}))
	must(istio.NetworkingV1().Gateways(gatewayNS).Create(ctx, &networkingv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Name: "opea-ingress"},
		Spec: networkingv1alpha3.Gateway{
			Selector: gatewayLabels,
			Servers: []*networkingv1alpha3.Server{
				{
					Port:  &networkingv1alpha3.Port{Number: 443, Name: "https", Protocol: "HTTPS"},
					Hosts: []string{appHost},
					Tls: &networkingv1alpha3.ServerTLSSettings{
						Mode:           networkingv1alpha3.ServerTLSSettings_SIMPLE,
						CredentialName: tlsSecret,
					},
				},
				{
					Port:  &networkingv1alpha3.Port{Number: 80, Name: "http", Protocol: "HTTP"},
					Hosts: []string{appHost},
					Tls:   &networkingv1alpha3.ServerTLSSettings{HttpsRedirect: true},
				},
			},
		},
	}, metav1.CreateOptions{}))
	must(istio.NetworkingV1().VirtualServices(appNS).Create(ctx, &networkingv1.VirtualService{
		ObjectMeta: metav1.ObjectMeta{Name: "chatqna"},
		Spec: networkingv1alpha3.VirtualService{
			Hosts:    []string{appHost},
			Gateways: []string{gatewayNS + "/opea-ingress"},
			Http: []*networkingv1alpha3.HTTPRoute{{
				Route: []*networkingv1alpha3.HTTPRouteDestination{{
					Destination: &networkingv1alpha3.Destination{
						Host: "chatqna-nginx.chatqna.svc.cluster.local",
						Port: &networkingv1alpha3.PortSelector{Number: 80},
					},
				}},
			}},
		},
	}, metav1.CreateOptions{}))
}

// createMeshFixtures makes an ambient namespace with one pod that has an
// IP, as the CNI would leave it (annotated as redirected to ztunnel).
func createMeshFixtures(t *testing.T, ctx context.Context, kube kubernetes.Interface) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:   meshNS,
		Labels: map[string]string{"istio.io/dataplane-mode": "ambient"},
	}}
	if _, err := kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "app"}}
	if _, err := kube.CoreV1().ServiceAccounts(meshNS).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	createRunningPod(t, ctx, kube, meshNS, "app-0", "app", meshPodIP, map[string]string{"app": "app"},
		map[string]string{"ambient.istio.io/redirection": "enabled"})
}

// createRunningPod creates a pod and writes the status a kubelet would:
// Running with podIP. No kubelet runs on the local control plane.
func createRunningPod(t *testing.T, ctx context.Context, kube kubernetes.Interface, ns, name, sa, ip string, labels, annotations map[string]string) {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels, Annotations: annotations},
		Spec: corev1.PodSpec{
			ServiceAccountName:           sa,
			AutomountServiceAccountToken: new(false),
			Containers:                   []corev1.Container{{Name: "main", Image: "example.invalid/none"}},
		},
	}
	pod, err := kube.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod.Status = corev1.PodStatus{
		Phase:      corev1.PodRunning,
		PodIP:      ip,
		PodIPs:     []corev1.PodIP{{IP: ip}},
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
	}
	if _, err := kube.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// selfSignedTLS returns the data of a kubernetes.io/tls Secret for host.
// istiod only names the secret in the listener (SDS) and never reads it
// for that, but the API server warns about a Secret without PEM data.
func selfSignedTLS(t *testing.T, host string) map[string][]byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: host},
		DNSNames:     []string{host},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{
		corev1.TLSCertKey:       pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		corev1.TLSPrivateKeyKey: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}
}

// testWriter sends the control plane's progress lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
