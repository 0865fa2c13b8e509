package secure

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/opea-project/kubectl-opea/pkg/discover"
	"github.com/opea-project/kubectl-opea/pkg/ownership"
	"github.com/opea-project/kubectl-opea/pkg/problems"
)

// allFacts are facts with every one known.
func allFacts() *facts {
	certNamespace := "istio-ingress"
	return &facts{
		namespace:     &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "chatqna"}},
		entry:         &discover.Entry{Service: "chatqna-nginx", Port: 80},
		gateway:       &discover.Gateway{Namespace: "istio-ingress"},
		apis:          &discover.APIs{Networking: "v1", Security: "v1", CertManager: "v1"},
		certNamespace: &certNamespace,
	}
}

// Each row has a name of its own, for "could not check <name>", and
// declares the facts it reads, each once; every fact is needed by a row, so
// that one unknown always stops a row, and with it the plan.
func TestPreconditionRowsAreNamedAndDeclareTheirNeeds(t *testing.T) {
	names := map[string]bool{}
	needed := map[fact]bool{}
	for i, row := range preconditions {
		if row.name == "" || names[row.name] {
			t.Errorf("row %d: name %q is empty or not unique", i, row.name)
		}
		names[row.name] = true
		if len(row.needs) == 0 {
			t.Errorf("row %q declares no facts", row.name)
		}
		if row.check == nil {
			t.Errorf("row %q has no check", row.name)
		}
		seen := map[fact]bool{}
		for _, n := range row.needs {
			if n < 0 || n >= numFacts || seen[n] {
				t.Errorf("row %q: fact %d unknown or declared twice", row.name, n)
			}
			seen[n], needed[n] = true, true
		}
	}
	for n := fact(0); n < numFacts; n++ {
		if !needed[n] {
			t.Errorf("no row needs %s: were it unknown with no problem said, nothing would refuse", n)
		}
		if factNames[n] == "" {
			t.Errorf("fact %d has no name", n)
		}
	}
}

// A row sees only the facts it declares: every fact is a pointer of its
// own, view copies exactly the declared ones, and known agrees.
func TestFactsViewHoldsOnlyTheDeclaredFacts(t *testing.T) {
	full := allFacts()
	typ := reflect.TypeOf(*full)
	for i := 0; i < typ.NumField(); i++ {
		if typ.Field(i).Type.Kind() != reflect.Pointer {
			t.Errorf("facts.%s is no pointer: a row could read it undeclared", typ.Field(i).Name)
		}
		if reflect.ValueOf(*full).Field(i).IsNil() {
			t.Fatalf("allFacts leaves facts.%s unknown", typ.Field(i).Name)
		}
	}
	if typ.NumField() != int(numFacts) {
		t.Fatalf("facts has %d fields for %d facts", typ.NumField(), numFacts)
	}
	fieldOf := map[int]fact{}
	for n := fact(0); n < numFacts; n++ {
		v := reflect.ValueOf(*full.view([]fact{n}))
		var set []int
		for i := 0; i < v.NumField(); i++ {
			if !v.Field(i).IsNil() {
				set = append(set, i)
			}
		}
		if len(set) != 1 {
			t.Errorf("view of %s holds %d facts, want 1", n, len(set))
			continue
		}
		if other, dup := fieldOf[set[0]]; dup {
			t.Errorf("%s and %s share facts.%s", n, other, typ.Field(set[0]).Name)
		}
		fieldOf[set[0]] = n
		if !full.known(n) || full.view(nil).known(n) {
			t.Errorf("known(%s) does not follow the field", n)
		}
	}
	if len(fieldOf) != int(numFacts) {
		t.Errorf("views cover %d of %d fields", len(fieldOf), numFacts)
	}
}

// withoutFact is f with fact n unknown.
func withoutFact(f *facts, n fact) *facts {
	var others []fact
	for m := fact(0); m < numFacts; m++ {
		if m != n {
			others = append(others, m)
		}
	}
	return f.view(others)
}

