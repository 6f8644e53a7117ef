package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/cache"
)

// resourceWatch is the informer set for one resource (one informer per
// watched namespace) and its health.
type resourceWatch struct {
	res  Resource
	src  *Source
	kind kind
	// named, when set, replaces the per-namespace informers (NeedPVCs,
	// from namedPVCs).
	named     []scope
	namedPVCs []NamespacedName

	mu sync.Mutex
	// known is false until availability has been established (for CRDs:
	// the first successful discovery); until then readers get ErrNotSynced,
	// never an empty "not installed" answer.
	known     bool
	available bool
	informers []cache.SharedIndexInformer
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	lastErr   error
	// discoveryErr says lastErr came from discovery, not list/watch.
	discoveryErr bool

	lastSync atomic.Int64 // Unix nanoseconds
	errs     atomic.Uint64
	failing  atomic.Bool
}

func (w *resourceWatch) isAvailable() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.known && w.available
}

// setAvailable starts the informers when the resource becomes available
// and stops them (dropping the cache) when it goes away.
func (w *resourceWatch) setAvailable(ctx context.Context, on bool) {
	w.mu.Lock()
	was, wasKnown := w.available, w.known
	running := w.informers != nil
	w.mu.Unlock()
	switch {
	case on && !running:
		if w.res.Optional {
			w.src.logger.Info("kubernetes resource available; watching it", "resource", w.res.String())
		}
		w.start(ctx)
	case !on && running:
		w.src.logger.Warn("kubernetes resource no longer served; stopped watching it", "resource", w.res.String())
		w.stop()
	case !on && (was != on || !wasKnown):
		w.src.logger.Info("kubernetes resource not installed; will check again", "resource", w.res.String(), "interval", w.src.opts.DiscoveryInterval.String())
	}
	w.mu.Lock()
	w.available, w.known = on, true
	if w.discoveryErr {
		w.lastErr, w.discoveryErr = nil, false
	}
	w.mu.Unlock()
}

// discoveryFailed records that availability could not be established;
// before the first successful discovery that makes readers fail.
func (w *resourceWatch) discoveryFailed(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.known {
		w.lastErr, w.discoveryErr = fmt.Errorf("discovery: %w", err), true
	}
}

// scope is what one informer lists and watches: a namespace (empty: all)
// and a field selector (empty: none).
type scope struct{ namespace, fieldSelector string }

func (w *resourceWatch) scopes() []scope {
	if w.named != nil {
		return w.named
	}
	if !w.res.Namespaced || len(w.src.opts.Namespaces) == 0 {
		return []scope{{namespace: metav1.NamespaceAll}}
	}
	out := make([]scope, len(w.src.opts.Namespaces))
	for i, ns := range w.src.opts.Namespaces {
		out[i] = scope{namespace: ns}
	}
	return out
}

func (w *resourceWatch) start(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	var infs []cache.SharedIndexInformer
	for _, sc := range w.scopes() {
		inf := w.newInformer(sc)
		infs = append(infs, inf)
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			inf.RunWithContext(ctx)
		}()
	}
	w.mu.Lock()
	w.informers, w.cancel = infs, cancel
	w.mu.Unlock()
}

func (w *resourceWatch) stop() {
	w.mu.Lock()
	cancel := w.cancel
	w.informers, w.cancel, w.lastErr = nil, nil, nil
	w.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	w.wg.Wait()
	w.failing.Store(false)
}

func (w *resourceWatch) newInformer(sc scope) cache.SharedIndexInformer {
	listFn, watchFn, example, client := w.src.listWatch(w.res, sc.namespace)
	selector := ""
	if w.res == ConfigMaps && w.src.cmSelector != nil {
		selector = *w.src.cmSelector
	}
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.LabelSelector, o.FieldSelector = selector, sc.fieldSelector
			obj, err := listFn(ctx, o)
			if err == nil {
				w.touch()
			}
			return obj, err
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector, o.FieldSelector = selector, sc.fieldSelector
			wi, err := watchFn(ctx, o)
			if err != nil {
				// client-go retries a refused connection (and 429) inside
				// its watch and watch-list loops without calling the
				// informer's error handler, so an API server unreachable
				// at start or lost mid-run would otherwise never be seen.
				w.onError(ctx, err)
				return nil, err
			}
			// The server answered: after an outage, an idle resource would
			// otherwise stay "failing" until its next event or bookmark.
			w.touch()
			return newTouchingWatch(wi, w.touch), nil
		},
	}
	inf := cache.NewSharedIndexInformerWithOptions(
		cache.ToListWatcherWithWatchListSemantics(lw, client), example,
		cache.SharedIndexInformerOptions{ObjectDescription: w.res.String()})
	if w.kind.conv != nil {
		_ = inf.SetTransform(transform(w.kind.conv))
	} else {
		_ = inf.SetTransform(stripManagedFields)
	}
	_ = inf.SetWatchErrorHandlerWithContext(func(ctx context.Context, _ *cache.Reflector, err error) { w.onError(ctx, err) })
	return inf
}

