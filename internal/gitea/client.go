// Package gitea is forge-exporter's read-only client for the Gitea API, built
// on code.gitea.io/sdk/gitea.
//
// It adds what an exporter needs around the SDK:
//
//   - The token comes from a file and is re-read when the file changes, so a
//     rotated Secret is picked up without a restart. The token value never
//     leaves this package: errors are scrubbed of it, and its type prints as
//     <redacted>.
//   - Construction never talks to Gitea. The SDK's NewClient asks
//     /api/v1/version and fails when Gitea is down; this client builds SDK
//     clients with SetGiteaVersion("") (no version calls, no SDK version
//     gates) and probes the version itself (Probe), so an exporter starts
//     while Gitea is down and catches up when it is back.
//   - Version gates of its own: the admin runner list exists since Gitea
//     1.24, which the SDK (v0.25.1) only allows from 1.25 on.
//   - Every list is paginated with the server's maximum page size
//     (/api/v1/settings/api), every request waits for a client-side rate
//     limiter and is bounded by a per-request timeout, and requests are
//     counted by endpoint template and status code.
package gitea

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	sdk "code.gitea.io/sdk/gitea"
	goversion "github.com/hashicorp/go-version"
	"golang.org/x/time/rate"
)

// Options configure a Client.
type Options struct {
	// URL is Gitea's root URL (https://git.example.org).
	URL string
	// TokenFile holds the API token.
	TokenFile string
	// Timeout bounds each request, headers and body.
	Timeout time.Duration
	// RequestsPerSecond limits the request rate; the burst is one second's worth.
	RequestsPerSecond float64
	// Transport is the underlying transport; nil uses a clone of
	// http.DefaultTransport.
	Transport http.RoundTripper
	// UserAgent is sent with every request.
	UserAgent string
}

// Client is a read-only Gitea API client; it is safe for concurrent use.
type Client struct {
	url    string
	token  *tokenFile
	http   *http.Client
	counts *requestCounts
	agent  string
	logger *slog.Logger

	mu   sync.Mutex
	info ServerInfo
	// infoOK is true once a probe succeeded; the last good info is kept
	// while later probes fail.
	infoOK bool
}

// New returns a client. It makes no request.
func New(opts Options, logger *slog.Logger) *Client {
	base := opts.Transport
	if base == nil {
		base = http.DefaultTransport.(*http.Transport).Clone()
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	limit, burst := rate.Limit(opts.RequestsPerSecond), int(opts.RequestsPerSecond)
	if opts.RequestsPerSecond <= 0 {
		limit = rate.Inf
	}
	if burst < 1 {
		burst = 1
	}
	counts := &requestCounts{}
	c := &Client{
		url:    strings.TrimSuffix(opts.URL, "/"),
		token:  &tokenFile{path: opts.TokenFile, logger: logger},
		counts: counts,
		agent:  opts.UserAgent,
		logger: logger,
		http: &http.Client{
			Transport: &transport{base: base, limiter: rate.NewLimiter(limit, burst), timeout: opts.Timeout, counts: counts},
			// A redirect would carry the Authorization header to wherever it
			// points; the API never redirects, so refuse.
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return errors.New("the server answered with a redirect; check gitea.url")
			},
		},
	}
	return c
}

// Requests returns the request counts so far.
func (c *Client) Requests() []RequestCount { return c.counts.snapshot() }

// RequestTotal returns the number of requests made so far.
func (c *Client) RequestTotal() uint64 {
	var n uint64
	for _, r := range c.counts.snapshot() {
		n += r.Count
	}
	return n
}

// api returns an SDK client bound to ctx with the current token.
func (c *Client) api(ctx context.Context) (*sdk.Client, secret, error) {
	tok, err := c.token.get()
	if err != nil {
		return nil, "", err
	}
	opts := []sdk.ClientOption{
		// "" skips the SDK's start-up version request and its version gates.
		sdk.SetGiteaVersion(""),
		sdk.SetHTTPClient(c.http),
		sdk.SetContext(ctx),
		sdk.SetToken(string(tok)),
	}
	if c.agent != "" {
		opts = append(opts, sdk.SetUserAgent(c.agent))
	}
	cl, err := sdk.NewClient(c.url, opts...)
	if err != nil {
		return nil, tok, c.scrub(tok, err)
	}
	return cl, tok, nil
}

// scrub returns err with every occurrence of the token removed. The SDK puts
// response bodies and URLs into its errors, and a misbehaving proxy or server
// may echo request headers back; nothing that carries the token may reach a
// log line or an HTTP answer.
func (c *Client) scrub(tok secret, err error) error {
	if err == nil || tok == "" {
		return err
	}
	msg := err.Error()
	forms := []string{string(tok), url.QueryEscape(string(tok)), url.PathEscape(string(tok))}
	found := false
	for _, f := range forms {
		if strings.Contains(msg, f) {
			msg = strings.ReplaceAll(msg, f, "<redacted>")
			found = true
		}
	}
	if !found {
		return err
	}
	return &scrubbedError{msg: msg, timeout: errors.Is(err, context.DeadlineExceeded)}
}

