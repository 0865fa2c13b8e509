package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/opea-project/kubectl-opea/pkg/desired"
	"github.com/opea-project/kubectl-opea/pkg/ownership"
	"github.com/opea-project/kubectl-opea/test/faultproxy"
	"github.com/opea-project/kubectl-opea/test/fixtures"
)

// The fault suite interrupts secure and unsecure at every request they
// make, through a TCP proxy between the plugin and the API server, then
// runs the command again without the fault and compares the two namespaces
// it touches, whole, with their state after an undisturbed run: whatever a
// broken run leaves behind, one more run must finish the job, and no object
// of the user's may be lost. Concurrent runs on one namespace, on two
// namespaces sharing the gateway, and secure racing unsecure, must end in
// the same states.

const (
	// authJWTObjects are what secure --auth jwt adds: a
	// RequestAuthentication and an AuthorizationPolicy.
	authJWTObjects = 2
	// faultWorkers run cases side by side, each on a namespace of its own:
	// a stalled case mostly waits for its request timeout.
	faultWorkers = 6
	// faultRequestTimeout ends the request a stall holds up.
	faultRequestTimeout = "2s"
	// faultHangLimit is how long a faulted run may take at most: the
	// request timeout, a retry or two, and process start.
	faultHangLimit = 15 * time.Second
)

// faultTally counts what the suite did, for the summary line.
type faultTally struct {
	mu sync.Mutex
	// planned faults; injected: those whose offset the run reached; by
	// command.
	planned, injected map[string]int
	// faulted runs that exited 0 all the same (client-go retried on a new
	// connection), and of those, the ones whose result was complete.
	exitZero, exitZeroComplete int
	// injected faults after which one plain rerun gave the expected state,
	// by command.
	converged map[string]int
	// objects of the state before secure missing after a case.
	lost int
	// Secrets holding a private key left for an unsecured application.
	orphanKeys int
	// faulted runs that panicked, hung past faultHangLimit, or failed
	// without a message.
	misbehaved int
	// the longest faulted run, and which.
	slowest      time.Duration
	slowestLabel string
	// concurrent runs, those that exited non-zero, and end states checked
	// and found consistent.
	concurrentRuns, concurrentFailed, endStates, endStatesOK int
}

func (c *faultTally) add(f func(c *faultTally)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f(c)
}

// faultEnv is what every case of the suite shares.
type faultEnv struct {
	bin    string
	dir    string
	dumper *stateDumper
	kube   kubernetes.Interface
	dyn    dynamic.Interface
	tally  *faultTally
}

// faultApp is an application namespace that a worker secures and unsecures
// again and again, seeded with objects of the user's.
type faultApp struct {
	env        *faultEnv
	ns, host   string
	others     []string // apps secured at the same time, whose gateway objects a dump skips
	cacheDir   string
	kubeconfig string // straight to the API server
	viaProxy   string // path of the kubeconfig through the case's proxy
	// pre is the state before secure, ref the state after an undisturbed
	// secure and cert-manager's issuance.
	pre, ref stateDump
}

func TestFault(t *testing.T) {
	started := time.Now()
	ensureIngressGateway(t)
	env := &faultEnv{bin: pluginBinary(t), dir: t.TempDir(), dumper: newStateDumper(t), kube: adminKube(t), dyn: adminDynamic(t),
		tally: &faultTally{planned: map[string]int{}, injected: map[string]int{}, converged: map[string]int{}}}
	seedGatewayUserObjects(t, env)

	t.Run("sweep", env.sweep)
	t.Run("concurrent", env.concurrent)

	c := env.tally
	sum := func(m map[string]int) int { return m["secure"] + m["unsecure"] }
	t.Logf("fault suite: %d faults injected (secure %d, unsecure %d; %d planned), %d converged after one plain rerun (secure %d, unsecure %d), %d objects lost, %d orphaned private keys, %d faulted runs exited 0 (%d complete), %d misbehaved (slowest faulted run %s); %d concurrent runs (%d failed), %d/%d end states consistent; %s",
		sum(c.injected), c.injected["secure"], c.injected["unsecure"], sum(c.planned),
		sum(c.converged), c.converged["secure"], c.converged["unsecure"],
		c.lost, c.orphanKeys, c.exitZero, c.exitZeroComplete, c.misbehaved, c.slowest.Round(100*time.Millisecond),
		c.concurrentRuns, c.concurrentFailed, c.endStatesOK, c.endStates, time.Since(started).Round(time.Second))
	t.Logf("slowest faulted run: %s", c.slowestLabel)
}

