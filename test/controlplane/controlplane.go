// Package controlplane runs a real Kubernetes control plane on loopback for
// tests and demos: etcd, kube-apiserver, kube-controller-manager and
// kube-scheduler, built from Go modules (see test/tools), with the Istio,
// Gateway API and cert-manager CRDs installed. One node is managed by kwok,
// which runs its pods as a kubelet reports them (Running, Ready, with an
// address) without running containers, and serves the node's kubelet API so
// that port-forwards through the API server reach what ForwardPodPorts
// names. cert-manager's own controllers issue and renew certificates.
package controlplane

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Controllers run by kube-controller-manager. Namespaces delete, ServiceAccounts
// and their tokens appear, garbage collection cascades, Deployments make
// ReplicaSets and Pods and DaemonSets a pod on the node, and Services get
// EndpointSlices of their ready pods. The node lifecycle controller lifts
// the not-ready taint the API server puts on a new node once kwok reports it
// Ready, and would mark it NotReady if kwok stopped renewing its Lease.
var Controllers = []string{
	"namespace-controller",
	"serviceaccount-controller",
	"serviceaccount-token-controller",
	"garbage-collector-controller",
	"root-ca-certificate-publisher-controller",
	"deployment-controller",
	"replicaset-controller",
	"daemonset-controller",
	"endpointslice-controller",
	"node-lifecycle-controller",
}

// User is an extra identity the API server accepts by bearer token. Its
// rights come only from RBAC objects a test creates (plus what every
// authenticated user has).
type User struct {
	Name   string
	Groups []string
}

// Options configure Start.
type Options struct {
	// Dir holds keys, logs, etcd data and the state file. Empty: a new
	// temporary folder, removed by Stop.
	Dir string
	// Detached processes outlive this program (make cluster-up); otherwise
	// they die with it.
	Detached bool
	// Users that UserConfig can hand out.
	Users []User
	// SkipCRDs leaves the Istio, Gateway API and cert-manager CRDs out, for
	// tests of what happens on a cluster without them (see InstallCRDs), and
	// with them cert-manager's controllers. Otherwise cert-manager's
	// controllers run (test/certmanagertools): Certificates of a
	// self-signed or CA Issuer are issued and renewed.
	SkipCRDs bool
	// Istio installs what `istioctl manifest generate --set profile=ambient`
	// renders (less CRDs and webhooks) and runs istiod against the API
	// server. The pods of Istio's data plane (ztunnel, istio-cni, gateways)
	// run on kwok's node, without their containers.
	Istio bool
	// APIServerOnly runs etcd and kube-apiserver only, with the CRDs unless
	// SkipCRDs: no controller, scheduler, node, cert-manager or istiod. A
	// cheap second cluster, for tests that write every object (and its
	// status) themselves, such as the objects of another cluster.
	APIServerOnly bool
	// IstiodRoots are PEM CA certificates istiod trusts besides the
	// system's when it fetches a JWKS over https (a test IdP's): written
	// to a folder that SSL_CERT_DIR names in istiod's environment, next
	// to the system's /etc/ssl/certs.
	IstiodRoots []byte
	// Unthrottled lifts the client rate limits of kube-controller-manager
	// and kube-scheduler and gives kwok more stage workers, as kwokctl's
	// --disable-qps-limits does for its benchmarks: with the defaults a
	// cluster takes in about a thousand pods a minute, and 100,000 pods
	// (make bench-large) over an hour. Tests keep the defaults.
	Unthrottled bool
	// Progress receives one line per step; nil discards.
	Progress io.Writer
}

// ControlPlane is a running control plane.
type ControlPlane struct {
	// Host is the API server URL, https://127.0.0.1:<port>.
	Host string
	// CAData is the PEM CA bundle that verifies the API server.
	CAData []byte
	// Istio is the running istiod, nil unless Options.Istio.
	Istio *Istiod

	dir       string
	removeDir bool
	tokens    map[string]string // user name -> bearer token
	procs     []*process
}

// AdminUser is the name of the cluster administrator (group system:masters).
const AdminUser = "admin"

