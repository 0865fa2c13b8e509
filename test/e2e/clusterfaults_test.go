package e2e

import (
	"bytes"
	"crypto/x509"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/opea-project/kubectl-opea/pkg/desired"
	"github.com/opea-project/kubectl-opea/pkg/ownership"
	"github.com/opea-project/kubectl-opea/test/controlplane"
	"github.com/opea-project/kubectl-opea/test/faultproxy"
)

// viaHTTPProxy starts an HTTP fault proxy in front of the API server,
// breaking requests as rules say, and writes an admin kubeconfig that goes
// through it.
func viaHTTPProxy(t *testing.T, rules ...*faultproxy.Rule) (*faultproxy.HTTPProxy, string) {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(cluster.CAData)
	p, err := faultproxy.StartHTTP(cluster.Host, roots, rules...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := cluster.WriteKubeconfig(path, controlplane.AdminUser); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cfg.Clusters {
		c.Server, c.CertificateAuthorityData = p.URL(), p.CAData()
	}
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return p, path
}

// isWrite matches a server-side apply that is not a dry run: secure's
// writes, in the order of its objects.
func isWrite(r *http.Request) bool {
	return r.Method == http.MethodPatch && !r.URL.Query().Has("dryRun")
}

// isDelete matches a delete that is not a dry run: unsecure's deletions.
func isDelete(r *http.Request) bool {
	return r.Method == http.MethodDelete && !r.URL.Query().Has("dryRun")
}

// plannedObjects are the names of what secure would apply to ns, in order.
func plannedObjects(t *testing.T, ns string) []string {
	t.Helper()
	r := opea(t, "secure", "-n", ns, "--host", ns+".example.com", "--dry-run=client", "-o", "name")
	if r.code != 0 {
		t.Fatalf("secure --dry-run=client: %s", r.stderr)
	}
	return strings.Fields(r.stdout)
}

// appliedLines are the lines secure prints for objs applied.
func appliedLines(objs ...string) string {
	var b strings.Builder
	for _, o := range objs {
		b.WriteString(o + " " + secureSucceeds + "\n")
	}
	return b.String()
}

// ourObjectNames lists the objects labelled as secure's for ns, as
// "resource/name", sorted.
func ourObjectNames(t *testing.T, ns string) []string {
	t.Helper()
	var out []string
	for key := range ourObjects(t, ns) {
		resource, name, _ := strings.Cut(key, " ")
		out = append(out, resource+"/"+name[strings.Index(name, "/")+1:])
	}
	sort.Strings(out)
	return out
}

var namespaceGVR = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}

// namespaceEnrolled reports whether ns carries the ambient label.
func namespaceEnrolled(t *testing.T, ns string) bool {
	t.Helper()
	return getObject(t, namespaceGVR, "", ns).GetLabels()[desired.DataplaneModeLabel] == "ambient"
}

// A stalled API server does not hold secure past --timeout: the error names
// the request that stalled and what was applied before it, exit 3; the
// cluster holds exactly what it listed.
func TestSecureStalledRequestEndsAtTimeout(t *testing.T) {
	ns := newChatQnA(t, "chatqna")
	planned := plannedObjects(t, ns)
	// The third write never reaches the server.
	_, kubeconfig := viaHTTPProxy(t, &faultproxy.Rule{Match: isWrite, Skip: 2, Hold: true})

	r := runPlugin(pluginBinary(t), "--kubeconfig", kubeconfig, "--cache-dir", t.TempDir(), "secure", "-n", ns, "--host", ns+".example.com", "--timeout", "10s")
	names := ownership.NamesFor(ns)
	stalled := `request: PATCH issuers.cert-manager.io "` + names.SelfSignedIssuer + `" in namespace ` + gatewayNamespace + " stalled"
	if r.code != 3 || r.stdout != appliedLines(planned[:2]...) ||
		!strings.HasPrefix(r.stderr, "error: the API server did not answer within --timeout 10s; 2 of 8 objects applied (listed above)\n") ||
		!strings.Contains(r.stderr, "\n  "+stalled+"\n") || !strings.Contains(r.stderr, "\n  fix: ") {
		t.Errorf("want exit 3, the two applied objects and the stalled request (%s):\n%s", stalled, r)
	}
	if got := ourObjectNames(t, ns); len(got) != 1 || got[0] != "peerauthentications/default" || !namespaceEnrolled(t, ns) {
		t.Errorf("the cluster holds %v (namespace enrolled: %v), want what secure listed", got, namespaceEnrolled(t, ns))
	}
}

