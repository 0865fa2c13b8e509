package read

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// pagedPods serves n pods' metadata in the pages a list request asks for,
// as the API server does with limit and continue, and records each request.
type pagedPods struct {
	n        int
	requests []metav1.ListOptions
}

func (p *pagedPods) list(_ context.Context, opts metav1.ListOptions) (runtime.Object, error) {
	p.requests = append(p.requests, opts)
	start := 0
	if opts.Continue != "" {
		start, _ = strconv.Atoi(opts.Continue)
	}
	end := p.n
	if opts.Limit > 0 && start+int(opts.Limit) < p.n {
		end = start + int(opts.Limit)
	}
	out := &metav1.PartialObjectMetadataList{}
	for i := start; i < end; i++ {
		out.Items = append(out.Items, metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pod-%d", i)}})
	}
	if end < p.n {
		out.Continue = strconv.Itoa(end)
	}
	return out, nil
}

// A list goes in pages of pageSize, each item visited once, in order, and
// the caller's options (the field selector) sent with every page.
func TestEachItemListsInPages(t *testing.T) {
	pods := &pagedPods{n: 2*pageSize + 7}
	var names []string
	err := eachItem(context.Background(), pods.list, nil, metav1.ListOptions{FieldSelector: RunningPodsSelector}, func(obj runtime.Object) error {
		names = append(names, obj.(*metav1.PartialObjectMetadata).Name)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != pods.n || names[0] != "pod-0" || names[pageSize] != fmt.Sprintf("pod-%d", pageSize) || names[pods.n-1] != fmt.Sprintf("pod-%d", pods.n-1) {
		t.Errorf("visited %d items (first %q, last %q), want %d in order", len(names), names[0], names[len(names)-1], pods.n)
	}
	if len(pods.requests) != 3 {
		t.Fatalf("%d requests, want 3 pages", len(pods.requests))
	}
	for i, r := range pods.requests {
		if r.Limit != pageSize || r.FieldSelector != RunningPodsSelector {
			t.Errorf("request %d: limit %d, field selector %q", i, r.Limit, r.FieldSelector)
		}
	}
}

// A refused first page is a refusal the callers recognise, not an error of
// its own kind: the input is then recorded as unread.
func TestEachItemKeepsARefusalRecognisable(t *testing.T) {
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "", fmt.Errorf("no"))
	list := func(context.Context, metav1.ListOptions) (runtime.Object, error) { return nil, forbidden }
	err := eachItem(context.Background(), list, nil, metav1.ListOptions{}, func(runtime.Object) error {
		t.Error("an item of a refused list")
		return nil
	})
	if !apierrors.IsForbidden(err) {
		t.Errorf("got %v, want the refusal", err)
	}
}

// Of a pod's annotations only Istio's are kept: those are what the checks
// read, and others (a last-applied configuration) are what weighs.
func TestIstioAnnotationsKeepsIstiosDomains(t *testing.T) {
	got := istioAnnotations(map[string]string{
		"ambient.istio.io/redirection":                     "enabled",
		"sidecar.istio.io/status":                          "{}",
		"istio.io/dataplane-mode":                          "ambient",
		"kubectl.kubernetes.io/last-applied-configuration": "{...}",
		"example.com/istio.io":                             "x",
		"notistio.io/x":                                    "y",
		"plain":                                            "z",
	})
	want := map[string]string{"ambient.istio.io/redirection": "enabled", "sidecar.istio.io/status": "{}", "istio.io/dataplane-mode": "ambient"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("kept %v, want %v", got, want)
	}
	if istioAnnotations(map[string]string{"plain": "z"}) != nil {
		t.Error("a pod without Istio annotations keeps a map")
	}
}
