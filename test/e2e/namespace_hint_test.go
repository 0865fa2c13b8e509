package e2e

import (
	"strings"
	"testing"
)

// A first use, on the real API server: verify in a namespace holding no
// OPEA application says so in one line and names a namespace that holds
// one; secure -n with a typo says the namespace does not exist, names the
// application's, and advises no gateway for the missing namespace.
func TestNamespaceWithoutApplicationNamesTheApplication(t *testing.T) {
	app := newChatQnA(t, "chatqna")
	empty := newNamespace(t)

	r := opea(t, "verify", "-n", empty)
	if r.code != 3 || r.stdout != "" || !strings.HasPrefix(r.stderr, `error: namespace "`+empty+`" holds no OPEA application`) ||
		!strings.Contains(r.stderr, "fix: did you mean -n ") || strings.Count(r.stderr, "\n") != 2 {
		t.Errorf("verify -n %s: exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit 3 and two lines: the namespace holds no application, did you mean", empty, r.code, r.stdout, r.stderr)
	}

	// The application's namespace with two letters swapped.
	typo := app[:4] + app[5:6] + app[4:5] + app[6:]
	r = opea(t, "secure", "-n", typo, "--host", app+".example.com")
	if r.code != 1 || !strings.Contains(r.stderr, `namespace "`+typo+`" does not exist`+"\n  fix: did you mean -n "+app+"? ") {
		t.Errorf("secure -n %s: exit %d, want 1 and a fix naming %s\n%s", typo, r.code, app, r.stderr)
	}
	if strings.Contains(r.stderr, "--gateway-api") || strings.Contains(r.stderr, "in namespace "+typo) {
		t.Errorf("secure -n %s advises a gateway for the namespace that does not exist:\n%s", typo, r.stderr)
	}
}