// Start runs etcd, kube-apiserver, kube-controller-manager, kube-scheduler
// and kwok on free loopback ports, registers kwok's node, installs the CRDs,
// runs cert-manager's controllers and returns once they all work. On any
// error everything started so far is stopped again.
func Start(ctx context.Context, opts Options) (_ *ControlPlane, err error) {
	progress := opts.Progress
	if progress == nil {
		progress = io.Discard
	}
	bins, err := EnsureBinaries(ctx, progress)
	if err != nil {
		return nil, err
	}
	startedAt := time.Now()
	cp := &ControlPlane{dir: opts.Dir, tokens: map[string]string{}}
	if cp.dir == "" {
		if cp.dir, err = os.MkdirTemp("", "opea-control-plane-"); err != nil {
			return nil, err
		}
		cp.removeDir = true
	} else if err := os.MkdirAll(cp.dir, 0o755); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			if stopErr := cp.stopProcesses(); stopErr != nil {
				err = errors.Join(err, stopErr)
			}
			// A temporary folder goes away: keep what its logs said.
			if cp.removeDir {
				err = fmt.Errorf("%w%s", err, logTails(cp.dir))
				os.RemoveAll(cp.dir)
			} else {
				err = fmt.Errorf("%w (logs in %s)", err, cp.dir)
			}
		}
	}()

	pki, err := newPKI(cp.dir)
	if err != nil {
		return nil, err
	}
	cp.CAData = pki.caCertPEM
	tokenFile, err := cp.writeTokens(opts.Users)
	if err != nil {
		return nil, err
	}
	// etcd's client and peer ports, the API server's, kwok's kubelet API.
	ports, err := freePorts(4)
	if err != nil {
		return nil, err
	}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	cp.Host = "https://127.0.0.1:" + strconv.Itoa(ports[2])

	step := func(what string, start time.Time) {
		fmt.Fprintf(progress, "%s in %s\n", what, time.Since(start).Round(10*time.Millisecond))
	}

	t := time.Now()
	if err := cp.start(bins.Etcd, "etcd", []string{
		"--data-dir=" + filepath.Join(cp.dir, "etcd-data"),
		"--listen-client-urls=" + etcdURL,
		"--advertise-client-urls=" + etcdURL,
		"--listen-peer-urls=http://127.0.0.1:" + strconv.Itoa(ports[1]),
		"--initial-advertise-peer-urls=http://127.0.0.1:" + strconv.Itoa(ports[1]),
		"--initial-cluster=default=http://127.0.0.1:" + strconv.Itoa(ports[1]),
		"--unsafe-no-fsync",
	}, opts.Detached); err != nil {
		return nil, err
	}
	if err := waitHTTP(ctx, &http.Client{Timeout: time.Second}, etcdURL+"/health", "etcd"); err != nil {
		return nil, err
	}
	step("etcd ready", t)

	t = time.Now()
	if err := cp.start(bins.KubeAPIServer, "kube-apiserver", []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(ports[2]),
		// The default reconciler refuses a loopback advertise address.
		"--endpoint-reconciler-type=none",
		"--tls-cert-file=" + pki.servingCert,
		"--tls-private-key-file=" + pki.servingKey,
		"--client-ca-file=" + pki.caCert,
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + pki.serviceAcctPub,
		"--service-account-signing-key-file=" + pki.serviceAcctKey,
		"--service-cluster-ip-range=10.0.0.0/16",
		"--authorization-mode=RBAC",
		"--token-auth-file=" + tokenFile,
		"--cert-dir=" + filepath.Join(cp.dir, "apiserver-certs"),
		// kwok serves the node's kubelet API on loopback, named by the
		// node's InternalDNS address (createNode).
		"--kubelet-preferred-address-types=InternalDNS",
	}, opts.Detached); err != nil {
		return nil, err
	}
	admin := cp.AdminConfig()
	httpClient, err := rest.HTTPClientFor(admin)
	if err != nil {
		return nil, err
	}
	httpClient.Timeout = 2 * time.Second
	if err := waitHTTP(ctx, httpClient, cp.Host+"/readyz", "kube-apiserver"); err != nil {
		return nil, err
	}
	step("kube-apiserver ready", t)

	if opts.APIServerOnly {
		if opts.Istio {
			return nil, errors.New("options Istio and APIServerOnly exclude each other: istiod needs the controllers")
		}
		if err := cp.saveState(); err != nil {
			return nil, err
		}
		if !opts.SkipCRDs {
			t = time.Now()
			if err := loadAndInstallCRDs(ctx, admin); err != nil {
				return nil, err
			}
			step("CRDs served", t)
		}
		step("API server ready", startedAt)
		return cp, nil
	}

	t = time.Now()
	kubeconfig := filepath.Join(cp.dir, "admin.kubeconfig")
	if err := cp.WriteKubeconfig(kubeconfig, AdminUser); err != nil {
		return nil, err
	}
	if err := cp.start(bins.KubeControllerManager, "kube-controller-manager", append([]string{
		"--kubeconfig=" + kubeconfig,
		"--leader-elect=false",
		"--service-account-private-key-file=" + pki.serviceAcctKey,
		"--root-ca-file=" + pki.caCert,
		"--controllers=" + strings.Join(Controllers, ","),
		"--secure-port=0",
	}, unthrottled(opts)...), opts.Detached); err != nil {
		return nil, err
	}
	if err := cp.start(bins.KubeScheduler, "kube-scheduler", append([]string{
		"--kubeconfig=" + kubeconfig,
		"--leader-elect=false",
		"--secure-port=0",
	}, unthrottled(opts)...), opts.Detached); err != nil {
		return nil, err
	}
	kwokConfig, err := writeKwokConfig(ctx, cp.dir, opts.Unthrottled)
	if err != nil {
		return nil, err
	}
	kwokCRDs, err := loadKwokCRDs(ctx)
	if err != nil {
		return nil, err
	}
	if err := InstallCRDs(ctx, admin, kwokCRDs); err != nil {
		return nil, err
	}
	if err := cp.start(bins.Kwok, "kwok", kwokArgs(kubeconfig, kwokConfig, ports[3]), opts.Detached); err != nil {
		return nil, err
	}
	if err := cp.saveState(); err != nil {
		return nil, err
	}

	if opts.Istio && opts.SkipCRDs {
		return nil, errors.New("options Istio and SkipCRDs exclude each other: Istio needs its CRDs")
	}
	if !opts.SkipCRDs {
		crds, err := LoadCRDs(ctx)
		if err != nil {
			return nil, err
		}
		if err := InstallCRDs(ctx, admin, crds); err != nil {
			return nil, err
		}
		step(fmt.Sprintf("%d CRDs served", len(crds)), t)
	}

	t = time.Now()
	if err := waitDefaultServiceAccount(ctx, admin); err != nil {
		return nil, err
	}
	step("kube-controller-manager ready", t)

	t = time.Now()
	kube, err := kubernetes.NewForConfig(admin)
	if err != nil {
		return nil, err
	}
	if err := createNode(ctx, kube); err != nil {
		return nil, fmt.Errorf("registering node %s: %w", NodeName, err)
	}
	if err := waitNodeSchedulable(ctx, admin); err != nil {
		return nil, err
	}
	step("node "+NodeName+" Ready (kwok)", t)

	// Before anything runs pods concurrently (Istio's DaemonSets, a test's
	// Deployment): see makeAddressPool.
	t = time.Now()
	if err := makeAddressPool(ctx, kube); err != nil {
		return nil, fmt.Errorf("making kwok's address pool: %w", err)
	}
	step("kwok's address pool made", t)

	if !opts.SkipCRDs {
		t = time.Now()
		if err := cp.startCertManager(ctx, bins.CertManagerControllers, kubeconfig, opts.Detached); err != nil {
			return nil, err
		}
		if err := cp.saveState(); err != nil {
			return nil, err
		}
		step("cert-manager's controllers ready", t)
	}

	if opts.Istio {
		t = time.Now()
		if err := cp.installIstio(ctx, bins, opts.Detached, opts.IstiodRoots); err != nil {
			return nil, err
		}
		if err := cp.saveState(); err != nil {
			return nil, err
		}
		step("istiod ready (xDS on "+cp.Istio.XDS+")", t)
	}
	step("control plane ready", startedAt)
	return cp, nil
}

