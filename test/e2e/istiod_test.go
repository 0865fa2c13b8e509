package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	auditcheck "github.com/opea-project/kubectl-opea/pkg/audit/check"
	"github.com/opea-project/kubectl-opea/pkg/await"
	"github.com/opea-project/kubectl-opea/pkg/ownership"
	"github.com/opea-project/kubectl-opea/test/controlplane"
	"github.com/opea-project/kubectl-opea/test/fixtures"
	"github.com/opea-project/kubectl-opea/test/xds"
)

// These tests ask the istiod that runs against the test cluster what it
// makes of what kubectl opea wrote: the configuration it sends the ingress
// gateway (listeners, SNI filter chains, credentials, routes) and the
// policies it sends ztunnel for the application's pods.

// installLayout makes sure layout's gateway is installed on the shared
// cluster. The chart layout stays (other tests use it); the classic one is
// removed when the test ends, so that secure's discovery elsewhere still
// finds exactly one gateway.
func installLayout(t *testing.T, layout fixtures.GatewayLayout) {
	t.Helper()
	if layout.Name == fixtures.ChartGateway.Name {
		ensureIngressGateway(t)
		return
	}
	ctx := context.Background()
	if err := layout.Install(ctx, cluster.AdminConfig()); err != nil {
		t.Fatalf("installing %s: %v", layout.Name, err)
	}
	t.Cleanup(func() {
		kube := adminKube(t)
		policy := metav1.DeletePropagationForeground
		_ = kube.AppsV1().Deployments(layout.Namespace).Delete(ctx, layout.Service, metav1.DeleteOptions{PropagationPolicy: &policy})
		_ = kube.CoreV1().Services(layout.Namespace).Delete(ctx, layout.Service, metav1.DeleteOptions{})
		// Wait until discovery no longer sees it; a test after this one
		// finds out if it never goes.
		_ = await.Until(ctx, 30*time.Second, 100*time.Millisecond, "the Deployment to go", func(ctx context.Context) (bool, string, error) {
			_, err := kube.AppsV1().Deployments(layout.Namespace).Get(ctx, layout.Service, metav1.GetOptions{})
			return err != nil, "", nil
		})
	})
}

// gatewayProxy is the layout's gateway pod as istiod knows it.
func gatewayProxy(t *testing.T, layout fixtures.GatewayLayout) xds.Proxy {
	t.Helper()
	proxy, err := layout.Proxy(context.Background(), adminKube(t))
	if err != nil {
		t.Fatal(err)
	}
	return proxy
}

