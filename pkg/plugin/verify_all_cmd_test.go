package plugin

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// verify -A finds ChatQnA by its chatqna-nginx Service beside the chatqna
// megaservice, and -o short says in one line why it fails.
func TestVerifyAllNamespacesShort(t *testing.T) {
	c := fakeClusterWith(t, chatQnANotSecured()...)
	r := runOn(t, c, "verify", "-A", "-o", "short")
	want := result{
		out:  "chatqna: failing: 4 checks failed: enrolment.namespace-label, enrolment.pods-redirected, mtls.namespace-strict, ingress.gateway-found\n",
		err:  "error: 1 of 1 OPEA namespace failed: chatqna\n",
		code: ExitFailure,
	}
	if diff := cmp.Diff(want, r, cmp.AllowUnexported(result{})); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// No OPEA application is not an error: kubectl's "No resources found" on
// stderr; -o json an empty list.
func TestVerifyAllNamespacesFindsNone(t *testing.T) {
	c := fakeClusterWith(t, ambientIstio()...)
	r := runOn(t, c, "verify", "-A", "-l", "team=rag")
	want := result{err: "No OPEA application found in the namespaces matching team=rag.\n"}
	if diff := cmp.Diff(want, r, cmp.AllowUnexported(result{})); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	r = runOn(t, c, "verify", "-A", "-o", "json")
	wantJSON := `{
  "allNamespaces": true,
  "success": true,
  "summary": {
    "namespaces": 0,
    "secured": 0,
    "failing": 0,
    "incomplete": 0,
    "unreadable": 0
  },
  "namespaces": []
}
`
	if r.code != 0 || r.out != wantJSON {
		t.Errorf("-o json: exit %d\n%s%s", r.code, r.out, r.err)
	}
}

func TestVerifyAllNamespacesUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-l", "team=rag"}, "--selector chooses namespaces: use it with --all-namespaces (-A)"},
		{[]string{"-A", "-l", "team in (rag"}, `invalid --selector "team in (rag"`},
		{[]string{"-A", "--probe-address", "127.0.0.1:8443"}, "--probe-address names one gateway: leave it out with --all-namespaces"},
		{[]string{"--probe=false", "--probe-address", "127.0.0.1:8443"}, "--probe=false skips the probe --probe-address points"},
		{[]string{"-A", "--service", "chatqna-nginx"}, "--service names one application's entry: leave it out with --all-namespaces"},
	} {
		c := fakeClusterWith(t, chatQnANotSecured()...)
		r := runOn(t, c, append([]string{"verify"}, tc.args...)...)
		if r.code != ExitUsage || !strings.Contains(r.err, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, r.code, r.err, ExitUsage, tc.want)
		}
		if len(c.kube.Actions()) > 0 {
			t.Errorf("%v: read the cluster before refusing its flags: %v", tc.args, c.kube.Actions())
		}
	}
}

// --wait with -A waits for every namespace, and times out as verify -n does.
func TestVerifyAllNamespacesWaitTimesOut(t *testing.T) {
	c := fakeClusterWith(t, chatQnANotSecured()...)
	r := runOn(t, c, "verify", "-A", "-o", "short", "--wait", "--timeout", "1s")
	if r.code != 124 || !strings.HasPrefix(r.out, "chatqna: failing: ") || !strings.Contains(r.err, "Waiting for chatqna...") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.out, r.err)
	}
}

// --probe=false skips the probe's checks instead of warning that there is
// no address to probe.
func TestVerifyProbeOffSkipsTheProbe(t *testing.T) {
	c := securedCluster(t, securedChatQnA(t, issueGatewayCredential(t)))
	for _, args := range [][]string{{}, {"-A"}} {
		on := runVerify(t, c, append(args, "-o", "json", "--probe=true", "--probe-via", "address")...)
		off := runVerify(t, c, append(args, "-o", "json", "--probe=false")...)
		if !strings.Contains(off.out, "the live probe was turned off (--probe=false)") || !strings.Contains(on.out, "no address to probe") {
			t.Errorf("%v: the probe's check does not say it was turned off with --probe=false only:\n%s", args, off.out)
		}
	}
}