// A row that needs an unknown fact does not run; the others do. The
// problem that says why the fact is unknown refuses in its place; were
// there none, each such row refuses as could not check, naming the fact:
// a row that did not run never passes.
func TestPreconditionNeedingAnUnknownFactDoesNotRun(t *testing.T) {
	for n := fact(0); n < numFacts; n++ {
		t.Run(n.String(), func(t *testing.T) {
			ran := map[string]bool{}
			rows := make([]precondition, len(preconditions))
			for i, row := range preconditions {
				rows[i] = row
				rows[i].check = func(context.Context, *planner, *facts) []error {
					ran[row.name] = true
					return nil
				}
			}
			needs := func(row precondition) bool {
				for _, m := range row.needs {
					if m == n {
						return true
					}
				}
				return false
			}
			p := &planner{notices: &bytes.Buffer{}}

			// No problem says why: the rows refuse themselves.
			got := p.runPreconditions(context.Background(), withoutFact(allFacts(), n), rows, nil)
			var want []string
			for _, row := range rows {
				if needs(row) {
					if ran[row.name] {
						t.Errorf("row %q ran without %s", row.name, n)
					}
					want = append(want, fmt.Sprintf("could not check %s: %s could not be read", row.name, n))
				} else if !ran[row.name] {
					t.Errorf("row %q did not run, though it does not need %s", row.name, n)
				}
			}
			var whats []string
			for _, prob := range got {
				whats = append(whats, prob.What)
			}
			if strings.Join(whats, "\n") != strings.Join(want, "\n") || len(want) == 0 {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(whats, "\n"), strings.Join(want, "\n"))
			}

			// The fact's own problem refuses, alone.
			clear(ran)
			why := problems.New("could not check that "+n.String()+" exists: injected", "")
			got = p.runPreconditions(context.Background(), withoutFact(allFacts(), n), rows, problems.List{why})
			if len(got) != 1 || got[0] != why {
				t.Errorf("problems %v, want only the fact's", got)
			}
			for _, row := range rows {
				if needs(row) && ran[row.name] {
					t.Errorf("row %q ran without %s", row.name, n)
				}
			}
		})
	}
}

// Problems of the rows follow those of the facts, in the rows' order, and
// a row's errors that are no problems yet become problems.
func TestPreconditionProblemsFollowTheFactsInRowOrder(t *testing.T) {
	rows := []precondition{
		{name: "first", needs: []fact{factAPIs}, check: func(context.Context, *planner, *facts) []error {
			return []error{nil, problems.New("first", "fix it"), fmt.Errorf("second")}
		}},
		{name: "passes", needs: []fact{factAPIs}, check: func(context.Context, *planner, *facts) []error { return nil }},
		{name: "last", needs: []fact{factAPIs}, check: func(context.Context, *planner, *facts) []error {
			return []error{problems.New("third", "")}
		}},
	}
	p := &planner{notices: &bytes.Buffer{}}
	got := p.runPreconditions(context.Background(), allFacts(), rows, problems.List{problems.New("fact", "")})
	if want := "fact\nfirst\n  fix: fix it\nsecond\nthird"; got.Error() != want {
		t.Errorf("problems:\n%s\nwant:\n%s", got, want)
	}
	if got := p.runPreconditions(context.Background(), allFacts(), rows[1:2], nil); len(got) != 0 {
		t.Errorf("problems %v where every row passes", got)
	}
}

// runRow runs row as plan does, on the facts it declares, and recovers the
// panic of a row that reads one it does not.
func runRow(ctx context.Context, p *planner, f *facts, row precondition) (errs []error, panicked interface{}) {
	defer func() { panicked = recover() }()
	return row.check(ctx, p, f.view(row.needs)), nil
}

// The harness below catches a row that reads a fact it did not declare.
func TestRunRowCatchesAnUndeclaredFact(t *testing.T) {
	row := precondition{name: "reads the entry", needs: []fact{factAPIs}, check: func(_ context.Context, _ *planner, f *facts) []error {
		return []error{fmt.Errorf("%s", f.entry.Service)}
	}}
	if _, panicked := runRow(context.Background(), &planner{}, allFacts(), row); panicked == nil {
		t.Fatal("a row reading an undeclared fact ran")
	}
	row.needs = append(row.needs, factEntry)
	if _, panicked := runRow(context.Background(), &planner{}, allFacts(), row); panicked != nil {
		t.Fatalf("a row reading a declared fact: %v", panicked)
	}
}

