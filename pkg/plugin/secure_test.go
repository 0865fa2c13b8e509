package plugin

import (
	"errors"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/opea-project/kubectl-opea/pkg/problems"
)

// Bad flags are refused before any API call: the kubeconfig here names a
// server that does not exist, so reaching it would fail differently.
func TestSecureRejectsBadFlagsBeforeContactingTheCluster(t *testing.T) {
	kubeconfig := writeKubeconfig(t)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--host", "bad_host.example.com"}, []string{`invalid --host "bad_host.example.com"`}},
		{[]string{"--dry-run", "maybe"}, []string{`invalid argument "maybe" for "--dry-run" flag: use "none", "client" or "server"`}},
		{[]string{"-o", "table"}, []string{`unsupported output format "table"`}},
		{[]string{"--issuer", "le", "--tls-secret", "s"}, []string{"--issuer and --tls-secret exclude each other"}},
		{[]string{"--issuer-kind", "Vault"}, []string{`invalid --issuer-kind "Vault"`}},
		{[]string{"--wait", "--dry-run=server"}, []string{"--wait waits for a certificate"}},
		{[]string{"--gateway-selector", "istio"}, []string{`invalid --gateway-selector "istio"`}},
		{[]string{"--port", "70000"}, []string{"invalid --port 70000"}},
		{[]string{"--gateway-selector", "istio=ingress,istio=gw"}, []string{"label istio is given twice (ingress and gw)"}},
		{[]string{"--gateway-selector", "istio=in gress"}, []string{`label value "in gress"`}},
		{[]string{"--timeout", "0"}, []string{"invalid --timeout 0s"}},
		{[]string{"--wait", "--timeout", "-1s"}, []string{"invalid --timeout -1s"}},
		{[]string{"--field-manager", ""}, []string{"--field-manager must not be empty"}},
		{[]string{"--field-manager", strings.Repeat("m", 129)}, []string{"invalid --field-manager", "is 129 bytes long, more than the API server's 128"}},
		{[]string{"--field-manager", "a\tb"}, []string{"invalid --field-manager", "unprintable character U+0009"}},
		{[]string{"chatqna.example.com"}, []string{`kubectl opea secure takes no arguments, got "chatqna.example.com": did you mean kubectl opea secure --host chatqna.example.com?`}},
		{[]string{"chatqna"}, []string{`kubectl opea secure takes no arguments, got "chatqna": did you mean kubectl opea secure -n chatqna?`}},
		{[]string{"--host", "https://chatqna.example.com/"}, []string{`invalid --host "https://chatqna.example.com/": is a URL, not a host name: give the bare host name: chatqna.example.com`}},
		{[]string{"--host", "a.example.com", "--diff", "--dry-run=server"}, []string{"--diff shows the server's dry run of every change as a diff and cannot be used with --dry-run"}},
		{[]string{"--host", "a.example.com", "--diff", "-o", "yaml"}, []string{"--diff prints a diff and cannot be used with -o"}},
		{[]string{"--host", "a.example.com", "--diff", "--wait"}, []string{"--diff writes nothing, so there is nothing to --wait for"}},
		// Several problems are reported together.
		{[]string{"--host", "*", "--port", "70000", "-o", "xml"}, []string{`invalid --host "*"`, "invalid --port 70000", `unsupported output format "xml"`}},
	} {
		r := run(t, nil, append([]string{"--kubeconfig", kubeconfig, "secure", "-n", "chatqna"}, tc.args...)...)
		if r.code != ExitUsage {
			t.Errorf("%v: exit %d, want %d (stderr %q)", tc.args, r.code, ExitUsage, r.err)
		}
		for _, want := range tc.want {
			if !strings.Contains(r.err, want) {
				t.Errorf("%v: stderr lacks %q:\n%s", tc.args, want, r.err)
			}
		}
	}
}

