package plugin

import (
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"
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
		{[]string{"chatqna.example.com"}, []string{`kubectl opea secure takes no arguments, got "chatqna.example.com"`}},
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

func TestSecureSaysWhenTheDefaultHostIsUsed(t *testing.T) {
	kubeconfig := writeKubeconfig(t) // its server is unreachable: secure stops there
	r := run(t, nil, "--kubeconfig", kubeconfig, "secure", "-n", "chatqna")
	if !strings.Contains(r.err, "No --host given: using *.intel.com") {
		t.Errorf("no notice of the default host:\n%s", r.err)
	}
	if r.code != ExitIncomplete || !strings.Contains(r.err, "cannot reach the cluster at https://127.0.0.1:1") {
		t.Errorf("exit %d, stderr:\n%s", r.code, r.err)
	}
	withHost := run(t, nil, "--kubeconfig", kubeconfig, "secure", "-n", "chatqna", "--host", "a.example.com")
	if strings.Contains(withHost.err, "No --host given") {
		t.Errorf("notice printed although --host was given:\n%s", withHost.err)
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
		{[]string{"unsecure", "chatqna"}, `kubectl opea unsecure takes no arguments, got "chatqna"`},
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
	o.namespace, o.Hosts, o.TLSSecret = "chatqna", []string{"chatqna.example.com"}, "istio-gateway"
	if err := o.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}
