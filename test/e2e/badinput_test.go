package e2e

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/opea-project/kubectl-opea/pkg/ownership"
)

// The bad-input sweep runs the plugin binary against the local control
// plane with input it must refuse, and holds each run to one contract:
//
//   - usage errors (unknown flags and commands, stray arguments, flag
//     values that cannot be right whatever the cluster holds) exit 2
//     before anything is read;
//   - failed preconditions (what the cluster lacks or holds in the way,
//     missing permissions) exit 1 with a "fix:" hint;
//   - a cluster the command cannot talk to (unreachable, a kubeconfig
//     that is missing or names nothing, credentials it rejects) exits 3
//     with a "fix:" hint, in every command alike;
//   - either way stderr names the problem, no Go panic or stack is
//     printed, and nothing is written: the application namespace and the
//     gateway namespace are as before, and no object labelled
//     app.kubernetes.io/managed-by=kubectl-opea appeared or changed
//     anywhere in the cluster.

// badInput is one case of the sweep.
type badInput struct {
	name string
	// args follow --kubeconfig and --cache-dir.
	args []string
	// kubeconfig replaces the admin's.
	kubeconfig string
	// ns is the application namespace whose content must not change
	// (default: the sweep's ChatQnA namespace).
	ns   string
	code int
	// stderr must contain every want and, if any are given, one of
	// wantAny; it must contain no notWant. Case is ignored.
	want, wantAny, notWant []string
	// stdout must contain every wantOut (for input that is accepted).
	wantOut []string
}

