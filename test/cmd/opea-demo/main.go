// Command opea-demo shows kubectl opea at work on the project's own local
// control plane, for anyone without a cluster at hand: `make demo`.
//
// It starts the control plane with Istio's ambient profile and a running
// istiod, creates what a cluster with ChatQnA and an Istio ingress gateway
// holds, runs secure, verify and unsecure through kubectl, shows what
// istiod renders, then does it again with a Gateway API Gateway and
// --lockdown, stands in for istio-cni (printed as simulated) and for the
// gateways' Envoy (an emulator fed by istiod), and stops everything again.
// The scheduler, kwok (for the kubelet) and cert-manager's controllers run.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/opea-project/kubectl-opea/pkg/ownership"
	"github.com/opea-project/kubectl-opea/test/controlplane"
	"github.com/opea-project/kubectl-opea/test/fixtures"
)

const (
	appNamespace = "chatqna"
	host         = "chatqna.example.com"
)

func main() {
	plugin := flag.String("plugin", "bin/kubectl-opea", "the kubectl-opea binary to run")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *plugin); err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

func step(format string, args ...interface{}) {
	fmt.Printf("\n== "+format+"\n", args...)
}

func run(ctx context.Context, plugin string) (err error) {
	start := time.Now()
	pluginPath, err := filepath.Abs(plugin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(pluginPath); err != nil {
		return fmt.Errorf("%w (run make build first)", err)
	}

	step("Starting the local control plane: etcd, kube-apiserver, kube-controller-manager, with the Istio, Gateway API and cert-manager CRDs, " +
		"Istio's ambient profile as istioctl renders it, and a running istiod")
	cp, err := controlplane.Start(ctx, controlplane.Options{Istio: true, Progress: os.Stdout})
	if err != nil {
		return err
	}
	defer func() {
		step("Stopping the local control plane")
		err = errors.Join(err, cp.Stop())
		if err == nil {
			fmt.Printf("Done in %s.\n", time.Since(start).Round(100*time.Millisecond))
		}
	}()
	bins, err := controlplane.EnsureBinaries(ctx, os.Stdout)
	if err != nil {
		return err
	}
	kubeconfig := filepath.Join(cp.Dir(), "kubeconfig")
	if err := cp.WriteKubeconfig(kubeconfig, controlplane.AdminUser); err != nil {
		return err
	}
	kube, err := kubernetes.NewForConfig(cp.AdminConfig())
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cp.AdminConfig())
	if err != nil {
		return err
	}

	step("Creating what the cluster would hold: ChatQnA's Services in namespace %s, and an Istio ingress gateway in %s rendered from Istio's gateway chart",
		appNamespace, fixtures.GatewayNamespace)
	step("The scheduler binds ChatQnA's pods, the gateway's, istiod's, ztunnel's and istio-cni's to the node kwok manages, and kwok runs them: Running and Ready, with addresses, without containers (istiod itself runs as a local process)")
	if err := fixtures.StageChatQnA(ctx, cp.AdminConfig(), appNamespace); err != nil {
		return err
	}

	// kubectl finds the plugin on PATH, as after `make install` or krew.
	env := append(os.Environ(), "KUBECONFIG="+kubeconfig, "PATH="+filepath.Dir(pluginPath)+string(os.PathListSeparator)+os.Getenv("PATH"))
	kubectl := func(args ...string) error {
		fmt.Printf("$ kubectl %s\n", strings.Join(args, " "))
		cmd := exec.CommandContext(ctx, bins.Kubectl, args...)
		cmd.Env, cmd.Stdout, cmd.Stderr = env, os.Stdout, os.Stdout
		return cmd.Run()
	}

	step("Securing the application")
	if err := kubectl("opea", "secure", "-n", appNamespace, "--host", host); err != nil {
		return err
	}

	names := ownership.NamesFor(appNamespace)
	step("cert-manager's controllers issue certificate %s/%s: its CA from the self-signed Issuer, then the certificate from that CA, each through an approved CertificateRequest",
		fixtures.GatewayNamespace, names.Certificate)
	if _, err := fixtures.WaitCertificateIssued(ctx, kube, dyn, fixtures.GatewayNamespace, names.Certificate); err != nil {
		return err
	}

	step("[simulated] istio-cni captures the pods of %s (sets ambient.istio.io/redirection=enabled, as it does once the namespace is enrolled)", appNamespace)
	if err := fixtures.SimulateAmbientCapture(ctx, kube, appNamespace, "enabled"); err != nil {
		return err
	}

	step("Asking the running istiod what it made of it: the ingress gateway's xDS and what ztunnel is sent")
	if err := istiodView(ctx, cp, kube, true); err != nil {
		return err
	}

	step("The EndpointSlice controller lists the pods of %s/chatqna-nginx (istiod sends the gateway the endpoints of the Service it routes to)", appNamespace)
	if err := fixtures.WaitEndpointSlice(ctx, kube, appNamespace, "chatqna-nginx"); err != nil {
		return err
	}
	gateway, err := emulateGateway(ctx, cp, kube, fixtures.ChartGateway, names.TLSSecret)
	if err != nil {
		return err
	}
	defer gateway.Close()
	layout := fixtures.ChartGateway
	httpsAddr, httpAddr := gateway.Addr(layout.HTTPSTarget), gateway.Addr(layout.HTTPTarget)
	step("[stand-in] the ingress gateway's Envoy: an emulator serving what istiod sends the gateway proxy, port %d on %s and port %d on %s, "+
		"in front of a stand-in for chatqna-nginx; GET https://%s/ through it answers the app's %q",
		layout.HTTPSTarget, httpsAddr, layout.HTTPTarget, httpAddr, host, strings.TrimSpace(appAnswer))

	step("Verifying: every check, including a live TLS probe that validates the certificate against the application's CA")
	if err := kubectl("opea", "verify", "-n", appNamespace, "--probe-address", httpsAddr, "--probe-http-address", httpAddr); err != nil {
		return err
	}

	step("Running secure again: nothing changes")
	if err := kubectl("opea", "secure", "-n", appNamespace, "--host", host, "--wait", "--timeout", "30s"); err != nil {
		return err
	}

	step("Taking it back out: exactly what secure created, and the Secret cert-manager wrote for it")
	if err := kubectl("opea", "unsecure", "-n", appNamespace, "--wait"); err != nil {
		return err
	}
	if err := kubectl("opea", "unsecure", "-n", appNamespace); err != nil {
		return err
	}
	step("Asking istiod again: it renders nothing of it any more")
	if err := istiodView(ctx, cp, kube, false); err != nil {
		return err
	}
	return gatewayAPIWithLockdown(ctx, kube, dyn, cp, kubectl)
}