// seedGatewayUserObjects puts objects of the user's in the shared gateway
// namespace: an Issuer and a Certificate of their own and a TLS Secret.
func seedGatewayUserObjects(t *testing.T, env *faultEnv) {
	ctx := context.Background()
	suffix := fmt.Sprintf("%03d", namespaceCounter.Add(1))
	issuer := &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "cert-manager.io/v1", "kind": "Issuer",
		"metadata": map[string]interface{}{"name": "user-staging-" + suffix, "namespace": gatewayNamespace, "labels": map[string]interface{}{"team": "platform"}},
		"spec":     map[string]interface{}{"selfSigned": map[string]interface{}{}},
	}}
	cert := &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
		"metadata": map[string]interface{}{"name": "user-portal-" + suffix, "namespace": gatewayNamespace},
		"spec": map[string]interface{}{"secretName": "user-portal-" + suffix + "-tls", "dnsNames": []interface{}{"portal.example.com"},
			"issuerRef": map[string]interface{}{"name": "user-staging-" + suffix, "kind": "Issuer"}},
	}}
	// cert-manager does not own the Secret it issues into: it goes with
	// the test too, after the Certificate (cleanups run last first), so
	// that cert-manager does not issue it again.
	t.Cleanup(func() {
		_ = env.kube.CoreV1().Secrets(gatewayNamespace).Delete(context.Background(), "user-portal-"+suffix+"-tls", metav1.DeleteOptions{})
	})
	for _, obj := range []*unstructured.Unstructured{issuer, cert} {
		gvr := issuerGVR
		if obj.GetKind() == "Certificate" {
			gvr = certificateGVR
		}
		if _, err := env.dyn.Resource(gvr).Namespace(gatewayNamespace).Create(ctx, obj, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = env.dyn.Resource(gvr).Namespace(gatewayNamespace).Delete(context.Background(), obj.GetName(), metav1.DeleteOptions{})
		})
	}
	// The apps' "before" pictures include the Secret cert-manager issues
	// for the user's Certificate: it must be there before the first.
	if _, err := fixtures.WaitCertificateIssued(ctx, env.kube, env.dyn, gatewayNamespace, cert.GetName()); err != nil {
		t.Fatal(err)
	}
	_, certPEM, keyPEM, err := fixtures.IssueTLS([]string{"*.apps.example.com"}, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "user-wildcard-" + suffix + "-tls"}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{"tls.crt": certPEM, "tls.key": keyPEM}}
	if _, err := env.kube.CoreV1().Secrets(gatewayNamespace).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = env.kube.CoreV1().Secrets(gatewayNamespace).Delete(context.Background(), secret.Name, metav1.DeleteOptions{})
	})
}