func TestBadInput(t *testing.T) {
	ctx := context.Background()
	ensureIngressGateway(t)
	bin := pluginBinary(t)
	kube, dyn := adminKube(t), adminDynamic(t)
	dumper := newStateDumper(t)
	dir := t.TempDir()
	admin := writeKubeconfigVia(t, filepath.Join(dir, "admin"), apiServerAddress())
	cache := filepath.Join(dir, "cache")

	// newApp creates a namespace with a user label and, unless bare, the
	// Services of a ChatQnA release.
	newApp := func(kind string, bare bool, labels map[string]string) string {
		ns := fmt.Sprintf("bad-%s-%03d", kind, namespaceCounter.Add(1))
		labels["team"] = "search"
		if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: labels}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			deleteOurGatewayObjects(t, ns)
			for _, name := range []string{ownership.NamesFor(ns).TLSSecret, ownership.NamesFor(ns).CASecret} {
				_ = kube.CoreV1().Secrets(gatewayNamespace).Delete(context.Background(), name, metav1.DeleteOptions{})
			}
			_ = kube.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
		})
		if !bare {
			createChatQnAServices(t, kube, ns, "chatqna")
		}
		if _, err := kube.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "user-settings"},
			Data: map[string]string{"LLM_MODEL_ID": "Intel/neural-chat-7b-v3-3"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitForNamespaceConfigMaps(t, ns)
		return ns
	}
	app := newApp("app", false, map[string]string{})
	empty := newApp("empty", true, map[string]string{})
	sidecar := newApp("sidecar", false, map[string]string{"istio-injection": "enabled"})
	// A Secret of the user's has the name secure would give the
	// gateway's certificate: secure must not take it over.
	taken := newApp("taken", false, map[string]string{})
	takenSecret := ownership.NamesFor(taken).TLSSecret
	if _, err := kube.CoreV1().Secrets(gatewayNamespace).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: takenSecret},
		Data: map[string][]byte{"token": []byte("the user's own")}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A secured application, its certificates in the gateway namespace.
	secured := newApp("secured", false, map[string]string{})
	if r := runPlugin(bin, "--kubeconfig", admin, "--cache-dir", cache, "secure", "-n", secured, "--host", secured+".example.com"); r.code != 0 {
		t.Fatalf("securing %s: %s", secured, r)
	}
	if err := waitSecureIssuance(ctx, kube, dyn, secured); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = runPlugin(bin, "--kubeconfig", admin, "--cache-dir", cache, "unsecure", "-n", secured)
	})
	// A server that does not answer: a port nobody listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	unreachable := writeKubeconfigVia(t, filepath.Join(dir, "unreachable"), closed)
	badToken := writeKubeconfigWithToken(t, filepath.Join(dir, "rejected"), "not-a-token-of-this-cluster")

	long := strings.Repeat("a", 64)
	host := app + ".example.com"
	secure := func(extra ...string) []string { return append([]string{"secure", "-n", app, "--host", host}, extra...) }
	secureHost := func(h string) []string { return []string{"secure", "-n", app, "--host", h} }
	unsecure := func(extra ...string) []string { return append([]string{"unsecure", "-n", app}, extra...) }
	verify := func(extra ...string) []string { return append([]string{"verify", "-n", app}, extra...) }

	cases := []badInput{
		// Unknown commands, flags, stray arguments.
		{name: "unknown command", args: []string{"secur"}, code: 2, want: []string{`"secur"`}},
		{name: "secure unknown flag", args: secure("--hosts", "x.example.com"), code: 2, want: []string{"unknown flag: --hosts"}},
		{name: "unsecure unknown flag", args: unsecure("--force"), code: 2, want: []string{"unknown flag: --force"}},
		{name: "verify unknown flag", args: verify("--fix"), code: 2, want: []string{"unknown flag: --fix"}},
		{name: "secure unknown shorthand", args: secure("-x"), code: 2, want: []string{"-x"}},
		{name: "secure stray argument", args: []string{"secure", "foo", "-n", app}, code: 2, want: []string{`"foo"`}},
		{name: "secure namespace as argument", args: []string{"secure", app}, code: 2, want: []string{app}},
		{name: "unsecure stray argument", args: []string{"unsecure", "foo", "-n", app}, code: 2, want: []string{`"foo"`}},
		{name: "verify stray argument", args: []string{"verify", "foo", "-n", app}, code: 2, want: []string{`"foo"`}},
		{name: "version stray argument", args: []string{"version", "foo"}, code: 2, want: []string{`"foo"`}},
		{name: "completion unknown shell", args: []string{"completion", "tcsh"}, code: 2, want: []string{"tcsh"}},

		// Timeouts.
		{name: "secure --timeout 0", args: secure("--timeout", "0"), code: 2, want: []string{"--timeout"}},
		{name: "secure --timeout -1s", args: secure("--timeout", "-1s"), code: 2, want: []string{"--timeout"}},
		{name: "secure --wait --timeout 0", args: secure("--wait", "--timeout", "0"), code: 2, want: []string{"--timeout"}},
		{name: "secure --wait --timeout -1s", args: secure("--wait", "--timeout", "-1s"), code: 2, want: []string{"--timeout"}},
		{name: "secure --timeout not a duration", args: secure("--timeout", "soon"), code: 2, want: []string{"--timeout", "soon"}},
		{name: "unsecure --timeout 0", args: unsecure("--timeout", "0"), code: 2, want: []string{"--timeout"}},
		{name: "unsecure --timeout -1s", args: unsecure("--timeout", "-1s"), code: 2, want: []string{"--timeout"}},
		{name: "unsecure --wait --timeout 0", args: unsecure("--wait", "--timeout", "0"), code: 2, want: []string{"--timeout"}},
		{name: "unsecure --wait --timeout -1s", args: unsecure("--wait", "--timeout", "-1s"), code: 2, want: []string{"--timeout"}},
		{name: "verify --wait=-1s", args: verify("--wait=-1s"), code: 2, want: []string{"--wait"}},
		{name: "verify --probe-timeout 0", args: verify("--probe-timeout", "0"), code: 2, want: []string{"--probe-timeout"}},
		{name: "global --request-timeout not a duration", args: append([]string{"--request-timeout", "soon"}, secure()...), code: 2, want: []string{"soon"}},

		// --dry-run, -o, and their combinations with --wait.
		{name: "secure --dry-run=maybe", args: secure("--dry-run=maybe"), code: 2, want: []string{"--dry-run", `"maybe"`}},
		{name: "secure --dry-run empty", args: secure("--dry-run="), code: 2, want: []string{"--dry-run"}},
		{name: "unsecure --dry-run=maybe", args: unsecure("--dry-run=maybe"), code: 2, want: []string{"--dry-run", `"maybe"`}},
		{name: "secure --wait --dry-run=server", args: secure("--wait", "--dry-run=server"), code: 2, want: []string{"--wait", "--dry-run"}},
		{name: "unsecure --wait --dry-run=client", args: unsecure("--wait", "--dry-run=client"), code: 2, want: []string{"--wait", "--dry-run"}},
		{name: "secure -o xml", args: secure("-o", "xml"), code: 2, want: []string{`"xml"`}},
		{name: "secure -o without a value", args: secure("-o"), code: 2, want: []string{"-o"}},
		{name: "verify -o yml", args: verify("-o", "yml"), code: 2, want: []string{`"yml"`, "json or yaml"}},
		{name: "version -o xml", args: []string{"version", "-o", "xml"}, code: 2, want: []string{`"xml"`}},

		// --host.
		{name: "host IPv4 literal", args: secureHost("10.0.0.1"), code: 2, want: []string{"--host", `"10.0.0.1"`}},
		{name: "host IPv6 literal", args: secureHost("::1"), code: 2, want: []string{"--host", `"::1"`}},
		{name: "host bracketed IPv6", args: secureHost("[::1]"), code: 2, want: []string{"--host", `"[::1]"`}},
		{name: "host all-numeric dotted quad", args: secureHost("256.1.1.1"), code: 2, want: []string{"--host", `"256.1.1.1"`}},
		{name: "host label over 63 characters", args: secureHost(long + ".example.com"), code: 2, want: []string{"--host", long}},
		{name: "host over 253 characters", args: secureHost(strings.Repeat("abcdefghi.", 26) + "com"), code: 2, want: []string{"--host"}},
		{name: "host all-numeric last label", args: secureHost("a.123"), code: 2, want: []string{"--host", `"a.123"`}},
		{name: "host empty", args: secureHost(""), code: 2, want: []string{"--host", `""`}},
		{name: "host blank", args: secureHost("   "), code: 2, want: []string{"--host"}},
		{name: "host with a space", args: secureHost("chat qna.example.com"), code: 2, want: []string{"--host", "chat qna.example.com"}},
		{name: "host wildcard alone", args: secureHost("*"), code: 2, want: []string{"--host", `"*"`}},
		{name: "host wildcard inside", args: secureHost("a.*.com"), code: 2, want: []string{"--host", `"a.*.com"`}},
		{name: "host partial wildcard", args: secureHost("chat*.example.com"), code: 2, want: []string{"--host", `"chat*.example.com"`}},
		{name: "host underscore", args: secureHost("chat_qna.example.com"), code: 2, want: []string{"--host", "chat_qna.example.com"}},
		{name: "host leading hyphen", args: secureHost("-chat.example.com"), code: 2, want: []string{"--host", "-chat.example.com"}},
		{name: "host single label", args: secureHost("chatqna"), code: 2, want: []string{"--host", `"chatqna"`}},
		{name: "host with scheme", args: secureHost("https://chatqna.example.com"), code: 2, want: []string{"--host", "https://chatqna.example.com"}},
		{name: "host with port", args: secureHost("chatqna.example.com:443"), code: 2, want: []string{"--host", "chatqna.example.com:443"}},
		{name: "host comma list", args: secureHost("a.example.com,b.example.com"), code: 2, want: []string{"--host", "a.example.com,b.example.com"}},
		{name: "host one bad among good", args: append(secureHost("ok.example.com"), "--host", "bad_host.example.com"), code: 2, want: []string{"bad_host.example.com"}},
		{name: "host upper case is accepted in lower case", args: append(secureHost("ChatQnA.Example.COM"), "--dry-run=client", "-o", "yaml"), code: 0,
			wantOut: []string{"chatqna.example.com"}},

		// The gateway, the issuer, the entry port, the field manager.
		{name: "gateway-selector duplicate key", args: secure("--gateway-selector", "a=b,a=c"), code: 2, want: []string{"--gateway-selector", "a=b,a=c"}},
		{name: "gateway-selector without value", args: secure("--gateway-selector", "istio"), code: 2, want: []string{"--gateway-selector", `"istio"`}},
		{name: "gateway-selector without key", args: secure("--gateway-selector", "=ingress"), code: 2, want: []string{"--gateway-selector", `"=ingress"`}},
		{name: "gateway-selector set-based", args: secure("--gateway-selector", "istio in (ingress)"), code: 2, want: []string{"--gateway-selector"}},
		{name: "gateway-selector inequality", args: secure("--gateway-selector", "istio!=ingress"), code: 2, want: []string{"--gateway-selector"}},
		{name: "gateway-selector bad value", args: secure("--gateway-selector", "istio=in gress"), code: 2, want: []string{"--gateway-selector"}},
		{name: "gateway-selector trailing comma", args: secure("--gateway-selector", "istio=ingress,"), code: 2, want: []string{"--gateway-selector"}},
		{name: "issuer with tls-secret", args: secure("--issuer", "letsencrypt", "--tls-secret", "mine"), code: 2, want: []string{"--issuer", "--tls-secret"}},
		{name: "issuer-kind unknown", args: secure("--issuer", "x", "--issuer-kind", "Foo"), code: 2, want: []string{"--issuer-kind", `"Foo"`}},
		{name: "port -1", args: secure("--port", "-1"), code: 2, want: []string{"--port", "-1"}},
		{name: "port 70000", args: secure("--port", "70000"), code: 2, want: []string{"--port", "70000"}},
		{name: "port not a number", args: secure("--port", "http"), code: 2, want: []string{"--port", "http"}},
		{name: "verify port 0", args: verify("--port", "0"), code: 2, want: []string{"--port"}},
		{name: "enroll not a boolean", args: secure("--enroll=maybe"), code: 2, want: []string{"--enroll", "maybe"}},
		{name: "secure field-manager empty", args: secure("--field-manager="), code: 2, want: []string{"--field-manager"}},
		{name: "unsecure field-manager empty", args: unsecure("--field-manager="), code: 2, want: []string{"--field-manager"}},
		{name: "secure field-manager over 128 bytes", args: secure("--field-manager", strings.Repeat("m", 129)), code: 2, want: []string{"--field-manager", "more than the API server's 128"}},
		{name: "unsecure field-manager over 128 bytes", args: unsecure("--field-manager", strings.Repeat("m", 129)), code: 2, want: []string{"--field-manager", "more than the API server's 128"}},

		// The namespace and the impersonation flags, alike in every command.
		{name: "secure namespace not a DNS label", args: []string{"secure", "-n", "Bad_NS", "--host", host}, code: 2, want: []string{`invalid namespace "Bad_NS"`}},
		{name: "unsecure namespace not a DNS label", args: []string{"unsecure", "-n", "Bad_NS"}, code: 2, want: []string{`invalid namespace "Bad_NS"`}},
		{name: "verify namespace not a DNS label", args: []string{"verify", "-n", "Bad_NS"}, code: 2, want: []string{`invalid namespace "Bad_NS"`}},
		{name: "secure as-group with a newline", args: append([]string{"--as", limitedUser, "--as-group", "dev\nops"}, secure()...), code: 2, want: []string{"--as-group", "control characters"}},
		{name: "verify as-group with a newline", args: append([]string{"--as", limitedUser, "--as-group", "dev\nops"}, verify()...), code: 2, want: []string{"--as-group", "control characters"}},

		// An -o template that cannot print the objects: refused before the
		// first write, not after the last.
		{name: "secure go-template failing on the objects", args: secure("-o", "go-template={{(index .items 99).metadata.name}}"), code: 2,
			want: []string{"-o go-template", "none was applied", "index out of range"}},
		{name: "secure jsonpath of a missing key, missing keys refused", args: secure("-o", "jsonpath={.spec.nope}", "--allow-missing-template-keys=false"), code: 2,
			want: []string{"-o jsonpath", "none was applied", "nope"}},
		{name: "verify probe-address without port", args: verify("--probe-address", "notaport"), code: 2, want: []string{"--probe-address", `"notaport"`}},
		{name: "verify probe-address port 99999", args: verify("--probe-address", "host:99999"), code: 2, want: []string{"--probe-address", `"host:99999"`}},
		{name: "verify probe-http-address without port", args: verify("--probe-address", "127.0.0.1:8443", "--probe-http-address", "nope"), code: 2, want: []string{"--probe-http-address", `"nope"`}},

		// Preconditions.
		{name: "secure missing namespace", args: []string{"secure", "-n", "nosuchns", "--host", "x.example.com"}, code: 1, want: []string{"nosuchns", "fix:"}},
		{name: "unsecure missing namespace", args: []string{"unsecure", "-n", "nosuchns"}, code: 1, want: []string{"nosuchns", "fix:"}, notWant: []string{"nothing to do"}},
		{name: "secure no entry Service", args: []string{"secure", "-n", empty, "--host", "x.example.com"}, ns: empty, code: 1, want: []string{"-nginx", "fix:"}},
		{name: "secure named Service missing", args: secure("--service", "nosuchsvc"), code: 1, want: []string{"nosuchsvc", "fix:"}},
		{name: "secure entry port missing", args: secure("--service", "chatqna-nginx", "--port", "8080"), code: 1, want: []string{"8080", "fix:"}},
		{name: "secure no gateway in the namespace named", args: secure("--gateway-namespace", "kube-public"), code: 1, want: []string{"kube-public", "fix:"}},
		{name: "secure no gateway with the labels named", args: secure("--gateway-selector", "istio=nosuchgateway"), code: 1, want: []string{"istio=nosuchgateway", "fix:"}},
		{name: "secure gateway namespace missing", args: secure("--gateway-namespace", "nosuchgw"), code: 1, want: []string{"nosuchgw", "fix:"}},
		{name: "secure tls-secret missing", args: secure("--tls-secret", "nope-tls"), code: 1, want: []string{"nope-tls", "fix:"}},
		{name: "secure issuer missing", args: secure("--issuer", "nosuchissuer"), code: 1, want: []string{"nosuchissuer", "fix:"}},
		{name: "secure cluster issuer missing", args: secure("--issuer", "nosuchissuer", "--issuer-kind", "ClusterIssuer"), code: 1, want: []string{"nosuchissuer", "fix:"}},
		{name: "secure sidecar namespace", args: []string{"secure", "-n", sidecar, "--host", "x.example.com"}, ns: sidecar, code: 1, want: []string{"istio-injection", "fix:"}},
		{name: "secure the user's Secret has secure's name", args: []string{"secure", "-n", taken, "--host", taken + ".example.com"}, ns: taken, code: 1,
			want: []string{takenSecret, "fix:"}},
		{name: "secure server unreachable", args: secure(), kubeconfig: unreachable, code: 3, want: []string{"cannot reach the cluster at https://" + closed, "fix:"}},
		{name: "unsecure server unreachable", args: unsecure(), kubeconfig: unreachable, code: 3, want: []string{"cannot reach the cluster at https://" + closed, "fix:"}},
		{name: "verify server unreachable", args: verify(), kubeconfig: unreachable, code: 3, want: []string{"cannot reach the cluster at https://" + closed, "fix:"}},
		{name: "secure credentials rejected", args: secure(), kubeconfig: badToken, code: 3, want: []string{"rejected your credentials (401)", "fix: refresh"}, notWant: []string{"cannot reach"}},
		{name: "unsecure credentials rejected", args: unsecure(), kubeconfig: badToken, code: 3, want: []string{"rejected your credentials (401)", "fix: refresh"}, notWant: []string{"cannot reach"}},
		{name: "verify credentials rejected", args: verify(), kubeconfig: badToken, code: 3, want: []string{"rejected your credentials (401)", "fix: refresh"}, notWant: []string{"cannot reach"}},
		{name: "secure kubeconfig file missing", args: append([]string{"--kubeconfig", filepath.Join(dir, "nosuchfile")}, secure()...), code: 3, want: []string{"nosuchfile", "fix:"}},
		{name: "secure context missing", args: append([]string{"--context", "nosuchcontext"}, secure()...), code: 3, want: []string{"nosuchcontext", "fix:"}},
		{name: "secure without permissions", args: append([]string{"--as", limitedUser}, secure()...), code: 1, want: []string{"fix:"}, wantAny: []string{"forbidden", "permission"}},
		{name: "unsecure without permissions", args: append([]string{"--as", limitedUser}, "unsecure", "-n", secured), ns: secured, code: 1,
			want: []string{"fix:"}, wantAny: []string{"forbidden", "permission"}},
		{name: "unsecure certificates in another gateway namespace", args: []string{"unsecure", "-n", secured, "--gateway-namespace", "kube-public"}, ns: secured, code: 1,
			want: []string{"kube-public", "fix:"}, wantAny: []string{gatewayNamespace, "no certificate", "none"}},
	}

	// Every case starts from the state the one before left, which must be
	// the state before the sweep.
	before := map[string]stateDump{}
	var labelled map[string]string
	for _, ns := range []string{app, empty, sidecar, taken, secured} {
		if before[ns], labelled, err = dumper.snapshot(ns); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d objects labelled %s=%s in the cluster before the sweep (the secured application's)", len(labelled), ownership.ManagedByLabel, ownership.ManagedByValue)

	var toReject, rejected, nothingWritten, failed int
	var failures []string
	for _, tc := range cases {
		if tc.code != 0 {
			toReject++
		}
		ok := t.Run(tc.name, func(t *testing.T) {
			kubeconfig := admin
			if tc.kubeconfig != "" {
				kubeconfig = tc.kubeconfig
			}
			ns := app
			if tc.ns != "" {
				ns = tc.ns
			}
			r := runPlugin(bin, append([]string{"--kubeconfig", kubeconfig, "--cache-dir", cache}, tc.args...)...)
			first, _, _ := strings.Cut(strings.TrimSpace(r.stderr), "\n")
			t.Logf("exit %d: %s", r.code, first)
			checkBadInputRun(t, tc, r)
			if r.code == tc.code && tc.code != 0 {
				rejected++
			}

			after, nowLabelled, err := dumper.snapshot(ns)
			if err != nil {
				t.Fatal(err)
			}
			written := false
			if diff := cmp.Diff(before[ns], after); diff != "" {
				written = true
				t.Errorf("the namespaces changed (-before +after):\n%s", diff)
			}
			if diff := cmp.Diff(labelled, nowLabelled); diff != "" {
				written = true
				t.Errorf("objects labelled %s=%s appeared or changed (-before +after):\n%s", ownership.ManagedByLabel, ownership.ManagedByValue, diff)
			}
			if !written {
				nothingWritten++
				return
			}
			// Put things back for the next case.
			if ns == secured {
				r := runPlugin(bin, "--kubeconfig", admin, "--cache-dir", cache, "secure", "-n", secured, "--host", secured+".example.com")
				if err := waitSecureIssuance(ctx, kube, dyn, secured); r.code != 0 || err != nil {
					t.Fatalf("securing %s again: %s %v", secured, r, err)
				}
			} else if r := runPlugin(bin, "--kubeconfig", admin, "--cache-dir", cache, "unsecure", "-n", ns); r.code != 0 {
				t.Logf("unsecure after the case: %s", r)
			}
			if _, labelled, err = dumper.snapshot(ns); err != nil {
				t.Fatal(err)
			}
		})
		if !ok {
			failed++
			failures = append(failures, tc.name)
		}
	}
	t.Logf("bad input: %d cases tried (%d to refuse, %d to accept), %d refused with the contract's exit code, %d with nothing written; %d fail the contract: %s",
		len(cases), toReject, len(cases)-toReject, rejected, nothingWritten, failed, strings.Join(failures, "; "))
}

// goStackLine is a frame of a Go stack trace: "\t/path/file.go:123 +0x1d".
var goStackLine = regexp.MustCompile(`\.go:\d+ \+0x[0-9a-f]+`)

// checkBadInputRun holds one run to the contract's exit code and messages.
func checkBadInputRun(t *testing.T, tc badInput, r pluginRun) {
	t.Helper()
	stderr := strings.ToLower(r.stderr)
	var bad []string
	if r.code != tc.code {
		bad = append(bad, fmt.Sprintf("exit %d, want %d", r.code, tc.code))
	}
	if r.killed {
		bad = append(bad, "did not end")
	}
	for _, w := range tc.want {
		if !strings.Contains(stderr, strings.ToLower(w)) {
			bad = append(bad, fmt.Sprintf("stderr lacks %q", w))
		}
	}
	if len(tc.wantAny) > 0 {
		found := false
		for _, w := range tc.wantAny {
			found = found || strings.Contains(stderr, strings.ToLower(w))
		}
		if !found {
			bad = append(bad, fmt.Sprintf("stderr has none of %q", tc.wantAny))
		}
	}
	for _, w := range tc.notWant {
		if strings.Contains(stderr+strings.ToLower(r.stdout), strings.ToLower(w)) {
			bad = append(bad, fmt.Sprintf("output says %q", w))
		}
	}
	for _, w := range tc.wantOut {
		if !strings.Contains(r.stdout, w) {
			bad = append(bad, fmt.Sprintf("stdout lacks %q", w))
		}
	}
	if tc.code != 0 && !strings.HasPrefix(r.stderr, "error: ") && !strings.Contains(r.stderr, "\nerror: ") {
		bad = append(bad, `no "error: " line on stderr`)
	}
	if strings.Contains(r.stderr, "panic:") || strings.Contains(r.stderr, "goroutine ") || goStackLine.MatchString(r.stderr) {
		bad = append(bad, "a Go panic or stack on stderr")
	}
	if len(bad) > 0 {
		t.Errorf("%s\nkubectl opea %s\n%s", strings.Join(bad, "; "), strings.Join(tc.args, " "), r)
	}
}
