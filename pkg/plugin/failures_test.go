package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// The three commands that talk to the cluster, with the flags each needs.
var clusterCommands = [][]string{
	{"secure", "--host", "chatqna.example.com"},
	{"unsecure"},
	{"verify"},
}

// Input every command shares is checked alike, as a usage error before the
// cluster is contacted (the kubeconfig's server does not exist: reaching
// it would exit 3).
func TestEveryCommandRejectsBadSharedInputAsUsage(t *testing.T) {
	kubeconfig := writeKubeconfig(t)
	long := strings.Repeat("m", 129)
	for _, command := range clusterCommands {
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"-n", "Bad_NS"}, `invalid namespace "Bad_NS"`},
			{[]string{"--as", "alice", "--as-group", "dev\nops"}, `invalid --as-group "dev\nops": it must not hold control characters`},
			{[]string{"--as", "alice\r"}, `invalid --as "alice\r"`},
		} {
			args := append([]string{"--kubeconfig", kubeconfig}, command...)
			r := run(t, nil, append(args, tc.args...)...)
			if r.code != ExitUsage || !strings.Contains(r.err, tc.want) || r.out != "" {
				t.Errorf("%v %v: exit %d, want %d with %q; stdout %q, stderr:\n%s", command, tc.args, r.code, ExitUsage, tc.want, r.out, r.err)
			}
		}
		if command[0] == "verify" {
			continue // verify writes nothing: no field manager
		}
		args := append([]string{"--kubeconfig", kubeconfig}, command...)
		r := run(t, nil, append(args, "--field-manager", long)...)
		if want := "is 129 bytes long, more than the API server's 128"; r.code != ExitUsage || !strings.Contains(r.err, want) {
			t.Errorf("%v --field-manager of 129 bytes: exit %d, stderr:\n%s", command, r.code, r.err)
		}
	}
}

// An unreachable cluster reads the same in every command, with the same
// fix and the same exit code.
func TestEveryCommandReportsAnUnreachableClusterAlike(t *testing.T) {
	kubeconfig := writeKubeconfig(t) // its server, 127.0.0.1:1, refuses connections
	var first string
	for _, command := range clusterCommands {
		r := run(t, nil, append([]string{"--kubeconfig", kubeconfig, "-n", "chatqna"}, command...)...)
		if r.code != ExitIncomplete {
			t.Errorf("%v: exit %d, want %d\n%s", command, r.code, ExitIncomplete, r.err)
		}
		lines := strings.Split(strings.TrimSuffix(r.err, "\n"), "\n")
		last := lines[len(lines)-2:]
		if !strings.HasPrefix(last[0], "error: cannot reach the cluster at https://127.0.0.1:1: ") || last[1] != "  fix: check --kubeconfig and --context, then 'kubectl cluster-info'" {
			t.Errorf("%v: stderr:\n%s", command, r.err)
		}
		if first == "" {
			first = strings.Join(last, "\n")
		} else if got := strings.Join(last, "\n"); got != first {
			t.Errorf("%v words it otherwise:\n%s\nthan secure:\n%s", command, got, first)
		}
	}
}

// A kubeconfig that does not exist is named, whether --kubeconfig or
// KUBECONFIG names it, instead of client-go's fallback to localhost:8080
// being reported as unreachable.
func TestEveryCommandNamesAMissingKubeconfig(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "config")
	t.Setenv("KUBECONFIG", missing+string(os.PathListSeparator)+filepath.Join(dir, "other"))
	for _, command := range clusterCommands {
		r := run(t, nil, append([]string{"-n", "chatqna"}, command...)...)
		want := "error: no kubeconfig: " + missing + ", " + filepath.Join(dir, "other") + " do not exist\n" +
			"  fix: pass --kubeconfig with the path of your cluster's kubeconfig (or set KUBECONFIG), or --server\n"
		if r.code != ExitIncomplete || !strings.HasSuffix(r.err, want) || strings.Contains(r.err, "localhost:8080") {
			t.Errorf("KUBECONFIG of missing files, %v: exit %d, stderr:\n%s\nwant the end:\n%s", command, r.code, r.err, want)
		}
		r = run(t, nil, append([]string{"--kubeconfig", missing, "-n", "chatqna"}, command...)...)
		if r.code != ExitIncomplete || !strings.Contains(r.err, "reading the kubeconfig: stat "+missing+": no such file or directory") {
			t.Errorf("--kubeconfig of a missing file, %v: exit %d, stderr:\n%s", command, r.code, r.err)
		}
	}
}