// gatewayAPIWithLockdown secures the application again, with a Gateway API
// Gateway for which istiod deploys a gateway in the application namespace,
// and the lockdown: deny by default, but the gateway's clients admitted at
// the gateway itself; verifies it through a gateway emulator fed by what
// istiod sends the gateway it deployed; and takes it back out.
func gatewayAPIWithLockdown(ctx context.Context, kube kubernetes.Interface, dyn dynamic.Interface, cp *controlplane.ControlPlane, kubectl func(...string) error) error {
	step("Securing it again with a Gateway API Gateway (istiod deploys its gateway in %s) and --lockdown (only the app's own workloads and the gateway may call its pods)", appNamespace)
	if err := kubectl("opea", "secure", "-n", appNamespace, "--host", host, "--gateway-api", "--gateway-service-type", "ClusterIP", "--lockdown"); err != nil {
		return err
	}
	names := ownership.NamesFor(appNamespace)
	step("cert-manager's controllers issue certificate %s/%s", appNamespace, names.Certificate)
	if _, err := fixtures.WaitCertificateIssued(ctx, kube, dyn, appNamespace, names.Certificate); err != nil {
		return err
	}
	layout := fixtures.DeployedGateway(appNamespace, names.Gateway)
	step("kwok runs the pods of the gateway istiod deployed (%s/%s), and the EndpointSlice controller lists them", appNamespace, layout.Service)
	if err := fixtures.WaitDeployedGatewayReady(ctx, kube, layout); err != nil {
		return err
	}
	gateway, err := emulateGateway(ctx, cp, kube, layout, names.TLSSecret)
	if err != nil {
		return err
	}
	defer gateway.Close()
	httpsAddr, httpAddr := gateway.Addr(layout.HTTPSTarget), gateway.Addr(layout.HTTPTarget)
	step("[stand-in] the deployed gateway's Envoy: the emulator serves what istiod sends it, port %d on %s and port %d on %s; "+
		"the lockdown's namespace-wide policies apply to it too, and opea-allow-gateway-clients, bound to the Gateway, admits clients there",
		layout.HTTPSTarget, httpsAddr, layout.HTTPTarget, httpAddr)

	step("Verifying the Gateway API ingress and the lockdown, with the live probe through the emulator")
	if err := kubectl("opea", "verify", "-n", appNamespace, "--probe-address", httpsAddr, "--probe-http-address", httpAddr); err != nil {
		return err
	}

	step("Taking it back out: the Gateway, its routes, the certificate and the lockdown (Istio removes the gateway it deployed)")
	return kubectl("opea", "unsecure", "-n", appNamespace)
}
