package gitea

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/railiance/forge-exporter/internal/testenv"
	"github.com/railiance/forge-exporter/internal/testenv/giteafake"
)

// testToken is the known token value every scenario uses; no error or log
// line may contain it.
const testToken = "forge-test-token-3c9d1e7f0a5b42c8"

func newClient(t *testing.T, url string, opts Options) (*Client, string, *testenv.Buffer) {
	t.Helper()
	dir := t.TempDir()
	logs := &testenv.Buffer{}
	opts.URL = url
	if opts.TokenFile == "" {
		opts.TokenFile = giteafake.WriteToken(t, dir, testToken)
	}
	if opts.Timeout == 0 {
		opts.Timeout = 2 * time.Second
	}
	c := New(opts, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() {
		if strings.Contains(logs.String(), testToken) {
			t.Errorf("the token appears in the logs:\n%s", logs.String())
		}
	})
	return c, opts.TokenFile, logs
}

// noToken fails if err carries the token.
func noToken(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), testToken) {
		t.Errorf("error leaks the token: %v", err)
	}
}

func TestNewMakesNoRequestAndProbeFailsWhileGiteaIsDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens here now
	c, _, _ := newClient(t, "http://"+addr, Options{})
	_, err = c.Probe(context.Background())
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("Probe against a closed port: %v, want connection refused", err)
	}
	noToken(t, err)
	if got := c.Requests(); len(got) != 1 || got[0].Code != "error" || got[0].Endpoint != "/api/v1/version" {
		t.Errorf("request counts = %+v, want one error on /api/v1/version", got)
	}
}

func TestRunnersPaginateWithTheServersPageSize(t *testing.T) {
	for _, n := range []int{0, 1, 6, 7} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			f := giteafake.New(t, testToken)
			f.MaxItems = 3
			for i := range n {
				f.Runners = append(f.Runners, giteafake.Runner{ID: int64(i + 1), Name: fmt.Sprintf("r%d", i), Online: i%2 == 0, Labels: []string{"b", "a"}})
			}
			c, _, _ := newClient(t, f.URL, Options{})
			rs, err := c.Runners(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(rs) != n {
				t.Fatalf("got %d runners, want %d", len(rs), n)
			}
			if n > 0 && (!rs[0].Online || rs[0].Labels[0] != "a" || rs[0].Name != "r0") {
				t.Errorf("first runner = %+v", rs[0])
			}
			// Pages of 3: a full last page ends on the reported total, a
			// short one on its length; an empty list takes one request.
			want := max(1, (n+2)/3)
			if got := f.Count("/api/v1/admin/actions/runners"); got != want {
				t.Errorf("%d runner list requests, want %d", got, want)
			}
		})
	}
}

func TestVersionGates(t *testing.T) {
	cases := []struct {
		version   string
		supported bool
	}{
		{"1.26.4", true},
		{"1.24.0", true}, // the SDK itself would refuse this below 1.25
		{"1.24.0+dev-12-gabcdef", true},
		{"1.23.8", false},
		{"1.22.0", false},
		{"11.0.1+gitea-1.22.0", false}, // Forgejo on the Gitea 1.22 API
		{"2.0.0", true},
		{"not-a-version", true},
	}
	for _, tc := range cases {
		t.Run(tc.version, func(t *testing.T) {
			f := giteafake.New(t, testToken)
			f.Version = tc.version
			f.Runners = []giteafake.Runner{{ID: 1, Name: "r", Online: true}}
			c, _, _ := newClient(t, f.URL, Options{})
			rs, err := c.Runners(context.Background())
			if tc.supported {
				if err != nil || len(rs) != 1 {
					t.Fatalf("Runners = %v, %v", rs, err)
				}
				return
			}
			if !errors.Is(err, ErrRunnerListUnsupported) || !strings.Contains(err.Error(), tc.version) {
				t.Fatalf("err = %v, want ErrRunnerListUnsupported naming the version", err)
			}
			if f.Count("/api/v1/admin/actions/runners") != 0 {
				t.Error("the runner list was requested from a server that does not have it")
			}
		})
	}
}

