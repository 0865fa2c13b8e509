package faultproxy

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// The HTTP proxy answers the chosen request with the error as the API
// server writes one, which client-go reads as that error, and forwards the
// rest, authenticated as the upstream config says.
func TestHTTPProxyAnswersTheChosenRequest(t *testing.T) {
	var auth []string
	upstream := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = append(auth, r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"chatqna"}}`))
	}))
	defer upstream.Close()
	cfg := &rest.Config{Host: upstream.URL, BearerToken: "upstream-token", TLSClientConfig: rest.TLSClientConfig{Insecure: true}}

	p, err := StartHTTP(cfg, Answer{Method: http.MethodGet, PathSuffix: "/namespaces/broken", Status: http.StatusInternalServerError})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := p.WriteKubeconfig(path); err != nil {
		t.Fatal(err)
	}
	clientCfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	kube := kubernetes.NewForConfigOrDie(clientCfg)
	ctx := context.Background()

	if _, err := kube.CoreV1().Namespaces().Get(ctx, "broken", metav1.GetOptions{}); !apierrors.IsInternalError(err) {
		t.Errorf("the chosen GET: got %v, want an internal error", err)
	}
	ns, err := kube.CoreV1().Namespaces().Get(ctx, "chatqna", metav1.GetOptions{})
	if err != nil || ns.Name != "chatqna" {
		t.Errorf("another GET: got %v, %v; want it forwarded", ns, err)
	}
	if !slices.Equal(p.Answered(), []string{"GET /api/v1/namespaces/broken"}) {
		t.Errorf("answered %v", p.Answered())
	}
	if !slices.Equal(auth, []string{"Bearer upstream-token"}) {
		t.Errorf("upstream saw %v, want one request with the upstream's credentials", auth)
	}
}