func (cp *ControlPlane) start(bin, name string, args []string, detached bool) error {
	_, err := cp.startWithEnv(bin, name, args, nil, detached)
	return err
}

// startWithEnv starts a program with env as its whole environment (nil: this
// process's), one of the control plane's processes from then on.
func (cp *ControlPlane) startWithEnv(bin, name string, args, env []string, detached bool) (*process, error) {
	p, err := startProcess(cp.dir, name, bin, args, env, detached)
	if err != nil {
		return nil, err
	}
	cp.procs = append(cp.procs, p)
	return p, nil
}

func (cp *ControlPlane) writeTokens(users []User) (string, error) {
	var lines []string
	all := append([]User{{Name: AdminUser, Groups: []string{"system:masters"}}}, users...)
	for i, u := range all {
		if _, dup := cp.tokens[u.Name]; dup {
			return "", fmt.Errorf("user %q listed twice", u.Name)
		}
		token, err := randomToken()
		if err != nil {
			return "", err
		}
		cp.tokens[u.Name] = token
		// token,user,uid,"group1,group2"
		lines = append(lines, fmt.Sprintf("%s,%s,uid-%d,%q", token, u.Name, i, strings.Join(u.Groups, ",")))
	}
	path := filepath.Join(cp.dir, "tokens.csv")
	return path, os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
}

// AdminConfig returns a REST config for a cluster administrator.
func (cp *ControlPlane) AdminConfig() *rest.Config {
	cfg, _ := cp.UserConfig(AdminUser)
	return cfg
}

// UserConfig returns a REST config that authenticates as the named user,
// which must have been listed in Options.Users.
func (cp *ControlPlane) UserConfig(name string) (*rest.Config, error) {
	token, ok := cp.tokens[name]
	if !ok {
		return nil, fmt.Errorf("unknown user %q: list it in Options.Users", name)
	}
	return &rest.Config{
		Host:            cp.Host,
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAData: cp.CAData},
		QPS:             100,
		Burst:           200,
	}, nil
}