func TestErrorsAreClearAndNeverCarryTheToken(t *testing.T) {
	echo := func(r *http.Request) string { return r.Header.Get("Authorization") + " " + r.URL.String() }
	cases := []struct {
		name string
		hook func(w http.ResponseWriter, r *http.Request)
		want []string
		code string
	}{
		{"500 echoing the request", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(500)
			fmt.Fprintf(w, "internal error while handling %s", echo(r))
		}, []string{"HTTP 500", "admin/actions/runners"}, "500"},
		{"502 JSON message echoing the header", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(502)
			giteafake.WriteJSON(w, map[string]string{"message": "bad gateway for " + echo(r)})
		}, []string{"HTTP 502", "<redacted>"}, "502"},
		{"401", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(401)
			giteafake.WriteJSON(w, map[string]string{"message": "invalid token " + r.Header.Get("Authorization")})
		}, []string{"HTTP 401", "token was rejected", "gitea.token_file"}, "401"},
		{"403", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(403)
			giteafake.WriteJSON(w, map[string]string{"message": "token does not have at least one of required scope(s): [read:admin]"})
		}, []string{"HTTP 403", "read:admin", "site-admin"}, "403"},
		{"malformed JSON", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `{"runners": [{"id": "one"}]}`)
		}, []string{"malformed answer"}, "200"},
		{"truncated JSON", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `{"runners": [{"id": 1, "name": "r`)
		}, []string{"malformed answer"}, "200"},
		{"HTML instead of JSON", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `<html>login</html>`)
		}, []string{"malformed answer"}, "200"},
		{"timeout", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		}, []string{"no answer within 200ms (gitea.timeout)"}, "timeout"},
		{"body stalls", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"runners": [`)
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		}, []string{"not complete within 200ms"}, "200"},
		{"redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://elsewhere.invalid/steal", http.StatusFound)
		}, []string{"redirect", "gitea.url"}, "302"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := giteafake.New(t, testToken)
			f.Hook = func(w http.ResponseWriter, r *http.Request) bool {
				if r.URL.Path != "/api/v1/admin/actions/runners" {
					return false
				}
				tc.hook(w, r)
				return true
			}
			c, _, _ := newClient(t, f.URL, Options{Timeout: 200 * time.Millisecond})
			_, err := c.Runners(context.Background())
			if err == nil {
				t.Fatal("no error")
			}
			noToken(t, err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
			found := false
			for _, rc := range c.Requests() {
				if rc.Endpoint == "/api/v1/admin/actions/runners" && rc.Code == tc.code {
					found = true
				}
			}
			if !found {
				t.Errorf("no request counted with code %s: %+v", tc.code, c.Requests())
			}
		})
	}
}

func TestTokenFileIsReReadWhenItChanges(t *testing.T) {
	f := giteafake.New(t, testToken)
	f.Runners = []giteafake.Runner{{ID: 1, Name: "r"}}
	dir := t.TempDir()
	// A Kubernetes Secret volume: token -> ..data/token, ..data -> a
	// timestamped directory that is replaced by an atomic symlink swap.
	writeVersion := func(name, tok string) {
		d := filepath.Join(dir, name)
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "token"), []byte(tok), 0o600); err != nil {
			t.Fatal(err)
		}
		tmp := filepath.Join(dir, "..data_tmp")
		if err := os.Symlink(name, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	writeVersion("..v1", testToken)
	if err := os.Symlink("..data/token", filepath.Join(dir, "token")); err != nil {
		t.Fatal(err)
	}
	c, _, logs := newClient(t, f.URL, Options{TokenFile: filepath.Join(dir, "token")})
	if _, err := c.Runners(context.Background()); err != nil {
		t.Fatal(err)
	}

	// The server rotates the token; the old one is rejected until the
	// Secret is updated.
	const rotated = "forge-test-token-rotated-77aa01"
	f.Mu.Lock()
	f.Token = rotated
	f.Mu.Unlock()
	_, err := c.Runners(context.Background())
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("old token: %v, want a 401", err)
	}
	writeVersion("..v2", rotated)
	if _, err := c.Runners(context.Background()); err != nil {
		t.Fatalf("after the Secret update: %v", err)
	}
	if !strings.Contains(logs.String(), "token file changed") {
		t.Errorf("the rotation was not logged:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), rotated) {
		t.Errorf("the new token appears in the logs")
	}

	// An emptied or missing file is a clear error naming the file, not a
	// request without a token.
	writeVersion("..v3", "")
	_, err = c.Runners(context.Background())
	if err == nil || !strings.Contains(err.Error(), "is empty") || !strings.Contains(err.Error(), filepath.Join(dir, "token")) {
		t.Fatalf("empty token file: %v", err)
	}
	os.Remove(filepath.Join(dir, "token"))
	_, err = c.Runners(context.Background())
	if err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("missing token file: %v", err)
	}
}

func TestRateLimitAppliesToEveryRequest(t *testing.T) {
	f := giteafake.New(t, testToken)
	// A burst of one request, then one per 1000 s: a probe (two requests)
	// gets its first request through and waits for the second until the
	// context ends.
	c, _, _ := newClient(t, f.URL, Options{RequestsPerSecond: 0.001})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := c.Probe(ctx); err == nil {
		t.Fatal("Probe (two requests) succeeded although the limiter allows one")
	}
	if f.Count("/api/v1/version") != 1 || f.Count("/api/v1/settings/api") != 0 {
		t.Errorf("requests that reached the server: version %d, settings %d; want 1 and 0",
			f.Count("/api/v1/version"), f.Count("/api/v1/settings/api"))
	}
}

func TestEndpointTemplates(t *testing.T) {
	for path, want := range map[string]string{
		"/api/v1/version":                                    "/api/v1/version",
		"/api/v1/admin/actions/runners":                      "/api/v1/admin/actions/runners",
		"/api/v1/packages/acme":                              "/api/v1/packages/{owner}",
		"/api/v1/packages/acme/pypi/x/1.0/files":             "/api/v1/packages/{owner}/{type}/{name}/{version}/files",
		"/api/v1/packages/acme/container/a%2Fb/latest/files": "/api/v1/packages/{owner}/{type}/{name}/{version}/files",
		"/api/v1/packages//generic/x/1/files":                "other",
		"/api/v1/repos/a/b":                                  "other",
		"/api/v1/repos/forge/deploy/contents/helm/v.yaml":    "/api/v1/repos/{owner}/{repo}/contents/{filepath}",
		"/api/v1/repos/forge/deploy/contents/v.env":          "/api/v1/repos/{owner}/{repo}/contents/{filepath}",
		"/api/v1/repos//deploy/contents/v.env":               "other",
	} {
		if got := endpointOf(path); got != want {
			t.Errorf("endpointOf(%q) = %q, want %q", path, got, want)
		}
	}
}