// newFaultApp creates a ChatQnA namespace with objects of the user's in it:
// a label on the namespace, a Secret, a ConfigMap and a VirtualService of
// their own. Names have the same length for every app, so that runs on
// them exchange the same number of bytes.
func (env *faultEnv) newFaultApp(t *testing.T, kind string) *faultApp {
	t.Helper()
	ctx := context.Background()
	ns := fmt.Sprintf("fault-%s-%03d", kind, namespaceCounter.Add(1))
	app := &faultApp{env: env, ns: ns, host: ns + ".example.com", cacheDir: filepath.Join(env.dir, ns, "cache")}
	if err := os.MkdirAll(filepath.Dir(app.cacheDir), 0o755); err != nil {
		t.Fatal(err)
	}
	app.kubeconfig = writeKubeconfigVia(t, filepath.Join(env.dir, ns, "kubeconfig"), apiServerAddress())
	app.viaProxy = filepath.Join(env.dir, ns, "kubeconfig-proxy")

	if _, err := env.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns,
		Labels: map[string]string{"team": "search"}, Annotations: map[string]string{"owner": "search@example.com"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		app.forceRemove()
		_ = env.kube.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	})
	createChatQnAServices(t, env.kube, ns, "chatqna")
	if _, err := env.kube.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "user-db-credentials"},
		StringData: map[string]string{"password": "hunter2"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.kube.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "user-settings", Labels: map[string]string{"app.kubernetes.io/managed-by": "helm"}},
		Data: map[string]string{"LLM_MODEL_ID": "Intel/neural-chat-7b-v3-3"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	vs := &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
		"metadata": map[string]interface{}{"name": "user-internal", "namespace": ns},
		"spec": map[string]interface{}{"hosts": []interface{}{"chatqna." + ns + ".svc.cluster.local"},
			"http": []interface{}{map[string]interface{}{"timeout": "30s", "route": []interface{}{map[string]interface{}{"destination": map[string]interface{}{"host": "chatqna." + ns + ".svc.cluster.local"}}}}}},
	}}
	if _, err := env.dyn.Resource(virtualSvcGVR).Namespace(ns).Create(ctx, vs, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitForNamespaceConfigMaps(t, ns)
	eventually(t, 30*time.Second, "the default ServiceAccount of "+ns, func() (bool, error) {
		_, err := env.kube.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, err
	})
	return app
}

// prepare records the app's states before secure, after secure and after
// issuance, from undisturbed runs, and checks that unsecure returns to the
// first. With measure, it runs secure and unsecure through a proxy that
// lets everything pass and returns their traces, from which a sweep plans
// its offsets.
func (app *faultApp) prepare(t *testing.T, measure bool) (secureTrace, unsecureTrace []faultproxy.Chunk) {
	t.Helper()
	var err error
	if app.pre, err = app.dump(); err != nil {
		t.Fatal(err)
	}
	// A first run fills the discovery cache, as a user's earlier
	// commands would have: the runs measured afterwards read it.
	app.mustRun(t, app.secure())
	if err := app.issue(); err != nil {
		t.Fatal(err)
	}
	app.mustRun(t, app.unsecure())
	app.mustEqual(t, "unsecure after the first secure", app.pre)

	if measure {
		r, p := app.throughProxy(faultproxy.Plan{}, app.secure())
		if r.code != 0 {
			t.Fatalf("secure through the proxy: %s", r)
		}
		secureTrace = p.Trace()
	} else {
		app.mustRun(t, app.secure())
	}
	if err := app.issue(); err != nil {
		t.Fatal(err)
	}
	if app.ref, err = app.dump(); err != nil {
		t.Fatal(err)
	}
	if added := len(app.ref) - len(app.pre); added != objectsPerApp+authJWTObjects+2 {
		t.Errorf("secure and issuance added %d objects, want %d (secure's, its two --auth policies, and cert-manager's two Secrets): %v", added, objectsPerApp+authJWTObjects+2, addedKeys(app.pre, app.ref))
	}
	if measure {
		r, p := app.throughProxy(faultproxy.Plan{}, app.unsecure())
		if r.code != 0 {
			t.Fatalf("unsecure through the proxy: %s", r)
		}
		unsecureTrace = p.Trace()
	} else {
		app.mustRun(t, app.unsecure())
	}
	app.mustEqual(t, "unsecure", app.pre)
	return secureTrace, unsecureTrace
}

// secure is the suite's secure, with --auth jwt: its runs also write a
// RequestAuthentication and an AuthorizationPolicy on the shared gateway,
// which a fault may interrupt, and unsecure removes them. Nothing listens
// at the JWKS URI: istiod's fetch fails at once, which the suite does not
// look at.
func (app *faultApp) secure() []string {
	return []string{"secure", "-n", app.ns, "--host", app.host,
		"--auth", "jwt", "--jwt-issuer", "https://idp-" + app.ns + ".example.com/realms/opea", "--jwks-uri", "https://127.0.0.1:1/certs"}
}

func (app *faultApp) unsecure() []string {
	return []string{"unsecure", "-n", app.ns}
}

// run runs the plugin straight against the API server.
func (app *faultApp) run(args []string) pluginRun {
	return runPlugin(app.env.bin, append([]string{"--kubeconfig", app.kubeconfig, "--cache-dir", app.cacheDir}, args...)...)
}