// Dir is the folder of keys, logs and etcd data.
func (cp *ControlPlane) Dir() string { return cp.dir }

// WriteKubeconfig writes a kubeconfig for the named user whose one context,
// "opea-local", is current.
func (cp *ControlPlane) WriteKubeconfig(path, user string) error {
	token, ok := cp.tokens[user]
	if !ok {
		return fmt.Errorf("unknown user %q", user)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["opea-local"] = &clientcmdapi.Cluster{Server: cp.Host, CertificateAuthorityData: cp.CAData}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["opea-local"] = &clientcmdapi.Context{Cluster: "opea-local", AuthInfo: user, Namespace: "default"}
	cfg.CurrentContext = "opea-local"
	return clientcmd.WriteToFile(*cfg, path)
}

// Stop ends the processes in the reverse order of their start, etcd last,
// and removes the temporary folder if Start made it.
func (cp *ControlPlane) Stop() error {
	err := cp.stopProcesses()
	if cp.removeDir {
		err = errors.Join(err, os.RemoveAll(cp.dir))
	}
	return err
}

func (cp *ControlPlane) stopProcesses() error {
	var errs []error
	for i := len(cp.procs) - 1; i >= 0; i-- {
		errs = append(errs, cp.procs[i].stop(10*time.Second))
	}
	return errors.Join(errs...)
}

// state is what a detached control plane leaves on disk for Attach.
type state struct {
	Host      string            `json:"host"`
	Istio     *Istiod           `json:"istio,omitempty"`
	CAData    []byte            `json:"caData"`
	Tokens    map[string]string `json:"tokens"`
	Processes []*process        `json:"processes"`
}

const stateFile = "state.json"

func (cp *ControlPlane) saveState() error {
	data, err := json.MarshalIndent(state{Host: cp.Host, Istio: cp.Istio, CAData: cp.CAData, Tokens: cp.tokens, Processes: cp.procs}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(cp.dir, stateFile), data, 0o600)
}

// Attach finds the control plane a detached Start left in dir. It returns an
// error wrapping os.ErrNotExist when there is none.
func Attach(dir string) (*ControlPlane, error) {
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, err
	}
	var s state
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("reading %s: %w", filepath.Join(dir, stateFile), err)
	}
	return &ControlPlane{Host: s.Host, Istio: s.Istio, CAData: s.CAData, tokens: s.Tokens, procs: s.Processes, dir: dir}, nil
}

// loadAndInstallCRDs installs the Istio, Gateway API and cert-manager CRDs
// and waits for them to be served.
func loadAndInstallCRDs(ctx context.Context, admin *rest.Config) error {
	crds, err := LoadCRDs(ctx)
	if err != nil {
		return err
	}
	return InstallCRDs(ctx, admin, crds)
}

// Running reports whether any of the control plane's processes is alive.
func (cp *ControlPlane) Running() bool {
	for _, p := range cp.procs {
		if !p.exited() {
			return true
		}
	}
	return false
}

// logTails returns the last lines of each process log in dir.
func logTails(dir string) string {
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	var b strings.Builder
	for _, l := range logs {
		data, err := os.ReadFile(l)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		if len(lines) > 10 {
			lines = lines[len(lines)-10:]
		}
		fmt.Fprintf(&b, "\n--- last lines of %s:\n%s", filepath.Base(l), strings.Join(lines, "\n"))
	}
	return b.String()
}

func freePorts(n int) ([]int, error) {
	var ports []int
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func waitHTTP(ctx context.Context, client *http.Client, url, what string) error {
	return waitHTTPWhile(ctx, client, url, what, nil)
}

// errExited is waitHTTPWhile's error when the process it watches ends.
var errExited = errors.New("the process exited")

// waitHTTPWhile waits, up to a minute, for url to answer 200; when p is
// not nil and ends first, it stops with errExited.
func waitHTTPWhile(ctx context.Context, client *http.Client, url, what string, p *process) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var last string
	err := poll(ctx, 100*time.Millisecond, func() (bool, error) {
		if p != nil && p.exited() {
			return false, errExited
		}
		resp, err := client.Get(url)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		last = fmt.Sprintf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
		return resp.StatusCode == http.StatusOK, nil
	}, what+" at "+url)
	if err != nil && !errors.Is(err, errExited) {
		return fmt.Errorf("%w (last answer: %s)", err, last)
	}
	return err
}

// waitDefaultServiceAccount waits for the ServiceAccount controller to create
// default/default: proof that the controller manager works. Without it no Pod
// can be created.
func waitDefaultServiceAccount(ctx context.Context, cfg *rest.Config) error {
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	return poll(ctx, 100*time.Millisecond, func() (bool, error) {
		_, err := kube.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	}, "the controller manager to create ServiceAccount default/default")
}