func stripManagedFields(obj any) (any, error) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
	}
	return obj, nil
}

// listWatch returns the list and watch calls for a resource in one
// namespace, the informer's example object, and the client (which tells
// client-go whether it supports streaming lists): typed for built-in kinds,
// dynamic for CRDs.
func (s *Source) listWatch(r Resource, ns string) (listFunc, watchFunc, runtime.Object, any) {
	if k := kinds[r]; k.typed != nil {
		l, w, example := k.typed(s.clients.Typed, ns)
		return l, w, example, s.clients.Typed
	}
	var c dynamic.ResourceInterface = s.clients.Dynamic.Resource(r.GVR())
	if r.Namespaced {
		c = s.clients.Dynamic.Resource(r.GVR()).Namespace(ns)
	}
	return listOf(c.List), c.Watch, &unstructured.Unstructured{}, s.clients.Dynamic
}

// touch records contact with the API server and clears a failure.
func (w *resourceWatch) touch() {
	w.lastSync.Store(time.Now().UnixNano())
	if w.failing.Load() {
		w.mu.Lock()
		w.lastErr = nil
		w.mu.Unlock()
		w.failing.Store(false)
		w.src.logger.Info("kubernetes list/watch works again", "resource", w.res.String())
	}
}

// onError is the informer's WatchErrorHandler: every failed list or
// dropped watch lands here.
func (w *resourceWatch) onError(ctx context.Context, err error) {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) {
		return // shutting down
	}
	// An expired resource version or a closed stream is routine: the
	// reflector relists or rewatches at once, as client-go's own handler
	// treats them.
	if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return
	}
	w.errs.Add(1)
	w.mu.Lock()
	w.lastErr = err
	w.mu.Unlock()
	if !w.failing.Swap(true) {
		w.src.logger.Error("kubernetes list/watch failed; serving cached data until it recovers", "resource", w.res.String(), "err", err)
	}
}

// status says whether readers can trust the cache.
func (w *resourceWatch) status(infs []cache.SharedIndexInformer) error {
	w.mu.Lock()
	lastErr := w.lastErr
	w.mu.Unlock()
	if lastErr != nil {
		return &StaleError{Resource: w.res, Err: lastErr}
	}
	for _, inf := range infs {
		if !inf.HasSynced() {
			return fmt.Errorf("%s: %w", w.res, ErrNotSynced)
		}
	}
	return nil
}

func (w *resourceWatch) snapshot() ([]cache.SharedIndexInformer, bool, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.informers, w.available, w.known
}

// list returns the cached values of one resource, converted to T, in no
// particular order (the registry sorts the exposition; sorting 10,000
// Backups at every scrape would cost more than the rest of the scrape).
func list[T any](w *resourceWatch) ([]T, error) {
	infs, available, known := w.snapshot()
	if !known || (available && infs == nil) {
		if err := w.status(nil); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%s: %w", w.res, ErrNotSynced)
	}
	if !available {
		return nil, nil
	}
	err := w.status(infs)
	var out []T
	for _, inf := range infs {
		items := inf.GetStore().List()
		if out == nil {
			out = make([]T, 0, len(items))
		}
		for _, o := range items {
			var v any = o
			if s, ok := o.(*slim); ok {
				v = s.v
			}
			if t, ok := v.(T); ok {
				out = append(out, t)
			}
		}
	}
	return out, err
}

// touchingWatch forwards a watch's events and records each as contact with
// the API server.
type touchingWatch struct {
	in   watch.Interface
	out  chan watch.Event
	done chan struct{}
	once sync.Once
}

func newTouchingWatch(in watch.Interface, touch func()) watch.Interface {
	t := &touchingWatch{in: in, out: make(chan watch.Event), done: make(chan struct{})}
	go func() {
		defer close(t.out)
		for {
			select {
			case ev, ok := <-in.ResultChan():
				if !ok {
					return
				}
				if ev.Type != watch.Error {
					touch()
				}
				select {
				case t.out <- ev:
				case <-t.done:
					return
				}
			case <-t.done:
				return
			}
		}
	}()
	return t
}

func (t *touchingWatch) ResultChan() <-chan watch.Event { return t.out }
func (t *touchingWatch) Stop() {
	t.once.Do(func() {
		close(t.done)
		t.in.Stop()
	})
}
