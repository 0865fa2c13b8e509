package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/opea-project/kubectl-opea/test/controlplane"
	"github.com/opea-project/kubectl-opea/test/fixtures"
	"github.com/opea-project/kubectl-opea/test/gatewayemulator"
)

// appAnswer is what the stand-in for chatqna-nginx answers.
const appAnswer = "ChatQnA\n"

// emulateGateway starts the gateway emulator as a pod of the gateway of
// layout, fed by the running istiod, with a stand-in for chatqna-nginx
// behind it, and waits until a client gets the app's answer through it
// (validating the certificate against credential's CA, Secret of the
// gateway's namespace): istiod pushes the entry Service's endpoints moments
// after they appear.
func emulateGateway(ctx context.Context, cp *controlplane.ControlPlane, kube kubernetes.Interface, layout fixtures.GatewayLayout, credential string) (*gatewayemulator.Emulator, error) {
	proxy, err := layout.Proxy(ctx, kube)
	if err != nil {
		return nil, err
	}
	secret, err := kube.CoreV1().Secrets(layout.Namespace).Get(ctx, credential, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(secret.Data["ca.crt"])

	gateway, err := gatewayemulator.Start(ctx, gatewayemulator.Options{XDS: cp.Istio.XDS, Proxy: proxy, Kube: kube})
	if err != nil {
		return nil, err
	}
	if err := gateway.Backend("chatqna-nginx."+appNamespace+".svc.cluster.local", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, appAnswer)
	})); err != nil {
		gateway.Close()
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, body, err := get(gateway.Client(layout.HTTPSTarget, roots), "https://"+host+"/")
		if err == nil && status == http.StatusOK && body == appAnswer {
			return gateway, nil
		}
		if time.Now().After(deadline) {
			gateway.Close()
			return nil, fmt.Errorf("the gateway emulator does not serve the app after 30s: %d %q %v", status, body, err)
		}
		time.Sleep(200 * time.Millisecond)
		if err := gateway.Refresh(ctx); err != nil {
			gateway.Close()
			return nil, err
		}
	}
}

func get(client *http.Client, url string) (int, string, error) {
	defer client.CloseIdleConnections()
	resp, err := client.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}