// throughProxy runs the plugin through a new proxy that breaks the
// connection as plan says, with a request timeout that ends a stall.
func (app *faultApp) throughProxy(plan faultproxy.Plan, args []string) (pluginRun, *faultproxy.Proxy) {
	p, err := faultproxy.Start(apiServerAddress(), plan)
	if err != nil {
		return pluginRun{code: -1, stderr: err.Error()}, nil
	}
	defer p.Close()
	if err := writeKubeconfigTo(app.viaProxy, p.Addr()); err != nil {
		return pluginRun{code: -1, stderr: err.Error()}, p
	}
	r := runPlugin(app.env.bin, append([]string{"--kubeconfig", app.viaProxy, "--cache-dir", app.cacheDir, "--request-timeout", faultRequestTimeout}, args...)...)
	return r, p
}

func (app *faultApp) mustRun(t *testing.T, args []string) {
	t.Helper()
	if r := app.run(args); r.code != 0 {
		t.Fatalf("%s: %s", strings.Join(args, " "), r)
	}
}

func (app *faultApp) dump() (stateDump, error) {
	return app.env.dumper.dump(app.ns, app.others...)
}

func (app *faultApp) issue() error {
	return waitSecureIssuance(context.Background(), app.env.kube, app.env.dyn, app.ns)
}

// mustEqual fails the test unless the namespaces hold want.
func (app *faultApp) mustEqual(t *testing.T, when string, want stateDump) {
	t.Helper()
	if diff := app.diff(want); diff != "" {
		t.Fatalf("%s: the namespaces differ (-want +got):\n%s", when, diff)
	}
}

// diff compares the namespaces with want; "" when they match.
func (app *faultApp) diff(want stateDump) string {
	got, err := app.dump()
	if err != nil {
		return err.Error()
	}
	return cmp.Diff(want, got)
}

// lostFrom counts the objects of the state before secure that are missing
// now.
func (app *faultApp) lostFrom(got stateDump) int {
	return len(app.pre.missingFrom(got))
}

// orphanKeys counts the Secrets holding a private key that remain in the
// gateway namespace under secure's names for the app.
func (app *faultApp) orphanKeys() int {
	n := 0
	names := ownership.NamesFor(app.ns)
	for _, name := range []string{names.TLSSecret, names.CASecret} {
		s, err := app.env.kube.CoreV1().Secrets(gatewayNamespace).Get(context.Background(), name, metav1.GetOptions{})
		if err == nil && len(s.Data["tls.key"]) > 0 {
			n++
		}
	}
	return n
}

// forceRemove deletes whatever secure made or cert-manager wrote for the
// app, without the plugin, so that a case that left a mess does not spoil
// the next, and nothing outlives the test.
func (app *faultApp) forceRemove() {
	ctx := context.Background()
	sel := metav1.ListOptions{LabelSelector: ownership.Selector(app.ns)}
	for _, gvr := range ourObjectGVRs {
		for _, ns := range []string{app.ns, gatewayNamespace} {
			_ = app.env.dyn.Resource(gvr).Namespace(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, sel)
		}
	}
	names := ownership.NamesFor(app.ns)
	for _, name := range []string{names.TLSSecret, names.CASecret} {
		_ = app.env.kube.CoreV1().Secrets(gatewayNamespace).Delete(ctx, name, metav1.DeleteOptions{})
	}
	patch := []byte(`{"metadata":{"labels":{"` + desired.DataplaneModeLabel + `":null}}}`)
	_, _ = app.env.kube.CoreV1().Namespaces().Patch(ctx, app.ns, "application/merge-patch+json", patch, metav1.PatchOptions{})
}

// faultCase is one fault of a sweep.
type faultCase struct {
	plan faultproxy.Plan
	// where says what the offset falls in: "request 12 (14 bytes in)".
	where string
}

// faultExchange is a request and the response to it, as bursts of the trace.
type faultExchange struct {
	request  faultproxy.Burst
	response faultproxy.Burst // Len 0: none came
}

