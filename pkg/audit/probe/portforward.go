package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
	"k8s.io/streaming/pkg/httpstream"

	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/pkg/clients"
	"github.com/opea-project/kubectl-opea/pkg/gatewayapi"
)

// Forwarder reaches a gateway pod's ports through the API server, as
// kubectl port-forward does. PodForwarder is the real one.
type Forwarder interface {
	// ReadyPod names a ready pod of namespace that selector (a label
	// selector) matches.
	ReadyPod(ctx context.Context, namespace, selector string) (string, error)
	// MayForward says why the user may not port-forward to the pod, ""
	// when they may. An error means the question could not be asked.
	MayForward(ctx context.Context, namespace, pod string) (string, error)
	// Open connects to the pod's port-forward.
	Open(ctx context.Context, namespace, pod string) (Tunnel, error)
}

// Tunnel is an open port-forward to one pod.
type Tunnel interface {
	// Dial opens a connection to the pod's port.
	Dial(ctx context.Context, port int32) (net.Conn, error)
	Close() error
}

// ForwardError is a port-forward that failed: the API server, the node or
// the pod did not carry the connection. The probe then checked nothing.
type ForwardError struct{ Err error }

func (e *ForwardError) Error() string { return "the port-forward failed: " + e.Err.Error() }

func (e *ForwardError) Unwrap() error { return e.Err }

// PodForwarder is a Forwarder through the API server of Config, whose
// identity (--as included) is the user's.
type PodForwarder struct {
	Config *rest.Config
	Kube   clients.Kube
}

// ReadyPod names the first, by name, of the pods selector matches in
// namespace that is running, ready and not being deleted.
func (f PodForwarder) ReadyPod(ctx context.Context, namespace, selector string) (string, error) {
	pods, err := f.Kube.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return "", err
	}
	var ready []string
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning && podReady(p) {
			ready = append(ready, p.Name)
		}
	}
	if len(ready) == 0 {
		return "", fmt.Errorf("no ready pod in namespace %s matches %s", namespace, selector)
	}
	sort.Strings(ready)
	return ready[0], nil
}

func podReady(p corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// MayForward asks the API server whether the user may create
// pods/portforward for the pod, the permission kubectl port-forward needs.
func (f PodForwarder) MayForward(ctx context.Context, namespace, pod string) (string, error) {
	review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
		ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: namespace, Verb: "create", Resource: "pods", Subresource: "portforward", Name: pod},
	}}
	got, err := f.Kube.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
	if err != nil {
		return "", err
	}
	if !got.Status.Allowed {
		return fmt.Sprintf("you may not create pods/portforward in namespace %s", namespace), nil
	}
	return "", nil
}