// istiodGateway asks istiod for the gateway's configuration until check
// accepts it: istiod pushes a change shortly after it sees it. It fails the
// test with check's last complaint.
func istiodGateway(t *testing.T, proxy xds.Proxy, check func(*xds.GatewayConfig) error) *xds.GatewayConfig {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var last error
	for {
		cfg, err := xds.Gateway(ctx, cluster.Istio.XDS, proxy)
		if err == nil {
			if last = check(cfg); last == nil {
				return cfg
			}
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			t.Fatalf("istiod's gateway configuration for %s/%s: %v", proxy.Namespace, proxy.Name, last)
			return nil
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// istiodAmbient asks istiod for what it sends ztunnel until check accepts it.
func istiodAmbient(t *testing.T, check func(*xds.AmbientState) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var last error
	for {
		st, err := xds.Ambient(ctx, cluster.Istio.Debug)
		if err == nil {
			if last = check(st); last == nil {
				return
			}
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			t.Fatalf("istiod's ambient state: %v", last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// servesApp is the gateway configuration that works for host: a filter
// chain for its SNI on the HTTPS port with the credential, a route to the
// app's entry Service, and the plain HTTP port redirecting to HTTPS.
func servesApp(layout fixtures.GatewayLayout, host, credential, cluster string) func(*xds.GatewayConfig) error {
	return servesAppOver(layout, host, "kubernetes://"+credential, cluster)
}

// servesNothingFor is the configuration after unsecure: host has neither a
// filter chain nor a route.
func servesNothingFor(layout fixtures.GatewayLayout, host string) func(*xds.GatewayConfig) error {
	return func(cfg *xds.GatewayConfig) error {
		if s := cfg.SecretFor(layout.HTTPSTarget, host); len(s) > 0 {
			return fmt.Errorf("port %d still serves %s with %v", layout.HTTPSTarget, host, s)
		}
		if c := cfg.ClusterOn(layout.HTTPSTarget, host); c != "" {
			return fmt.Errorf("port %d still routes %s to %s", layout.HTTPSTarget, host, c)
		}
		if cfg.RedirectsToHTTPS(layout.HTTPTarget, host) {
			return fmt.Errorf("port %d still redirects %s", layout.HTTPTarget, host)
		}
		return nil
	}
}

// strictFor is istiod enforcing STRICT mTLS on every pod of ns.
func strictFor(ns string, pods int) func(*xds.AmbientState) error {
	return func(st *xds.AmbientState) error {
		if n := len(st.WorkloadsIn(ns)); n != pods {
			return fmt.Errorf("istiod knows %d workloads in %s, want %d", n, ns, pods)
		}
		for _, w := range st.WorkloadsIn(ns) {
			if !w.Ambient() {
				return fmt.Errorf("workload %s is not captured (tunnel protocol %q)", w.Name, w.TunnelProtocol)
			}
		}
		if len(st.StrictPolicies(ns)) == 0 {
			return fmt.Errorf("no STRICT policy applies to the workloads of %s", ns)
		}
		return nil
	}
}

func entryCluster(ns string) string {
	return fmt.Sprintf("outbound|80||chatqna-nginx.%s.svc.cluster.local", ns)
}

// TestSecureVerifyUnsecureOnRealIstio runs the whole job on each gateway
// layout users have, installed as Istio renders it: verify passes with a
// live probe and no warning about the install, istiod renders the gateway
// configuration and enforces STRICT mTLS, and after unsecure istiod renders
// nothing of it.
func TestSecureVerifyUnsecureOnRealIstio(t *testing.T) {
	for _, layout := range fixtures.GatewayLayouts {
		t.Run(layout.Name, func(t *testing.T) {
			ctx := context.Background()
			kube := adminKube(t)
			installLayout(t, layout)
			if err := fixtures.WaitIstioDataPlaneReady(ctx, kube); err != nil {
				t.Fatal(err)
			}
			ns := newChatQnA(t, "chatqna")
			t.Cleanup(func() {
				_ = adminDynamic(t).Resource(certificateGVR).Namespace(layout.Namespace).DeleteCollection(ctx, metav1.DeleteOptions{},
					metav1.ListOptions{LabelSelector: ownership.Selector(ns)})
			})
			pods := []string{"chatqna-nginx", "chatqna-backend", "chatqna-ui"}
			if err := fixtures.CreateAppPods(ctx, kube, ns, pods...); err != nil {
				t.Fatal(err)
			}
			// istiod knows a workload only once it has an address.
			if err := fixtures.WaitPodsReady(ctx, kube, ns, "", len(pods)); err != nil {
				t.Fatal(err)
			}
			host := ns + ".example.com"
			names := ownership.NamesFor(ns)
			if r := opea(t, "secure", "-n", ns, "--host", host, "--gateway-namespace", layout.Namespace); r.code != 0 {
				t.Fatalf("secure: exit %d\n%s", r.code, r.stderr)
			}
			t.Cleanup(func() {
				_ = kube.CoreV1().Secrets(layout.Namespace).Delete(context.Background(), names.TLSSecret, metav1.DeleteOptions{})
			})
			if err := fixtures.SimulateAmbientCapture(ctx, kube, ns, "enabled"); err != nil {
				t.Fatal(err)
			}
			if _, err := fixtures.WaitCertificateIssued(ctx, kube, adminDynamic(t), layout.Namespace, names.Certificate); err != nil {
				t.Fatal(err)
			}

			proxy := gatewayProxy(t, layout)
			istiodGateway(t, proxy, servesApp(layout, host, names.TLSSecret, entryCluster(ns)))
			istiodAmbient(t, strictFor(ns, len(pods)))

			// A client of the gateway gets the app's answer over TLS, and
			// verify's live probe asks the same gateway.
			waitEntryEndpoints(t, ns)
			gw := emulateGateway(t, proxy, ns)
			roots := credentialRoots(t, layout.Namespace, names.TLSSecret)
			waitGatewayServes(t, gw, func() error { return servedThrough(gw, layout, ns, host, roots) })
			report, r := verifyJSON(t, append([]string{"-n", ns}, probeFlags(t, gw, layout)...)...)
			if r.code != 0 {
				t.Fatalf("verify: exit %d\n%s", r.code, describe(report))
			}
			if warned := byStatus(report, auditcheck.Warn); len(warned) > 0 {
				t.Errorf("verify warns on a healthy install: %v\n%s", warned, describe(report))
			}

			if r := opea(t, "unsecure", "-n", ns, "--gateway-namespace", layout.Namespace); r.code != 0 {
				t.Fatalf("unsecure: exit %d\n%s", r.code, r.stderr)
			}
			istiodGateway(t, proxy, servesNothingFor(layout, host))
			istiodAmbient(t, func(st *xds.AmbientState) error {
				if p := st.StrictPolicies(ns); len(p) > 0 {
					return fmt.Errorf("istiod still enforces %v on %s", p, ns)
				}
				return nil
			})
		})
	}
}

// TestSecondAppOnTheSameGateway secures two apps behind one gateway: istiod
// serves each host with its own credential and route.
func TestSecondAppOnTheSameGateway(t *testing.T) {
	layout := fixtures.ChartGateway
	installLayout(t, layout)
	type app struct{ ns, host string }
	var apps []app
	for _, release := range []string{"first", "second"} {
		ns := newChatQnAIn(t, namespaceName(t)+"-"+release, "chatqna")
		a := app{ns: ns, host: ns + ".example.com"}
		if r := opea(t, "secure", "-n", a.ns, "--host", a.host); r.code != 0 {
			t.Fatalf("secure %s: exit %d\n%s", a.ns, r.code, r.stderr)
		}
		t.Cleanup(func() {
			_ = adminKube(t).CoreV1().Secrets(layout.Namespace).Delete(context.Background(), ownership.NamesFor(a.ns).TLSSecret, metav1.DeleteOptions{})
		})
		apps = append(apps, a)
	}
	proxy := gatewayProxy(t, layout)
	istiodGateway(t, proxy, func(cfg *xds.GatewayConfig) error {
		var errs []error
		for _, a := range apps {
			errs = append(errs, servesApp(layout, a.host, ownership.NamesFor(a.ns).TLSSecret, entryCluster(a.ns))(cfg))
		}
		return errors.Join(errs...)
	})
	if r := opea(t, "unsecure", "-n", apps[0].ns); r.code != 0 {
		t.Fatalf("unsecure: exit %d\n%s", r.code, r.stderr)
	}
	istiodGateway(t, proxy, func(cfg *xds.GatewayConfig) error {
		return errors.Join(servesNothingFor(layout, apps[0].host)(cfg),
			servesApp(layout, apps[1].host, ownership.NamesFor(apps[1].ns).TLSSecret, entryCluster(apps[1].ns))(cfg))
	})
}

// TestIstioInstallIsRendered guards the rule that Istio's objects in the
// tests come from Istio's own rendering: the istiod Deployment, the ztunnel
// and istio-cni DaemonSets and the mesh ConfigMap carry the labels of
// Istio's charts, and the istiod that runs took its settings from them.
func TestIstioInstallIsRendered(t *testing.T) {
	ctx := context.Background()
	kube := adminKube(t)
	ds, err := kube.AppsV1().DaemonSets(controlplane.IstioNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range ds.Items {
		names = append(names, d.Name)
		if d.Labels["app.kubernetes.io/managed-by"] == "" && d.Labels["install.operator.istio.io/owning-resource"] == "" && d.Labels["operator.istio.io/component"] == "" {
			t.Errorf("DaemonSet %s carries no label of Istio's installer: %v", d.Name, d.Labels)
		}
	}
	if got := strings.Join(names, ","); !strings.Contains(got, "ztunnel") || !strings.Contains(got, "istio-cni-node") {
		t.Errorf("DaemonSets in %s: %s, want ztunnel and istio-cni-node", controlplane.IstioNamespace, got)
	}
	if _, err := kube.CoreV1().ConfigMaps(controlplane.IstioNamespace).Get(ctx, "istio", metav1.GetOptions{}); err != nil {
		t.Errorf("mesh ConfigMap: %v", err)
	}
	d, err := kube.AppsV1().Deployments(controlplane.IstioNamespace).Get(ctx, "istiod", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ambient := false
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		ambient = ambient || (e.Name == "PILOT_ENABLE_AMBIENT" && e.Value == "true")
	}
	if !ambient {
		t.Error("the rendered istiod does not set PILOT_ENABLE_AMBIENT=true")
	}
}