// apiServerAnswering is a TLS server that answers /version as an API
// server does and every other request with answer, and a kubeconfig for
// it.
func apiServerAnswering(t *testing.T, answer http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/version" && r.Header.Get("Authorization") == "Bearer good" {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"major":"1","minor":"37","gitVersion":"v1.37.2"}`))
			return
		}
		answer(w, r)
	}))
	t.Cleanup(srv.Close)
	return writeKubeconfigFor(t, srv.URL, "good")
}

// writeKubeconfigFor writes a kubeconfig for server, whose certificate it
// does not check, with token.
func writeKubeconfigFor(t *testing.T, server, token string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config")
	data := `apiVersion: v1
kind: Config
clusters:
- name: test
  cluster: {server: "` + server + `", insecure-skip-tls-verify: true}
users:
- name: alice
  user: {token: ` + token + `}
contexts:
- name: test
  context: {cluster: test, user: alice, namespace: chatqna}
current-context: test
`
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func status(w http.ResponseWriter, code int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","message":"` + message + `","code":` + strconv.Itoa(code) + `}`))
}

// Credentials the cluster rejects are not a cluster out of reach: every
// command says so, and what to do, exit 3.
func TestEveryCommandReportsRejectedCredentials(t *testing.T) {
	kubeconfig := apiServerAnswering(t, func(w http.ResponseWriter, _ *http.Request) {
		status(w, http.StatusUnauthorized, "Unauthorized")
	})
	kubeconfig = rewriteToken(t, kubeconfig, "expired")
	for _, command := range clusterCommands {
		r := run(t, nil, append([]string{"--kubeconfig", kubeconfig}, command...)...)
		if r.code != ExitIncomplete || !strings.Contains(r.err, "error: the cluster rejected your credentials (401): ") ||
			!strings.Contains(r.err, "fix: refresh your kubeconfig's credentials") || strings.Contains(r.err, "cannot reach") {
			t.Errorf("%v: exit %d, stderr:\n%s", command, r.code, r.err)
		}
	}
}

func rewriteToken(t *testing.T, kubeconfig, token string) string {
	t.Helper()
	data, err := os.ReadFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kubeconfig, []byte(strings.Replace(string(data), "token: good", "token: "+token, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	return kubeconfig
}

// A failing API server gets an error that names the request it failed,
// with a fix, exit 3; client-go's own log lines (klog writes to the
// process's stderr, not the command's) stay off stderr.
func TestEveryCommandNamesTheRequestTheServerFailed(t *testing.T) {
	kubeconfig := apiServerAnswering(t, func(w http.ResponseWriter, _ *http.Request) {
		status(w, http.StatusInternalServerError, "injected 500")
	})
	processStderr := captureProcessStderr(t)
	for _, command := range clusterCommands {
		r := run(t, nil, append([]string{"--kubeconfig", kubeconfig}, command...)...)
		if r.code != ExitIncomplete || !strings.Contains(r.err, "error: the API server failed: ") || !strings.Contains(r.err, "  request: ") ||
			!strings.Contains(r.err, "answered 500 Internal Server Error\n") || !strings.Contains(r.err, "  fix: check the API server's health") {
			t.Errorf("%v: exit %d, stderr:\n%s", command, r.code, r.err)
		}
	}
	if logged := processStderr(); logged != "" {
		t.Errorf("client-go logged to stderr:\n%s", logged)
	}

	// verify -o json says the same in its document, for CI.
	r := run(t, nil, "--kubeconfig", kubeconfig, "verify", "-o", "json")
	var report struct{ Error string }
	if err := json.Unmarshal([]byte(r.out), &report); err != nil || "error: "+report.Error+"\n" != r.err {
		t.Errorf("verify -o json: error %q in the document (%v), stderr:\n%s", report.Error, err, r.err)
	}
}

// captureProcessStderr points os.Stderr at a file until the returned
// function, which gives what was written there.
func captureProcessStderr(t *testing.T) func() string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = f
	restore := func() { os.Stderr = saved }
	t.Cleanup(restore)
	return func() string {
		restore()
		data, err := os.ReadFile(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
}

// An API server that stops answering holds no command past its --timeout:
// the error names the request that stalled, exit 3.
func TestEveryCommandEndsAtItsTimeoutNamingTheStalledRequest(t *testing.T) {
	kubeconfig := apiServerAnswering(t, func(_ http.ResponseWriter, r *http.Request) {
		// The body read first: only then does the server notice a client
		// that gives up (a POST's, such as secure's access reviews).
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	})
	// secure asks first whether it may do what it needs, the others read
	// the served APIs.
	stalled := map[string]string{"secure": "POST selfsubjectaccessreviews.authorization.k8s.io stalled", "unsecure": "GET /api stalled", "verify": "GET /api stalled"}
	for _, command := range clusterCommands {
		r := run(t, nil, append(append([]string{"--kubeconfig", kubeconfig}, command...), "--timeout", "1s")...)
		if r.code != ExitIncomplete || !strings.HasPrefix(r.err, "error: the API server did not answer within --timeout 1s\n") ||
			!strings.Contains(r.err, "\n  request: "+stalled[command[0]]+"\n") {
			t.Errorf("%v: exit %d, stderr:\n%s", command, r.code, r.err)
		}
	}
}

// --wait and --timeout have one shape, one default and one meaning in
// every command.
func TestEveryCommandHasTheSameWaitAndTimeout(t *testing.T) {
	root := NewCmdOpea(genericiooptions.IOStreams{In: strings.NewReader(""), Out: io.Discard, ErrOut: io.Discard})
	var first *pflag.Flag
	for _, command := range clusterCommands {
		c, _, err := root.Find(command[:1])
		if err != nil {
			t.Fatal(err)
		}
		wait, timeout := c.Flags().Lookup("wait"), c.Flags().Lookup("timeout")
		if wait == nil || timeout == nil {
			t.Fatalf("%s lacks --wait or --timeout", command[0])
		}
		if wait.Value.Type() != "bool" || wait.NoOptDefVal != "true" || wait.DefValue != "false" {
			t.Errorf("%s --wait: type %q, given bare %q, default %q", command[0], wait.Value.Type(), wait.NoOptDefVal, wait.DefValue)
		}
		if first == nil {
			first = timeout
		} else if timeout.DefValue != first.DefValue || timeout.Usage != first.Usage || timeout.Value.Type() != first.Value.Type() {
			t.Errorf("%s --timeout (%s, default %s: %q) differs from secure's (%s, default %s: %q)", command[0],
				timeout.Value.Type(), timeout.DefValue, timeout.Usage, first.Value.Type(), first.DefValue, first.Usage)
		}
	}
}

// An interrupt while a command reads stops it at once: nothing was
// written, it says so, exit 130.
func TestEveryCommandInterruptedWhileReading(t *testing.T) {
	arrived := make(chan struct{}, 16)
	kubeconfig := apiServerAnswering(t, func(_ http.ResponseWriter, r *http.Request) {
		select {
		case arrived <- struct{}{}:
		default: // several requests at once (secure's access reviews): one is enough
		}
		_, _ = io.Copy(io.Discard, r.Body) // then the server notices the client giving up
		<-r.Context().Done()
	})
	for _, command := range clusterCommands {
		ctx, interrupt := context.WithCancel(context.Background())
		go func() { <-arrived; interrupt() }()
		var out, errOut bytes.Buffer
		cmd := NewCmdOpea(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
		cmd.SetArgs(append([]string{"--kubeconfig", kubeconfig}, command...))
		err := cmd.ExecuteContext(ctx)
		interrupt()
		PrintError(&errOut, err)
		if code := ExitCode(err); code != ExitInterrupted || errOut.String() != "error: interrupted before anything was written\n" {
			t.Errorf("%v: exit %d, stderr:\n%s", command, code, errOut.String())
		}
	}
}