// faultExchanges splits a trace into requests and responses: with one client
// that waits for each answer, every turn to client->server starts a request.
func faultExchanges(trace []faultproxy.Chunk) []faultExchange {
	var out []faultExchange
	for _, b := range faultproxy.Bursts(trace) {
		if b.Dir == faultproxy.ClientToServer {
			out = append(out, faultExchange{request: b, response: faultproxy.Burst{Conn: b.Conn, Dir: faultproxy.ServerToClient, Start: b.Start + b.Len}})
			continue
		}
		if len(out) == 0 {
			out = append(out, faultExchange{request: faultproxy.Burst{Conn: b.Conn, Start: b.Start}, response: faultproxy.Burst{Conn: b.Conn, Dir: faultproxy.ServerToClient, Start: b.Start}})
		}
		last := &out[len(out)-1]
		last.response.Len = b.Start + b.Len - last.response.Start
	}
	return out
}

// planSweep puts faults into every exchange of the trace: a reset and a
// stall into each, one in the request and the other in the response, by
// turns, so that every request is cut both before the server has it whole
// and after it answered. Offset 0 breaks the connection before its first
// byte.
func planSweep(trace []faultproxy.Chunk) []faultCase {
	cases := []faultCase{
		{faultproxy.Plan{Fault: faultproxy.Reset, After: 0}, "the first byte"},
		{faultproxy.Plan{Fault: faultproxy.Stall, After: 0}, "the first byte"},
	}
	for i, ex := range faultExchanges(trace) {
		in := []struct {
			burst faultproxy.Burst
			what  string
		}{{ex.request, "request"}, {ex.response, "response"}}
		if ex.response.Len == 0 {
			in[1] = in[0]
		}
		for j, fault := range []faultproxy.Fault{faultproxy.Reset, faultproxy.Stall} {
			at := in[(i+j)%2]
			cases = append(cases, faultCase{faultproxy.Plan{Fault: fault, After: at.burst.Mid()},
				fmt.Sprintf("%s %d (byte %d of %d)", at.what, i+1, at.burst.Mid()-at.burst.Start, at.burst.Len)})
		}
	}
	return cases
}

// sweep breaks secure, then unsecure, at every exchange, on faultWorkers
// namespaces at once, and checks that one plain rerun converges.
//
// A case pairs a fault of secure with one of unsecure on one namespace:
// secure (broken, then plain) must reach the reference state, which is the
// state an undisturbed secure and issuance give; from there unsecure
// (broken, then plain) must give the state before secure back, which is
// where the next case starts. The two sweeps thus serve each other: a
// case of the unsecure sweep starts from a namespace checked to hold the
// reference state, and a case of the secure sweep is undone by unsecure
// and checked to be back at the state before secure. Secure has more
// exchanges than unsecure: its last cases end with a plain unsecure.
func (env *faultEnv) sweep(t *testing.T) {
	started := time.Now()
	apps := make([]*faultApp, faultWorkers)
	for i := range apps {
		apps[i] = env.newFaultApp(t, "swp")
	}
	for i, app := range apps {
		for j, other := range apps {
			if i != j {
				app.others = append(app.others, other.ns)
			}
		}
	}
	// The namespaces' names have the same length: the first app's traces
	// plan the offsets for all.
	secureTrace, unsecureTrace := apps[0].prepare(t, true)
	for _, app := range apps[1:] {
		app.prepare(t, false)
	}
	plans := map[string][]faultCase{}
	for command, trace := range map[string][]faultproxy.Chunk{"secure": secureTrace, "unsecure": unsecureTrace} {
		plans[command] = planSweep(trace)
		last := trace[len(trace)-1]
		t.Logf("%s: %d bytes in %d exchanges over %d connection(s); %d faults planned",
			command, last.Start+last.Len, len(faultExchanges(trace)), traceConnections(trace), len(plans[command]))
		env.tally.add(func(c *faultTally) { c.planned[command] += len(plans[command]) })
	}

	type pair struct{ secure, unsecure *faultCase }
	work := make(chan pair)
	var wg sync.WaitGroup
	for _, app := range apps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				if app.secureCase(t, p.secure) {
					app.unsecureCase(t, p.unsecure)
				}
			}
		}()
	}
	// Both plans alternate reset and stall; a case pairs a secure fault
	// with an unsecure fault of the other kind, so that no case waits for
	// two stalls.
	secures, unsecures := plans["secure"], plans["unsecure"]
	for i := 0; i < max(len(secures), len(unsecures)); i++ {
		var p pair
		if i < len(secures) {
			p.secure = &secures[i]
		}
		if i < len(unsecures) {
			j := i ^ 1
			if j >= len(unsecures) {
				j = i
			}
			p.unsecure = &unsecures[j]
		}
		work <- p
	}
	close(work)
	wg.Wait()
	t.Logf("%d secure and %d unsecure faults in %s", len(plans["secure"]), len(plans["unsecure"]), time.Since(started).Round(time.Second))
}

