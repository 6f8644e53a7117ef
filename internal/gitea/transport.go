package gitea

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// transport is the client's http.RoundTripper: it waits for the rate
// limiter, bounds each request (headers and body) by the per-request
// timeout, and counts requests by endpoint template and status code.
//
// The SDK builds its requests with the context given to the SDK client; the
// limiter wait uses it too, so a sweep that is abandoned stops waiting. The
// per-request timeout starts after the limiter wait, so a low rate limit
// never eats into the time a request gets.
type transport struct {
	base    http.RoundTripper
	limiter *rate.Limiter
	timeout time.Duration
	counts  *requestCounts
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	endpoint := endpointOf(req.URL.EscapedPath())
	if err := t.limiter.Wait(req.Context()); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(req.Context(), t.timeout)
	resp, err := t.base.RoundTrip(req.WithContext(ctx))
	if err != nil {
		code := "error"
		if ctx.Err() != nil && req.Context().Err() == nil {
			code = "timeout"
			err = fmt.Errorf("no answer within %s (gitea.timeout)", t.timeout)
		}
		cancel()
		t.counts.inc(endpoint, code)
		return nil, err
	}
	t.counts.inc(endpoint, strconv.Itoa(resp.StatusCode))
	resp.Body = &timedBody{ReadCloser: resp.Body, cancel: cancel, ctx: ctx, parent: req.Context(), timeout: t.timeout}
	return resp, nil
}

// timedBody keeps the request's timeout running while the body is read and
// releases it on Close.
type timedBody struct {
	io.ReadCloser
	cancel  context.CancelFunc
	ctx     context.Context
	parent  context.Context
	timeout time.Duration
}

func (b *timedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF && b.ctx.Err() != nil && b.parent.Err() == nil {
		err = fmt.Errorf("answer not complete within %s (gitea.timeout)", b.timeout)
	}
	return n, err
}

func (b *timedBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// endpoints are the API paths the exporter calls, as templates: the request
// counter's endpoint label must not carry owner or package names.
var endpoints = []string{
	"/api/v1/version",
	"/api/v1/settings/api",
	"/api/v1/admin/actions/runners",
	"/api/v1/admin/users",
	"/api/v1/admin/orgs",
	"/api/v1/packages/{owner}",
	"/api/v1/packages/{owner}/{type}/{name}/{version}/files",
}

// contentsEndpoint is the repository contents API, whose file path has any
// number of segments.
const contentsEndpoint = "/api/v1/repos/{owner}/{repo}/contents/{filepath}"

// endpointOf maps an escaped request path to its template, or "other".
func endpointOf(path string) string {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if len(segs) >= 6 && segs[0] == "api" && segs[1] == "v1" && segs[2] == "repos" && segs[5] == "contents" &&
		segs[3] != "" && segs[4] != "" {
		return contentsEndpoint
	}
outer:
	for _, e := range endpoints {
		tsegs := strings.Split(strings.Trim(e, "/"), "/")
		if len(tsegs) != len(segs) {
			continue
		}
		for i, ts := range tsegs {
			if strings.HasPrefix(ts, "{") {
				if segs[i] == "" {
					continue outer
				}
				continue
			}
			if ts != segs[i] {
				continue outer
			}
		}
		return e
	}
	return "other"
}

// RequestCount is the number of requests to one endpoint that ended with
// one status code ("timeout" and "error" for requests without an answer).
type RequestCount struct {
	Endpoint string
	Code     string
	Count    uint64
}

type requestCounts struct {
	mu sync.Mutex
	m  map[[2]string]uint64
}

func (r *requestCounts) inc(endpoint, code string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[[2]string]uint64{}
	}
	r.m[[2]string{endpoint, code}]++
}

func (r *requestCounts) snapshot() []RequestCount {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]RequestCount, 0, len(r.m))
	for k, v := range r.m {
		out = append(out, RequestCount{Endpoint: k[0], Code: k[1], Count: v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Endpoint != out[j].Endpoint {
			return out[i].Endpoint < out[j].Endpoint
		}
		return out[i].Code < out[j].Code
	})
	return out
}
