// Package workers runs tasks on a bounded number of goroutines: the audit's
// reads of Secrets, and its probes of gateways.
package workers

import (
	"context"
	"sync"
)

// Run runs tasks on at most workers goroutines and returns when all
// have returned. Each task is handed ctx, done or not: it reports a task
// whose turn came too late itself.
func Run(ctx context.Context, workers int, tasks []func(context.Context)) {
	next := make(chan func(context.Context))
	var wg sync.WaitGroup
	for w := 0; w < workers && w < len(tasks); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for task := range next {
				task(ctx)
			}
		}()
	}
	for _, task := range tasks {
		next <- task
	}
	close(next)
	wg.Wait()
}