func traceConnections(trace []faultproxy.Chunk) int {
	n := 0
	for _, c := range trace {
		n = max(n, c.Conn)
	}
	return n
}

// checkFaulted judges a faulted run on its own: it must end in time, and
// fail with a message and without a Go panic.
func (app *faultApp) checkFaulted(t *testing.T, label string, r pluginRun) {
	app.env.tally.add(func(c *faultTally) {
		if r.took > c.slowest {
			c.slowest, c.slowestLabel = r.took, label
		}
	})
	var bad []string
	if r.killed || r.took > faultHangLimit {
		bad = append(bad, fmt.Sprintf("took %s", r.took.Round(time.Millisecond)))
	}
	if strings.Contains(r.stderr, "panic:") || strings.Contains(r.stderr, "goroutine ") {
		bad = append(bad, "panicked")
	}
	if r.code != 0 && !strings.Contains(r.stderr, "error: ") {
		bad = append(bad, "failed without an error message")
	}
	if len(bad) > 0 {
		app.env.tally.add(func(c *faultTally) { c.misbehaved++ })
		t.Errorf("%s: the faulted run %s: %s", label, strings.Join(bad, ", "), r)
	}
}

// faultedRun runs command through a proxy that breaks it as fc says, and
// judges the run: when it exited 0 despite the fault, the namespaces must
// hold want, as after an undisturbed run. It reports whether the fault
// was injected.
func (app *faultApp) faultedRun(t *testing.T, command, label string, fc *faultCase, want stateDump) (pluginRun, bool) {
	args := app.secure()
	if command == "unsecure" {
		args = app.unsecure()
	}
	r, p := app.throughProxy(fc.plan, args)
	fired := false
	if p != nil {
		_, fired = p.Fired()
	}
	if fired {
		app.env.tally.add(func(c *faultTally) { c.injected[command]++ })
	}
	app.checkFaulted(t, label, r)
	if r.code == 0 && fired {
		// The client got over the fault: its work must be done, and
		// cert-manager's issuance on top of a secure's.
		if command == "secure" {
			if err := app.issue(); err != nil {
				t.Errorf("%s: issuing after the faulted run: %v", label, err)
			}
		}
		diff := app.diff(want)
		app.env.tally.add(func(c *faultTally) {
			c.exitZero++
			if diff == "" {
				c.exitZeroComplete++
			}
		})
		if diff != "" {
			t.Errorf("%s: the faulted run exited 0 but did not finish (-want +got):\n%s\nfaulted run: %s", label, diff, r)
		}
	}
	return r, fired
}

// secureCase brings the app from the state before secure to the
// reference state: secure broken by fc (when not nil), then a plain secure
// and cert-manager's issuance. It reports whether the reference state was
// reached; when not, it has removed secure's objects by hand.
func (app *faultApp) secureCase(t *testing.T, fc *faultCase) bool {
	label := "secure, undisturbed"
	var faulted pluginRun
	fired := false
	if fc != nil {
		label = fmt.Sprintf("secure, %s at byte %d, in %s [%s]", fc.plan.Fault, fc.plan.After, fc.where, app.ns)
		faulted, fired = app.faultedRun(t, "secure", label, fc, app.ref)
	}
	rerun := app.run(app.secure())
	if rerun.code != 0 {
		t.Errorf("%s: the plain rerun of secure failed: %s", label, rerun)
	} else if err := app.issue(); err != nil {
		t.Errorf("%s: issuing: %v", label, err)
	}
	got, err := app.dump()
	if err != nil {
		t.Errorf("%s: %v", label, err)
		app.forceRemove()
		return false
	}
	lost := app.lostFrom(got)
	diff := cmp.Diff(app.ref, got)
	app.env.tally.add(func(c *faultTally) {
		c.lost += lost
		if diff == "" && rerun.code == 0 && fired {
			c.converged["secure"]++
		}
	})
	if rerun.code == 0 && diff == "" {
		return true
	}
	if diff != "" {
		t.Errorf("%s: after a plain rerun the namespaces differ from an undisturbed secure (-want +got):\n%s\nfaulted run: %s", label, diff, faulted)
	}
	app.forceRemove()
	return false
}

