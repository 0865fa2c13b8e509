package controlplane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// IstioNamespace is where istioctl's ambient profile installs Istio.
const IstioNamespace = "istio-system"

// Istiod is the running istiod's loopback addresses.
type Istiod struct {
	// XDS is host:port of the plaintext xDS (ADS) server, --grpcAddr.
	XDS string `json:"xds"`
	// Debug is host:port of the HTTP server with /ready and /debug, --httpAddr.
	Debug string `json:"debug"`
}

// fieldManager is the server-side apply manager of everything the local
// control plane installs itself.
const fieldManager = "opea-local-control-plane"

// RenderAmbientProfile is what `istioctl manifest generate --set
// profile=ambient` renders: istiod, istio-cni and ztunnel with the ambient
// settings, offline from the charts compiled into istioctl. extra are more
// --set values.
func RenderAmbientProfile(ctx context.Context, istioctl string, extra ...string) ([]*unstructured.Unstructured, error) {
	args := []string{"manifest", "generate", "--set", "profile=ambient"}
	for _, e := range extra {
		args = append(args, "--set", e)
	}
	return Render(ctx, istioctl, args...)
}

// Render runs a renderer (istioctl, render-chart) and decodes the manifests
// it prints.
func Render(ctx context.Context, bin string, args ...string) ([]*unstructured.Unstructured, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w: %s", filepath.Base(bin), strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return DecodeManifests(out)
}

// DecodeManifests splits a YAML stream into objects, skipping empty documents.
func DecodeManifests(data []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 64*1024)
	var out []*unstructured.Unstructured
	for {
		var obj map[string]interface{}
		if err := dec.Decode(&obj); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, err
		}
		if len(obj) > 0 {
			out = append(out, &unstructured.Unstructured{Object: obj})
		}
	}
}

// WithoutCRDsAndWebhooks drops what the local control plane cannot or need
// not take from a rendered install: CRDs (installed from the API modules
// already) and admission webhooks (no webhook server is reachable from the
// API server here, and a failing webhook would refuse every write).
func WithoutCRDsAndWebhooks(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		switch o.GetKind() {
		case "CustomResourceDefinition", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration":
			continue
		}
		out = append(out, o)
	}
	return out
}

// ApplyManifests server-side applies objs, namespaces first, creating the
// namespace of any namespaced object that has none yet (helm's
// --create-namespace, which rendered manifests leave to the installer).
func ApplyManifests(ctx context.Context, cfg *rest.Config, objs []*unstructured.Unstructured) error {
	// Deprecation warnings about Istio's own manifests are not ours to fix.
	cfg = rest.CopyConfig(cfg)
	cfg.WarningHandler = rest.NoWarnings{}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	disco, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disco))
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ordered := append([]*unstructured.Unstructured(nil), objs...)
	sort.SliceStable(ordered, func(i, j int) bool {
		return ordered[i].GetKind() == "Namespace" && ordered[j].GetKind() != "Namespace"
	})
	created := map[string]bool{}
	for _, o := range ordered {
		gvk := o.GroupVersionKind()
		mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return fmt.Errorf("%s %s: %w", gvk.Kind, o.GetName(), err)
		}
		var client dynamic.ResourceInterface = dyn.Resource(mapping.Resource)
		if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
			ns := o.GetNamespace()
			if ns == "" {
				return fmt.Errorf("%s %s has no namespace", gvk.Kind, o.GetName())
			}
			if !created[ns] {
				_, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
				if err != nil && !apierrors.IsAlreadyExists(err) {
					return err
				}
				created[ns] = true
			}
			client = dyn.Resource(mapping.Resource).Namespace(ns)
		}
		if _, err := client.Apply(ctx, o.GetName(), o, metav1.ApplyOptions{FieldManager: fieldManager, Force: true}); err != nil {
			return fmt.Errorf("applying %s %s/%s: %w", gvk.Kind, o.GetNamespace(), o.GetName(), err)
		}
	}
	return nil
}

