package read

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/pager"
)

// pageSize is how many items one list request asks for. A large cluster's
// pods come in pages, each reduced to what the checks read before the next
// arrives, so that verify never holds a whole list's objects at once: its
// memory follows what it keeps, not the size of the cluster. The cost is one
// request more per 5,000 items, and none per namespace. Pods come as
// metadata, a few kB each: a page is a few MB, and the API server serves it
// from its watch cache. Smaller pages cost a round trip each for nothing
// (kubectl's 500 is for whole objects): at 100,000 pods, pages of 500 made
// verify -A two seconds slower, and used no less memory.
const pageSize = 5000

// listFunc lists one page.
type listFunc func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error)

// eachItem lists in pages of pageSize and calls each for every item, page
// by page. The API server's answer to the first page decides the error
// (a refusal is apierrors.IsForbidden as for a single list); a continue
// token that expires midway falls back to one full list, as client-go's
// informers do.
func eachItem(ctx context.Context, list listFunc, opts metav1.ListOptions, each func(runtime.Object) error) error {
	p := pager.New(pager.ListPageFunc(list))
	p.PageSize = pageSize
	// One page waits while the last one is read: more would only hold more
	// objects at once.
	p.PageBufferSize = 1
	return p.EachListItem(ctx, opts, each)
}