// unsecureCase brings a secured app back to the state before secure:
// unsecure broken by fc (when not nil), then a plain unsecure. When that
// fails, it removes secure's objects by hand for the next case.
func (app *faultApp) unsecureCase(t *testing.T, fc *faultCase) {
	label := "unsecure, undisturbed"
	var faulted pluginRun
	fired := false
	if fc != nil {
		label = fmt.Sprintf("unsecure, %s at byte %d, in %s [%s]", fc.plan.Fault, fc.plan.After, fc.where, app.ns)
		faulted, fired = app.faultedRun(t, "unsecure", label, fc, app.pre)
	}
	rerun := app.run(app.unsecure())
	got, err := app.dump()
	if err != nil {
		t.Errorf("%s: %v", label, err)
		app.forceRemove()
		return
	}
	lost, orphans := app.lostFrom(got), app.orphanKeys()
	diff := cmp.Diff(app.pre, got)
	app.env.tally.add(func(c *faultTally) {
		c.lost += lost
		c.orphanKeys += orphans
		if diff == "" && rerun.code == 0 && fired {
			c.converged["unsecure"]++
		}
	})
	if rerun.code != 0 || diff != "" {
		t.Errorf("%s: after a plain rerun of unsecure (%s) the namespaces differ from before secure (-want +got):\n%s\nfaulted run: %s", label, rerun, diff, faulted)
		app.forceRemove()
	}
}

