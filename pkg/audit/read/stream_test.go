package read

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
)

func podMeta(name string) *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

// endOfInitialEvents is the bookmark the API server sends after the items.
func endOfInitialEvents() watch.Event {
	return watch.Event{Type: watch.Bookmark, Object: &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{
		ResourceVersion: "42", Annotations: map[string]string{initialEventsEnd: "true"}}}}
}

// streamed is a watch that sends events, then stays open as the API
// server's does (closed, when closeAfter), and records what it was asked.
type streamed struct {
	events     []watch.Event
	closeAfter bool
	startErr   error
	asked      []metav1.ListOptions
}

func (s *streamed) start(_ context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	s.asked = append(s.asked, opts)
	if s.startErr != nil {
		return nil, s.startErr
	}
	w := watch.NewFakeWithChanSize(len(s.events), false)
	for _, ev := range s.events {
		w.Action(ev.Type, ev.Object)
	}
	if s.closeAfter {
		w.Stop()
	}
	return w, nil
}

// collect runs eachItem over s, falling back to pods' pages, and returns
// the names visited.
func collect(ctx context.Context, s *streamed, pods *pagedPods) ([]string, error) {
	var names []string
	err := eachItem(ctx, pods.list, s.start, metav1.ListOptions{FieldSelector: RunningPodsSelector}, func(obj runtime.Object) error {
		names = append(names, obj.(*metav1.PartialObjectMetadata).Name)
		return nil
	})
	return names, err
}

// The items come as a watch list: the existing items, then the bookmark
// that ends them; no list is sent.
func TestEachItemStreamsWhenTheServerCan(t *testing.T) {
	s := &streamed{events: []watch.Event{
		{Type: watch.Added, Object: podMeta("a")},
		{Type: watch.Bookmark, Object: &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{ResourceVersion: "41"}}},
		{Type: watch.Added, Object: podMeta("b")},
		endOfInitialEvents(),
		// After the end, changes: not read.
		{Type: watch.Added, Object: podMeta("later")},
	}}
	pods := &pagedPods{n: 3}
	names, err := collect(context.Background(), s, pods)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(names, ",") != "a,b" {
		t.Errorf("visited %v, want a, b", names)
	}
	if len(pods.requests) != 0 {
		t.Errorf("%d list requests after a whole stream", len(pods.requests))
	}
	if len(s.asked) != 1 {
		t.Fatalf("%d watches, want 1", len(s.asked))
	}
	o := s.asked[0]
	if o.SendInitialEvents == nil || !*o.SendInitialEvents || !o.AllowWatchBookmarks || o.ResourceVersionMatch != metav1.ResourceVersionMatchNotOlderThan || o.FieldSelector != RunningPodsSelector || o.Limit != 0 {
		t.Errorf("watch asked with %+v, want a watch list with the caller's field selector", o)
	}
}

// Where the stream cannot start, the items are listed in pages, each once:
// an API server without the WatchList feature refuses the request, a user
// may list but not watch, a server may answer with an error event.
func TestEachItemListsWhereTheStreamCannotStart(t *testing.T) {
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "", errors.New("may not watch"))
	invalid := apierrors.NewInvalid(schema.GroupKind{Kind: "ListOptions"}, "", nil)
	for name, s := range map[string]*streamed{
		"refused":                 {startErr: forbidden},
		"not understood":          {startErr: invalid},
		"error event first":       {events: []watch.Event{{Type: watch.Error, Object: &invalid.ErrStatus}}},
		"closed before any event": {closeAfter: true},
	} {
		t.Run(name, func(t *testing.T) {
			pods := &pagedPods{n: 3}
			names, err := collect(context.Background(), s, pods)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(names, ",") != "pod-0,pod-1,pod-2" || len(pods.requests) != 1 {
				t.Errorf("visited %v in %d list requests, want the three pods in one", names, len(pods.requests))
			}
		})
	}
}

// Once items have come, a broken stream is an error, never a shorter
// list and never a list on top of what came (each item once).
func TestEachItemFailsOnAStreamBrokenMidway(t *testing.T) {
	gone := apierrors.NewInternalError(errors.New("etcd went away"))
	for name, tc := range map[string]struct {
		s    *streamed
		want string
	}{
		"error event":                 {&streamed{events: []watch.Event{{Type: watch.Added, Object: podMeta("a")}, {Type: watch.Error, Object: &gone.ErrStatus}}}, "etcd went away"},
		"closed before the bookmark":  {&streamed{events: []watch.Event{{Type: watch.Added, Object: podMeta("a")}}, closeAfter: true}, "ended the stream of items early"},
		"a change among the existing": {&streamed{events: []watch.Event{{Type: watch.Added, Object: podMeta("a")}, {Type: watch.Modified, Object: podMeta("a")}}}, "MODIFIED event"},
	} {
		t.Run(name, func(t *testing.T) {
			pods := &pagedPods{n: 3}
			_, err := collect(context.Background(), tc.s, pods)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error saying %q", err, tc.want)
			}
			if len(pods.requests) != 0 {
				t.Errorf("%d list requests after items came", len(pods.requests))
			}
		})
	}
}

// A deadline ends a stream that sends nothing, as it ends a list.
func TestEachItemStopsAtTheDeadline(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s := &streamed{events: []watch.Event{{Type: watch.Added, Object: podMeta("a")}}}
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, err = collect(ctx, s, &pagedPods{n: 3})
	}()
	cancel()
	<-done
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want the context's error", err)
	}
	refused := &streamed{startErr: fmt.Errorf("dial: %w", context.Canceled)}
	pods := &pagedPods{n: 3}
	if _, err := collect(ctx, refused, pods); !errors.Is(err, context.Canceled) || len(pods.requests) != 0 {
		t.Errorf("a stream that failed to start after the deadline: got %v and %d lists, want the context's error and none", err, len(pods.requests))
	}
}
