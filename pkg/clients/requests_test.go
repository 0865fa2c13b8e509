package clients

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestDescribeRequest(t *testing.T) {
	for _, tc := range []struct {
		method, url, want string
	}{
		{"GET", "/api/v1/namespaces/chatqna/pods?labelSelector=a%3Db", "GET pods in namespace chatqna"},
		{"GET", "/api/v1/namespaces/chatqna", `GET namespaces "chatqna"`},
		{"GET", "/api/v1/namespaces", "GET namespaces"},
		{"PATCH", "/apis/networking.istio.io/v1/namespaces/chatqna/virtualservices/opea-ingress?fieldManager=kubectl-opea", `PATCH virtualservices.networking.istio.io "opea-ingress" in namespace chatqna`},
		{"PATCH", "/apis/cert-manager.io/v1/namespaces/istio-ingress/issuers/opea-chatqna-ca?dryRun=All", `PATCH issuers.cert-manager.io "opea-chatqna-ca" in namespace istio-ingress (dry run)`},
		{"POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", "POST selfsubjectaccessreviews.authorization.k8s.io"},
		{"GET", "/apis/gateway.networking.k8s.io/v1/gatewayclasses/istio", `GET gatewayclasses.gateway.networking.k8s.io "istio"`},
		{"GET", "/api/v1/namespaces/chatqna/pods/p/log", `GET pods "p" (log) in namespace chatqna`},
		{"GET", "/version", "GET /version"},
		{"GET", "/apis", "GET /apis"},
	} {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		if got := DescribeRequest(tc.method, u); got != tc.want {
			t.Errorf("%s %s: %q, want %q", tc.method, tc.url, got, tc.want)
		}
	}
}

// answering is a transport that answers every request with status, or
// fails it with err.
type answering struct {
	status int
	err    error
}

func (a *answering) RoundTrip(*http.Request) (*http.Response, error) {
	if a.err != nil {
		return nil, a.err
	}
	return &http.Response{StatusCode: a.status, Body: http.NoBody}, nil
}

// The recorder keeps the failures a retry did not make good, the most
// recent last, and the first request that timed out.
func TestRecorderRemembersWhatFailed(t *testing.T) {
	r := NewRecorder()
	next := &answering{}
	rt := &recording{next: next, r: r}
	send := func(method, path string) {
		req, _ := http.NewRequest(method, "https://127.0.0.1:6443"+path, nil)
		_, _ = rt.RoundTrip(req)
	}
	next.status = http.StatusNotFound
	send("GET", "/api/v1/namespaces/a")
	if f := r.Last(); f != nil {
		t.Errorf("a 404 is recorded as a failure: %v", f)
	}
	next.status = http.StatusServiceUnavailable
	send("GET", "/api/v1/namespaces/a")
	next.err = context.DeadlineExceeded
	send("PATCH", "/api/v1/namespaces/b")
	send("GET", "/api/v1/namespaces/c")
	if f := r.Stalled(); f == nil || f.Request != `PATCH namespaces "b"` {
		t.Errorf("stalled: %v, want the PATCH", f)
	}
	next.err, next.status = nil, http.StatusOK
	send("PATCH", "/api/v1/namespaces/b")
	send("GET", "/api/v1/namespaces/c")
	if f := r.Last(); f == nil || f.String() != `GET namespaces "a" answered 503 Service Unavailable` {
		t.Errorf("last: %v, want the 503 that no retry made good", f)
	}
	next.status = http.StatusUnauthorized
	send("GET", "/api")
	if f := r.Last(); f == nil || f.Status != http.StatusUnauthorized {
		t.Errorf("last: %v, want the 401", f)
	}
}

func TestExplain(t *testing.T) {
	boom := errors.New("an error on the server")
	f500 := &Failure{Request: "GET pods in namespace chatqna", Status: 500}
	f401 := &Failure{Request: "GET /api", Status: 401}
	stalled := &Failure{Request: `PATCH issuers.cert-manager.io "x" in namespace istio-ingress`, Err: context.DeadlineExceeded}
	for _, tc := range []struct {
		name          string
		e             Explained
		last, stalled *Failure
		want          string
		unchanged     bool
	}{
		{name: "nothing failed on the cluster", e: Explained{Err: boom}, unchanged: true},
		{name: "a 500", e: Explained{Err: boom}, last: f500,
			want: "the API server failed: an error on the server\n  request: GET pods in namespace chatqna answered 500 Internal Server Error\n  fix: check the API server's health"},
		{name: "a 401", e: Explained{Err: boom}, last: f401,
			want: "the cluster rejected your credentials (401): an error on the server\n  request: GET /api answered 401 Unauthorized\n  fix: refresh your kubeconfig's credentials"},
		{name: "the deadline", e: Explained{Err: boom, Late: true, Timeout: "5s", Done: "2 of 8 objects applied (listed above)"}, last: f500, stalled: stalled,
			want: "the API server did not answer within --timeout 5s; 2 of 8 objects applied (listed above)\n  request: " + stalled.Request + " stalled\n  fix: "},
	} {
		err := Explain(tc.e, tc.last, tc.stalled)
		if tc.unchanged {
			if err != tc.e.Err {
				t.Errorf("%s: %v, want the error unchanged", tc.name, err)
			}
			continue
		}
		var ce *ClusterError
		if !errors.As(err, &ce) || !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s:\n%v\nwant a ClusterError wrapping the error, starting:\n%s", tc.name, err, tc.want)
		}
	}
}