// secure has no default host: it would issue a certificate for a domain
// the user may not own. Without --host it is a usage error, with an example,
// before any request.
func TestSecureRequiresHost(t *testing.T) {
	kubeconfig := writeKubeconfig(t) // its server is unreachable: a request would fail otherwise
	for _, args := range [][]string{
		{"secure", "-n", "chatqna"},
		{"secure", "-n", "chatqna", "--lockdown"},
		{"secure", "-n", "chatqna", "--gateway-api", "--dry-run=client", "-o", "yaml"},
	} {
		r := run(t, nil, append([]string{"--kubeconfig", kubeconfig}, args...)...)
		want := "error: --host is required: the name clients use to reach the application, in a domain you control; e.g. kubectl opea secure -n chatqna --host chatqna.example.com\n" +
			"See 'kubectl opea secure --help' for usage\n"
		if r.code != ExitUsage || r.err != want {
			t.Errorf("%v: exit %d, want %d; stderr:\n%s\nwant:\n%s", args, r.code, ExitUsage, r.err, want)
		}
		if r.out != "" {
			t.Errorf("%v: stdout %q", args, r.out)
		}
	}
	withHost := run(t, nil, "--kubeconfig", kubeconfig, "secure", "-n", "chatqna", "--host", "a.example.com")
	if withHost.code != ExitIncomplete || !strings.Contains(withHost.err, "cannot reach the cluster at https://127.0.0.1:1") {
		t.Errorf("with --host: exit %d, stderr:\n%s", withHost.code, withHost.err)
	}
}

// --diff exits as kubectl diff: 0 without differences, 1 with, and above 1
// for an error, a failed precondition included; differences print no
// error line.
func TestSecureDiffExitCodes(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		code int
	}{
		{"no differences", nil, 0},
		{"differences", &ExitError{Code: ExitFailure, Err: errDifferences}, ExitFailure},
		{"a precondition failed", problems.New("namespace \"chatqna\" does not exist", "check -n"), ExitIncomplete},
		{"an error of exit code 1", &ExitError{Code: ExitFailure, Err: errors.New("failed")}, ExitIncomplete},
		{"a usage error", &ExitError{Code: ExitUsage, Err: errors.New("bad")}, ExitUsage},
		{"interrupted", &ExitError{Code: ExitInterrupted, Err: errors.New("interrupted")}, ExitInterrupted},
	} {
		if got := ExitCode(diffExit(tc.err)); got != tc.code {
			t.Errorf("%s: exit %d, want %d", tc.name, got, tc.code)
		}
	}
	var printed strings.Builder
	PrintError(&printed, diffExit(&ExitError{Code: ExitFailure, Err: errDifferences}))
	if printed.Len() != 0 {
		t.Errorf("differences printed %q", printed.String())
	}
	PrintError(&printed, diffExit(errors.New("could not read")))
	if printed.String() != "error: could not read\n" {
		t.Errorf("an error printed %q", printed.String())
	}
}

func TestUnsecureAndVersionRejectBadInputBeforeContactingTheCluster(t *testing.T) {
	kubeconfig := writeKubeconfig(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"unsecure", "-n", "chatqna", "--timeout", "0"}, "invalid --timeout 0s"},
		{[]string{"unsecure", "-n", "chatqna", "--wait", "--timeout", "-5s"}, "invalid --timeout -5s"},
		{[]string{"unsecure", "-n", "chatqna", "--field-manager", ""}, "--field-manager must not be empty"},
		{[]string{"unsecure", "chatqna"}, `kubectl opea unsecure takes no arguments, got "chatqna": did you mean kubectl opea unsecure -n chatqna?`},
		{[]string{"verify", "chatqna"}, `kubectl opea verify takes no arguments, got "chatqna": did you mean kubectl opea verify -n chatqna?`},
		{[]string{"verify", "a", "b"}, `kubectl opea verify takes no arguments, got "a b"`},
		{[]string{"version", "extra"}, `kubectl opea version takes no arguments, got "extra"`},
	} {
		r := run(t, nil, append([]string{"--kubeconfig", kubeconfig}, tc.args...)...)
		if r.code != ExitUsage || !strings.Contains(r.err, tc.want) {
			t.Errorf("%v: exit %d, want %d with %q; stderr:\n%s", tc.args, r.code, ExitUsage, tc.want, r.err)
		}
	}
}

// No Secret name prefix is reserved by istiod any more (pilot/pkg/xds/sds.go,
// pilot/pkg/model/credentials): a --tls-secret named istio-* is accepted.
func TestSecureAcceptsATLSSecretNamedIstio(t *testing.T) {
	o := NewSecureOptions(nil, genericiooptions.IOStreams{})
	o.Namespace, o.Hosts, o.TLSSecret = "chatqna", []string{"chatqna.example.com"}, "istio-gateway"
	if err := o.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}