// installIstio applies the ambient profile istioctl renders and starts
// istiod as a process with the arguments and environment of the istiod
// Deployment in it. It returns once istiod reports ready.
func (cp *ControlPlane) installIstio(ctx context.Context, bins Binaries, detached bool, roots []byte) error {
	objs, err := RenderAmbientProfile(ctx, bins.Istioctl)
	if err != nil {
		return err
	}
	objs = WithoutCRDsAndWebhooks(objs)
	if err := ApplyManifests(ctx, cp.AdminConfig(), objs); err != nil {
		return err
	}
	var istiod *appsv1.Deployment
	for _, o := range objs {
		if o.GetKind() == "Deployment" && o.GetName() == "istiod" {
			istiod = &appsv1.Deployment{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, istiod); err != nil {
				return fmt.Errorf("reading the rendered istiod Deployment: %w", err)
			}
		}
	}
	if istiod == nil {
		return errors.New("istioctl rendered no istiod Deployment")
	}
	return cp.startIstiod(ctx, bins.Istiod, istiod, detached, roots)
}

// startIstiod runs pilot-discovery as the rendered Deployment's container
// would: its arguments and environment, its ServiceAccount's rights (a token
// for istio-system/istiod, so the chart's RBAC is what istiod may do), but
// every listener on a free loopback port.
func (cp *ControlPlane) startIstiod(ctx context.Context, bin string, d *appsv1.Deployment, detached bool, roots []byte) error {
	if len(d.Spec.Template.Spec.Containers) == 0 {
		return errors.New("the rendered istiod Deployment has no container")
	}
	c := d.Spec.Template.Spec.Containers[0]
	sa := d.Spec.Template.Spec.ServiceAccountName
	kubeconfig := filepath.Join(cp.dir, "istiod.kubeconfig")
	if err := cp.writeServiceAccountKubeconfig(ctx, d.Namespace, sa, kubeconfig); err != nil {
		return err
	}
	env, err := istiodEnv(c.Env, d)
	if err != nil {
		return err
	}
	if len(roots) > 0 {
		dir, err := writeRoots(cp.dir, roots)
		if err != nil {
			return err
		}
		env = append(env, "SSL_CERT_DIR="+dir+":/etc/ssl/certs")
	}
	// istiod binds the five ports freePorts picked for it; another program
	// can take one in between (the tests start several control planes at
	// once), and istiod then exits. Fresh ports are tried then.
	for attempt := 1; ; attempt++ {
		err := cp.runIstiod(ctx, bin, c.Args, kubeconfig, env, detached)
		var exited *exitedError
		if err == nil || !errors.As(err, &exited) || attempt == istiodAttempts {
			return err
		}
	}
}

// istiodAttempts is how many times startIstiod starts istiod when it exits
// before it is ready.
const istiodAttempts = 3

// exitedError says a process ended before it was ready, with the end of
// its log.
type exitedError struct {
	name, logTail string
}

func (e *exitedError) Error() string {
	return fmt.Sprintf("%s exited before it was ready; the end of its log:\n%s", e.name, e.logTail)
}