// concurrent runs secure and unsecure side by side.
func (env *faultEnv) concurrent(t *testing.T) {
	tally := env.tally
	runAll := func(app *faultApp, argsList ...[]string) []pluginRun {
		out := make([]pluginRun, len(argsList))
		var wg sync.WaitGroup
		for i, args := range argsList {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out[i] = app.run(args)
			}()
		}
		wg.Wait()
		return out
	}
	count := func(label string, runs []pluginRun, args [][]string) {
		failed := 0
		for i, r := range runs {
			if r.code != 0 {
				failed++
				t.Logf("%s: concurrent %s: %s", label, strings.Join(args[i][:1], " "), r)
			}
			if strings.Contains(r.stderr, "panic:") || (r.code != 0 && !strings.Contains(r.stderr, "error: ")) {
				t.Errorf("%s: a concurrent run panicked or failed without a message: %s", label, r)
			}
		}
		tally.add(func(c *faultTally) { c.concurrentRuns += len(runs); c.concurrentFailed += failed })
	}
	// endState checks, after the runs, that one plain secure gives the
	// reference state and one plain unsecure the state before secure.
	endState := func(t *testing.T, label string, app *faultApp) {
		t.Helper()
		ok := true
		if r := app.run(app.secure()); r.code != 0 {
			t.Errorf("%s: the final secure: %s", label, r)
			ok = false
		}
		if err := app.issue(); err != nil {
			t.Errorf("%s: issuing: %v", label, err)
		}
		if diff := app.diff(app.ref); diff != "" {
			t.Errorf("%s: after a final secure (-want +got):\n%s", label, diff)
			ok = false
		}
		if r := app.run(app.unsecure()); r.code != 0 {
			t.Errorf("%s: the final unsecure: %s", label, r)
			ok = false
		}
		got, err := app.dump()
		if err != nil {
			t.Fatal(err)
		}
		lost, orphans := app.lostFrom(got), app.orphanKeys()
		if diff := cmp.Diff(app.pre, got); diff != "" {
			t.Errorf("%s: after a final unsecure (-want +got):\n%s", label, diff)
			ok = false
			app.forceRemove()
		}
		tally.add(func(c *faultTally) {
			c.lost += lost
			c.orphanKeys += orphans
			c.endStates++
			if ok {
				c.endStatesOK++
			}
		})
	}
	// noStrangers checks that the namespaces hold nothing that is neither
	// in the state before secure nor in the reference: no duplicates.
	noStrangers := func(t *testing.T, label string, app *faultApp) {
		t.Helper()
		got, err := app.dump()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range got.keys() {
			if _, inRef := app.ref[k]; !inRef {
				t.Errorf("%s: %s is neither the user's nor secure's", label, k)
			}
		}
		if missing := app.pre.missingFrom(got); len(missing) > 0 {
			t.Errorf("%s: objects of the user's lost: %v", label, missing)
		}
	}

	t.Run("secure on one namespace", func(t *testing.T) {
		app := env.newFaultApp(t, "one")
		app.prepare(t, false)
		const n = 6
		for round := 0; round < 2; round++ {
			args := make([][]string, n)
			for i := range args {
				args[i] = app.secure()
			}
			label := fmt.Sprintf("%d secures, round %d", n, round+1)
			count(label, runAll(app, args...), args)
			if err := app.issue(); err != nil {
				t.Fatal(err)
			}
			noStrangers(t, label, app)
			if diff := app.diff(app.ref); diff != "" {
				t.Errorf("%s: the concurrent secures did not leave the reference state (-want +got):\n%s", label, diff)
			}
			endState(t, label, app)
		}
	})

	t.Run("two namespaces on one gateway", func(t *testing.T) {
		a, b := env.newFaultApp(t, "two"), env.newFaultApp(t, "two")
		a.others, b.others = []string{b.ns}, []string{a.ns}
		a.prepare(t, false)
		b.prepare(t, false)
		for round := 0; round < 2; round++ {
			label := fmt.Sprintf("two namespaces, round %d", round+1)
			var runs [2]pluginRun
			var wg sync.WaitGroup
			for i, app := range []*faultApp{a, b} {
				wg.Add(1)
				go func() { defer wg.Done(); runs[i] = app.run(app.secure()) }()
			}
			wg.Wait()
			count(label, runs[:], [][]string{a.secure(), b.secure()})
			for _, app := range []*faultApp{a, b} {
				if err := app.issue(); err != nil {
					t.Fatal(err)
				}
				noStrangers(t, label, app)
			}
			for i, app := range []*faultApp{a, b} {
				wg.Add(1)
				go func() { defer wg.Done(); runs[i] = app.run(app.unsecure()) }()
			}
			wg.Wait()
			count(label, runs[:], [][]string{a.unsecure(), b.unsecure()})
			for _, app := range []*faultApp{a, b} {
				if diff := app.diff(app.pre); diff != "" {
					t.Errorf("%s: concurrent unsecures did not restore %s (-want +got):\n%s", label, app.ns, diff)
				}
				endState(t, label+" "+app.ns, app)
			}
		}
	})

	t.Run("secure racing unsecure", func(t *testing.T) {
		app := env.newFaultApp(t, "race")
		app.prepare(t, false)
		// Rounds start from a secured namespace (unsecure deletes while
		// secure applies the same again) or from the state before secure
		// (unsecure looks while secure creates).
		for round, start := range []struct {
			secured bool
			delay   time.Duration
		}{{true, 0}, {false, 0}, {true, 100 * time.Millisecond}, {false, 150 * time.Millisecond}} {
			label := fmt.Sprintf("secure racing unsecure, round %d (secured first: %v, unsecure %s later)", round+1, start.secured, start.delay)
			if start.secured {
				app.mustRun(t, app.secure())
				if err := app.issue(); err != nil {
					t.Fatal(err)
				}
			}
			var runs [2]pluginRun
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); runs[0] = app.run(app.secure()) }()
			go func() { defer wg.Done(); time.Sleep(start.delay); runs[1] = app.run(app.unsecure()) }()
			wg.Wait()
			count(label, runs[:], [][]string{app.secure(), app.unsecure()})
			noStrangers(t, label, app)
			endState(t, label, app)
		}
	})
}
