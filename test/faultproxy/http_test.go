package faultproxy

import (
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The proxy forwards what no rule breaks, with the client's headers; a
// rule answers the matching requests after the ones it skips, or holds
// them until Release.
func TestHTTPProxyBreaksTheChosenRequests(t *testing.T) {
	backend := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization"))
	}))
	defer backend.Close()
	roots := x509.NewCertPool()
	roots.AddCert(backend.Certificate())
	isPatch := func(r *http.Request) bool { return r.Method == http.MethodPatch }
	p, err := StartHTTP(backend.URL, roots,
		&Rule{Match: func(r *http.Request) bool { return r.URL.Path == "/fail" }, Skip: 1, Status: 500, Message: "injected 500"},
		&Rule{Match: isPatch, Hold: true, Times: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	client := p.server.Client()
	do := func(method, path string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, p.URL()+path, nil)
		req.Header.Set("Authorization", "Bearer t")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := do("GET", "/fail"); code != 200 || body != "GET /fail Bearer t" {
		t.Errorf("first /fail, skipped: %d %q", code, body)
	}
	if code, body := do("GET", "/fail"); code != 500 || !strings.Contains(body, `"message":"injected 500"`) {
		t.Errorf("second /fail: %d %q", code, body)
	}
	done := make(chan string)
	go func() { _, body := do("PATCH", "/x"); done <- body }()
	if held := <-p.Held(); held != "PATCH /x" {
		t.Errorf("held %q", held)
	}
	select {
	case body := <-done:
		t.Fatalf("the held request was answered before Release: %q", body)
	default:
	}
	p.Release()
	if body := <-done; body != "PATCH /x Bearer t" {
		t.Errorf("released request: %q", body)
	}
	if _, body := do("PATCH", "/y"); body != "PATCH /y Bearer t" {
		t.Errorf("a PATCH past Times: %q", body)
	}
}