// healthyCluster holds everything secure needs in either mode, an earlier
// lockdown (so that a plain rerun keeps it, and --lockdown=false removes
// it), an issuer of its own in either gateway namespace, and a Secret to
// serve.
func healthyCluster(t *testing.T) fakeCluster {
	t.Helper()
	typed := append(append(chatqnaPods(), classicGateway()...), entry(intstr.FromString("http")), istiod("istio-system", ""), meshConfig("trustDomain: corp.example\n"))
	issuers := []*unstructured.Unstructured{}
	for _, ns := range []string{"istio-ingress", "chatqna"} {
		typed = append(typed, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "my-tls"},
			Data: map[string][]byte{"tls.crt": []byte("cert"), "tls.key": []byte("key")}})
		issuer := object("cert-manager.io/v1", "Issuer", ns, "my-issuer", 0, map[string]interface{}{"ca": map[string]interface{}{"secretName": "ca"}})
		issuers = append(issuers, issuer)
	}
	names := ownership.NamesFor("chatqna")
	policies := []*unstructured.Unstructured{
		lockdownPolicy(names.DenyByDefault, nil),
		lockdownPolicy(names.AllowApp, map[string]string{ownership.AllowPrincipalsAnnotation: "corp.example/ns/monitoring/sa/prometheus"}),
		lockdownPolicy(names.AllowIngress, nil),
	}
	objs := append(append([]*unstructured.Unstructured{gatewayClass("istio", accepted("True", "Accepted", ""))}, issuers...), policies...)
	return newFakeCluster(t, "v1", typed, objs).servePolicies()
}

// Every row, run on the facts it declares alone, reads no other: in either
// mode, with the lockdown on, kept and removed, each source of the
// certificate, with and without the redirect, on a cluster where every
// precondition holds (so that each row runs to its end).
func TestEveryPreconditionReadsOnlyTheFactsItDeclares(t *testing.T) {
	for _, gatewayAPI := range []bool{false, true} {
		for _, lockdown := range []LockdownChoice{LockdownOn, LockdownAsIs, LockdownOff} {
			for _, cert := range []string{"own CA", "issuer", "secret"} {
				for _, redirect := range []bool{true, false} {
					name := fmt.Sprintf("gateway-api=%v/lockdown=%d/%s/redirect=%v", gatewayAPI, lockdown, cert, redirect)
					t.Run(name, func(t *testing.T) {
						req := lockdownRequest(gatewayAPI)
						req.Lockdown, req.HTTPRedirect = lockdown, redirect
						switch cert {
						case "issuer":
							req.Issuer = "my-issuer"
						case "secret":
							req.TLSSecret = "my-tls"
						}
						c := healthyCluster(t)
						p := &planner{Request: req, notices: &bytes.Buffer{}, clients: c.Getter(nil)}
						ctx := context.Background()
						disco, err := p.connect(ctx)
						if err != nil {
							t.Fatal(err)
						}
						f, found, err := p.gather(ctx, disco)
						if err != nil || len(found) > 0 {
							t.Fatalf("facts: %v %v", err, found)
						}
						if _, ok := f.missing([]fact{factNamespace, factEntry, factGateway, factAPIs, factCertNamespace}); !ok {
							t.Fatal("a fact is unknown on a healthy cluster")
						}
						for _, row := range preconditions {
							errs, panicked := runRow(ctx, p, f, row)
							if panicked != nil {
								t.Errorf("row %q reads a fact it does not declare: %v", row.name, panicked)
							}
							if probs := asProblems(errs...); len(probs) > 0 {
								t.Errorf("row %q refuses a healthy cluster: %v", row.name, probs)
							}
						}
						if (lockdown == LockdownOff) != (p.planned.unlock != nil) || (lockdown != LockdownOff) != (p.planned.lockdown != nil) {
							t.Errorf("lockdown %d planned: unlock %v, policies %v", lockdown, p.planned.unlock, p.planned.lockdown)
						}
					})
				}
			}
		}
	}
}