// Open connects to the pod's port-forward subresource as kubectl does:
// over WebSocket, falling back to SPDY where the API server or a proxy
// does not upgrade to it. It gives up when ctx ends.
func (f PodForwarder) Open(ctx context.Context, namespace, pod string) (Tunnel, error) {
	url := f.Kube.CoreV1().RESTClient().Post().Resource("pods").Namespace(namespace).Name(pod).SubResource("portforward").URL()
	transport, upgrader, err := spdy.RoundTripperFor(f.Config)
	if err != nil {
		return nil, err
	}
	spdyDialer := spdy.NewDialerForStreaming(upgrader, &http.Client{Transport: transport}, http.MethodPost, url)
	websocketDialer, err := portforward.NewSPDYOverWebsocketDialerForStreaming(url, f.Config)
	if err != nil {
		return nil, err
	}
	dialer := portforward.NewFallbackDialerForStreaming(websocketDialer, spdyDialer, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	type dialed struct {
		conn httpstream.Connection
		err  error
	}
	done := make(chan dialed, 1)
	go func() {
		conn, _, err := dialer.Dial(portforward.PortForwardProtocolV1Name)
		done <- dialed{conn, err}
	}()
	select {
	case d := <-done:
		if d.err != nil {
			return nil, d.err
		}
		return &tunnel{conn: d.conn}, nil
	case <-ctx.Done():
		go func() {
			if d := <-done; d.conn != nil {
				d.conn.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

// tunnel is one connection to a pod's port-forward: each Dial is a pair of
// streams on it, an error stream and a data stream, as the protocol wants.
type tunnel struct {
	conn      httpstream.Connection
	requestID atomic.Int64
}

func (t *tunnel) Close() error { return t.conn.Close() }

func (t *tunnel) Dial(ctx context.Context, port int32) (net.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	headers := http.Header{}
	headers.Set(corev1.StreamType, corev1.StreamTypeError)
	headers.Set(corev1.PortHeader, strconv.Itoa(int(port)))
	headers.Set(corev1.PortForwardRequestIDHeader, strconv.FormatInt(t.requestID.Add(1), 10))
	errorStream, err := t.conn.CreateStream(headers)
	if err != nil {
		return nil, &ForwardError{Err: err}
	}
	// Nothing is written to it: the node reports there why it could not
	// reach the port.
	errorStream.Close()
	headers.Set(corev1.StreamType, corev1.StreamTypeData)
	dataStream, err := t.conn.CreateStream(headers)
	if err != nil {
		t.conn.RemoveStreams(errorStream)
		return nil, &ForwardError{Err: err}
	}
	// The probe's end of a pipe whose other end is copied to and from the
	// data stream: a net.Conn with deadlines, as TLS and HTTP want.
	local, remote := net.Pipe()
	c := &forwardedConn{Conn: local, port: port}
	reported := make(chan struct{})
	go func() {
		message, _ := io.ReadAll(errorStream)
		c.setFailure(strings.TrimSpace(string(message)))
		close(reported)
	}()
	go func() {
		_, _ = io.Copy(remote, dataStream)
		// The node says why it closed the stream before the probe reads
		// the end of it.
		<-reported
		remote.Close()
		t.conn.RemoveStreams(errorStream, dataStream)
	}()
	go func() {
		_, _ = io.Copy(dataStream, remote)
		dataStream.Close()
	}()
	return c, nil
}

// forwardedConn is a connection through a port-forward. Where the node
// reported a failure, reads end with a ForwardError, not a bare end of
// stream: the probe then knows that the gateway was not reached.
type forwardedConn struct {
	net.Conn
	port    int32
	mu      sync.Mutex
	failure string
}

func (c *forwardedConn) setFailure(message string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failure = message
}

func (c *forwardedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	return n, c.forwardFailure(err)
}

// Write is Read's twin: once the node has closed the stream, a write (a
// TLS ClientHello, a request) ends with the pipe closed, and the node's
// reason is the error to report.
func (c *forwardedConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	return n, c.forwardFailure(err)
}

// forwardFailure is err, or the failure the node reported when err is the
// end of the stream it closed.
func (c *forwardedConn) forwardFailure(err error) error {
	if err == nil || !(errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe)) {
		return err
	}
	c.mu.Lock()
	failure := c.failure
	c.mu.Unlock()
	if failure != "" {
		return &ForwardError{Err: fmt.Errorf("port %d: %s", c.port, failure)}
	}
	return err
}

// forwardTarget is the gateway pod to port-forward to, found by selector
// in namespace, and its ports for HTTPS and plain HTTP (0: none).
type forwardTarget struct {
	namespace, selector string
	https, http         int32
}

// findForwardTarget is where the application's first HTTPS server or
// listener is served: the pods of its Istio Gateway, on the ports they
// listen on (a Service port's target), or the pods Istio deploys for its
// Gateway API Gateway, on the listener ports.
func findForwardTarget(v *snapshot.Scope) (forwardTarget, bool) {
	for _, gs := range v.HTTPSServers() {
		pods := v.GatewayPods(gs.Gateway)
		if len(pods) == 0 {
			continue
		}
		pod := pods[0]
		t := forwardTarget{namespace: pod.Namespace, selector: labels.Set(gs.Gateway.Selector).String(), https: v.ListenPort(pod, gs.Server.Port.Number)}
		for _, srv := range gs.Gateway.Servers {
			if srv.Port.Protocol == "HTTP" {
				t.http = v.ListenPort(pod, srv.Port.Number)
				break
			}
		}
		return t, true
	}
	for _, l := range v.APITLSListeners() {
		gw := l.Gateway
		t := forwardTarget{namespace: gw.Namespace, selector: gatewayapi.GatewayNameLabel + "=" + gw.Name, https: l.Listener.Port}
		for _, p := range v.APIPlainListeners() {
			if p.Gateway.Namespace != gw.Namespace || p.Gateway.Name != gw.Name {
				continue
			}
			if t.http == 0 || len(p.Redirects) > 0 {
				t.http = p.Listener.Port
			}
			if len(p.Redirects) > 0 {
				break
			}
		}
		return t, true
	}
	return forwardTarget{}, false
}

// probeThroughPortForward probes the gateway through a port-forward to one
// of its ready pods. Each way it can end short of probing is in the
// report: Skipped when the user may not port-forward, ForwardErr when the
// port-forward could not be opened. It returns nil when no gateway pod is
// known.
func probeThroughPortForward(ctx context.Context, v *snapshot.Scope, o Options) *snapshot.ProbeReport {
	t, ok := findForwardTarget(v)
	if !ok {
		return nil
	}
	report := &snapshot.ProbeReport{Token: o.Token != ""}
	setup, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	pod, err := o.Forwarder.ReadyPod(setup, t.namespace, t.selector)
	switch {
	case apierrors.IsForbidden(err):
		report.Skipped = fmt.Sprintf("you may not list pods in namespace %s, to find a gateway pod to port-forward to", t.namespace)
		return report
	case err != nil:
		report.ForwardErr = fmt.Sprintf("no gateway pod to port-forward to: %v", err)
		return report
	}
	report.Via = "port-forward to " + snapshot.Key(t.namespace, pod)
	reason, err := o.Forwarder.MayForward(setup, t.namespace, pod)
	switch {
	case err != nil:
		report.ForwardErr = fmt.Sprintf("could not ask whether you may port-forward to %s: %v", snapshot.Key(t.namespace, pod), err)
		return report
	case reason != "":
		report.Skipped = reason
		return report
	}
	tunnel, err := o.Forwarder.Open(setup, t.namespace, pod)
	if err != nil {
		report.ForwardErr = (&ForwardError{Err: err}).Error()
		return report
	}
	defer tunnel.Close()
	report.Address = fmt.Sprintf("port %d via %s", t.https, report.Via)
	var plain dialFunc
	if t.http != 0 {
		report.HTTPAddress = fmt.Sprintf("port %d via %s", t.http, report.Via)
		plain = func(ctx context.Context) (net.Conn, error) { return tunnel.Dial(ctx, t.http) }
	}
	https := func(ctx context.Context) (net.Conn, error) { return tunnel.Dial(ctx, t.https) }
	probeListeners(ctx, v, report, https, plain, o)
	return report
}