type scrubbedError struct {
	msg     string
	timeout bool
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Is(target error) bool {
	return e.timeout && target == context.DeadlineExceeded
}

// describe turns an SDK error into one line that says which call failed
// and, for HTTP errors, the status; the SDK's own text can span lines and
// quote whole response bodies.
func (c *Client) describe(tok secret, what string, resp *sdk.Response, err error) error {
	if err == nil {
		return nil
	}
	if resp != nil && resp.Response != nil && resp.StatusCode/100 != 2 {
		detail := err.Error()
		// The SDK reports a non-JSON error answer as "unknown API error: 500\n
		// Request: '<path>' with 'GET' method and '<body>' body"; keep the body.
		if _, body, ok := strings.Cut(detail, " method and '"); ok && strings.HasPrefix(detail, "unknown API error") {
			detail = "empty answer"
			if body = strings.TrimSpace(strings.TrimSuffix(body, "' body")); body != "" {
				detail = "answer: " + body
			}
		}
		detail = firstLine(detail)
		switch resp.StatusCode {
		case http.StatusUnauthorized:
			detail = "the token was rejected (401); check gitea.token_file"
		case http.StatusForbidden:
			detail = "forbidden (403): " + detail + "; the token needs the read:admin and read:package scopes and a site-admin user"
		}
		return c.scrub(tok, fmt.Errorf("%s: HTTP %d: %s", what, resp.StatusCode, detail))
	}
	var se *json.SyntaxError
	var ue *json.UnmarshalTypeError
	if errors.As(err, &se) || errors.As(err, &ue) || errors.Is(err, io.ErrUnexpectedEOF) {
		return c.scrub(tok, fmt.Errorf("%s: malformed answer: %v", what, err))
	}
	return c.scrub(tok, fmt.Errorf("%s: %w", what, err))
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// ServerInfo is what a probe learns about the server.
type ServerInfo struct {
	// Version is the version string Gitea reports.
	Version string
	// MaxPageSize is the server's maximum page size (max_response_items).
	MaxPageSize int
}

// defaultMaxPageSize is Gitea's default max_response_items.
const defaultMaxPageSize = 50

// Probe asks the server for its version and API settings. It needs no
// token scope, so it tells "Gitea is down" from "the token is wrong".
func (c *Client) Probe(ctx context.Context) (ServerInfo, error) {
	cl, tok, err := c.api(ctx)
	if err != nil {
		return ServerInfo{}, err
	}
	v, resp, err := cl.ServerVersion()
	if err != nil {
		return ServerInfo{}, c.describe(tok, "GET /api/v1/version", resp, err)
	}
	if v == "" {
		return ServerInfo{}, errors.New("GET /api/v1/version: answer has no version")
	}
	info := ServerInfo{Version: v, MaxPageSize: defaultMaxPageSize}
	settings, resp, err := cl.GetGlobalAPISettings()
	if err != nil {
		return ServerInfo{}, c.describe(tok, "GET /api/v1/settings/api", resp, err)
	}
	if settings.MaxResponseItems > 0 {
		info.MaxPageSize = settings.MaxResponseItems
	}
	c.mu.Lock()
	c.info, c.infoOK = info, true
	c.mu.Unlock()
	return info, nil
}

// Info returns the last probed server info, probing if there is none yet.
func (c *Client) Info(ctx context.Context) (ServerInfo, error) {
	c.mu.Lock()
	info, ok := c.info, c.infoOK
	c.mu.Unlock()
	if ok {
		return info, nil
	}
	return c.Probe(ctx)
}

// forgejoRE finds the Gitea API level a Forgejo server reports
// ("11.0.1+gitea-1.22.0").
var forgejoRE = regexp.MustCompile(`\+gitea-(\d+\.\d+(\.\d+)?)`)

// AtLeast reports whether version is at least major.minor. A version that
// does not parse counts as new enough (development builds), so the
// exporter tries the API and reports what the server answers.
func AtLeast(version string, major, minor int) bool {
	if m := forgejoRE.FindStringSubmatch(version); m != nil {
		version = m[1]
	}
	v, err := goversion.NewVersion(version)
	if err != nil {
		return true
	}
	s := v.Segments()
	for len(s) < 2 {
		s = append(s, 0)
	}
	if s[0] != major {
		return s[0] > major
	}
	return s[1] >= minor
}

// paginate calls fetch for pages 1, 2, … with the server's page size until
// a short page, an empty page or the reported total ends the list. maxPages
// guards against a server that never ends a list.
func paginate(ctx context.Context, pageSize int, fetch func(page, size int) (n int, total int64, err error)) error {
	const maxPages = 100000
	var seen int64
	for page := 1; page <= maxPages; page++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, total, err := fetch(page, pageSize)
		if err != nil {
			return err
		}
		seen += int64(n)
		if n == 0 || n < pageSize || (total > 0 && seen >= total) {
			return nil
		}
	}
	return fmt.Errorf("list did not end after %d pages", maxPages)
}

// totalOf reads Gitea's X-Total-Count header; 0 when absent.
func totalOf(resp *sdk.Response) int64 {
	if resp == nil || resp.Response == nil {
		return 0
	}
	n, _ := strconv.ParseInt(resp.Header.Get("X-Total-Count"), 10, 64)
	return n
}