// runIstiod starts istiod once, with the rendered arguments but the
// listener addresses, on free loopback ports, and waits for it to report
// ready. An istiod that exits first is an *exitedError, and is no longer
// one of the control plane's processes.
func (cp *ControlPlane) runIstiod(ctx context.Context, bin string, rendered []string, kubeconfig string, env []string, detached bool) error {
	ports, err := freePorts(5)
	if err != nil {
		return err
	}
	addr := func(i int) string { return "127.0.0.1:" + strconv.Itoa(ports[i]) }
	cp.Istio = &Istiod{XDS: addr(1), Debug: addr(0)}

	// The rendered arguments, less the listener addresses set here.
	args := []string{}
	for _, a := range rendered {
		if strings.HasPrefix(a, "--monitoringAddr") || strings.HasPrefix(a, "--grpcAddr") || strings.HasPrefix(a, "--httpAddr") {
			continue
		}
		args = append(args, a)
	}
	args = append(args,
		"--kubeconfig="+kubeconfig,
		"--httpAddr="+addr(0),
		"--grpcAddr="+addr(1),
		"--secureGRPCAddr="+addr(2),
		"--monitoringAddr="+addr(3),
		"--httpsAddr="+addr(4),
		// ControlZ's introspection page: any free port, not its fixed 9876.
		"--ctrlz_port=0",
	)
	p, err := cp.startWithEnv(bin, "istiod", args, env, detached)
	if err != nil {
		return err
	}
	err = waitHTTPWhile(ctx, &http.Client{Timeout: time.Second}, "http://"+cp.Istio.Debug+"/ready", "istiod", p)
	if errors.Is(err, errExited) {
		cp.procs = slices.DeleteFunc(cp.procs, func(q *process) bool { return q == p })
		return &exitedError{name: "istiod", logTail: logTail(filepath.Join(cp.dir, "istiod.log"), 20)}
	}
	return err
}

// logTail is the last n lines of the log at path ("" when unreadable).
func logTail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// writeRoots writes roots into a folder of their own under dir, as Go's
// crypto/x509 reads a folder SSL_CERT_DIR names, and returns it.
func writeRoots(dir string, roots []byte) (string, error) {
	folder := filepath.Join(dir, "istiod-roots")
	if err := os.MkdirAll(folder, 0o755); err != nil {
		return "", err
	}
	return folder, os.WriteFile(filepath.Join(folder, "roots.pem"), roots, 0o644)
}

// istiodEnv turns the container's environment into a process environment:
// plain values as they are, the downward API fields a kubelet would fill in
// from the pod, and nothing that only exists inside a pod.
func istiodEnv(vars []corev1.EnvVar, d *appsv1.Deployment) ([]string, error) {
	fields := map[string]string{
		"metadata.name":           d.Name + "-local",
		"metadata.namespace":      d.Namespace,
		"spec.serviceAccountName": d.Spec.Template.Spec.ServiceAccountName,
		"status.podIP":            "127.0.0.1",
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for _, v := range vars {
		switch {
		case v.Name == "KUBECONFIG":
			// A remote cluster's kubeconfig, mounted from an optional
			// Secret; --kubeconfig names the local one.
		case v.ValueFrom == nil:
			env = append(env, v.Name+"="+v.Value)
		case v.ValueFrom.FieldRef != nil:
			value, ok := fields[v.ValueFrom.FieldRef.FieldPath]
			if !ok {
				return nil, fmt.Errorf("istiod env %s: field %s is not known here", v.Name, v.ValueFrom.FieldRef.FieldPath)
			}
			env = append(env, v.Name+"="+value)
		}
		// resourceFieldRef (GOMAXPROCS, GOMEMLIMIT from the pod's limits)
		// describes a pod's cgroup: a process here has none.
	}
	return env, nil
}

// writeServiceAccountKubeconfig writes a kubeconfig that authenticates as
// ServiceAccount ns/name with a token from the TokenRequest API, as the
// kubelet would mount it into the pod.
func (cp *ControlPlane) writeServiceAccountKubeconfig(ctx context.Context, ns, name, path string) error {
	kube, err := kubernetes.NewForConfig(cp.AdminConfig())
	if err != nil {
		return err
	}
	expiry := int64(48 * time.Hour / time.Second)
	tr, err := kube.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry},
	}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("requesting a token for ServiceAccount %s/%s: %w", ns, name, err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["opea-local"] = &clientcmdapi.Cluster{Server: cp.Host, CertificateAuthorityData: cp.CAData}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	cfg.Contexts["opea-local"] = &clientcmdapi.Context{Cluster: "opea-local", AuthInfo: name, Namespace: ns}
	cfg.CurrentContext = "opea-local"
	return clientcmd.WriteToFile(*cfg, path)
}