// verify, which has no --wait here, is bounded by --timeout too.
func TestVerifyStalledRequestEndsAtTimeout(t *testing.T) {
	ns := newChatQnA(t, "chatqna")
	_, kubeconfig := viaHTTPProxy(t, &faultproxy.Rule{
		Match: func(r *http.Request) bool {
			return r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/peerauthentications")
		},
		Hold: true,
	})
	r := runPlugin(pluginBinary(t), "--kubeconfig", kubeconfig, "--cache-dir", t.TempDir(), "verify", "-n", ns, "--timeout", "5s")
	if r.code != 3 || !strings.HasPrefix(r.stderr, "error: the API server did not answer within --timeout 5s\n") ||
		!strings.Contains(r.stderr, "\n  request: GET peerauthentications.security.istio.io") || !strings.Contains(r.stderr, " stalled\n") {
		t.Errorf("want exit 3 naming the stalled list of PeerAuthentications:\n%s", r)
	}
}

// An API server answering 500 to one read gets an error that names the
// read and says what to do, exit 3, with nothing written.
func TestSecureNamesTheReadTheServerFailed(t *testing.T) {
	ns := newChatQnA(t, "chatqna")
	_, kubeconfig := viaHTTPProxy(t, &faultproxy.Rule{
		Match: func(r *http.Request) bool {
			return r.Method == http.MethodGet && r.URL.Path == "/api/v1/namespaces/"+ns
		},
		Status: http.StatusInternalServerError, Message: "injected 500",
	})
	r := runPlugin(pluginBinary(t), "--kubeconfig", kubeconfig, "--cache-dir", t.TempDir(), "secure", "-n", ns, "--host", ns+".example.com")
	if r.code != 3 || !strings.Contains(r.stderr, "injected 500") ||
		!strings.Contains(r.stderr, "\n  request: GET namespaces \""+ns+"\" answered 500 Internal Server Error\n") ||
		!strings.Contains(r.stderr, "\n  fix: check the API server's health") {
		t.Errorf("want exit 3 naming the failed read:\n%s", r)
	}
	if got := ourObjectNames(t, ns); len(got) != 0 || namespaceEnrolled(t, ns) {
		t.Errorf("secure wrote %v although a read failed", got)
	}
}

// watchedOutput is a writer that keeps what was written and tells when a
// text has appeared.
type watchedOutput struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	seen map[string]chan struct{}
}

func (w *watchedOutput) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.buf.Write(p)
	for text, ch := range w.seen {
		if strings.Contains(w.buf.String(), text) {
			close(ch)
			delete(w.seen, text)
		}
	}
	return n, err
}

// appeared is closed once text has been written.
func (w *watchedOutput) appeared(text string) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	ch := make(chan struct{})
	if strings.Contains(w.buf.String(), text) {
		close(ch)
		return ch
	}
	if w.seen == nil {
		w.seen = map[string]chan struct{}{}
	}
	w.seen[text] = ch
	return ch
}

func (w *watchedOutput) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// interruptDuring runs the plugin binary with args through p, sends it
// SIGINT once p holds a request, lets that request go on once the plugin
// has acknowledged the interrupt, and returns the run.
func interruptDuring(t *testing.T, p *faultproxy.HTTPProxy, args ...string) pluginRun {
	t.Helper()
	cmd := exec.Command(pluginBinary(t), args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG=/nonexistent")
	var stdout bytes.Buffer
	stderr := &watchedOutput{}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	result := func(err error) pluginRun {
		r := pluginRun{stdout: stdout.String(), stderr: stderr.String()}
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			r.code = exitErr.ExitCode()
		}
		return r
	}
	select {
	case <-p.Held():
	case err := <-exited:
		t.Fatalf("the run ended before the request to interrupt: %s", result(err))
	case <-time.After(pluginRunLimit):
		_ = cmd.Process.Kill()
		t.Fatalf("the run never made the request to interrupt: %s", result(<-exited))
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case <-stderr.appeared("Interrupted: stopping after the request in flight"):
	case <-time.After(pluginRunLimit):
		_ = cmd.Process.Kill()
		t.Fatalf("no acknowledgement of the interrupt: %s", result(<-exited))
	}
	p.Release()
	select {
	case err := <-exited:
		return result(err)
	case <-time.After(pluginRunLimit):
		_ = cmd.Process.Kill()
		t.Fatalf("the run did not stop after the interrupt: %s", result(<-exited))
	}
	return pluginRun{}
}
