package gitea

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/railiance/forge-exporter/internal/testenv"
	"github.com/railiance/forge-exporter/internal/testenv/giteafake"
)

// FuzzResponses serves arbitrary status codes, headers and bodies for each
// endpoint the client reads (version, API settings, runners, owners,
// package versions, package files) and checks that the client never
// panics, never returns an error that carries the token or spans lines,
// never logs it, and never reports a negative size.
func FuzzResponses(f *testing.F) {
	seeds := []struct {
		endpoint uint8
		code     uint16
		total    string
		body     string
	}{
		{0, 200, "", `{"version":"1.26.4"}`},
		{1, 200, "", `{"max_response_items":1}`},
		{2, 200, "", `{"runners":[{"id":1,"name":"r","status":"online","labels":[{"name":"a"}]}],"total_count":1}`},
		{2, 200, "", `{"runners":[{"id":"x"}]}`},
		{2, 200, "", `{"runners":[null,{"labels":[null]}],"total_count":-5}`},
		{3, 200, "99999999999999999999", `[{"login":"a"},null,{}]`},
		{4, 200, "-1", `[{"id":1,"type":"generic","name":"n","version":"1"}]`},
		{5, 200, "", `[{"id":1,"size":-1,"name":"f"}]`},
		{5, 200, "", `[{"size":9223372036854775807},{"size":9223372036854775807}]`},
		{2, 500, "", "echo " + testToken},
		{2, 401, "", `{"message":"` + testToken + `"}`},
		{2, 302, "", ""},
		{2, 200, "", `{"runners": [`},
		{0, 200, "", "\x00\xff<html>"},
	}
	for _, s := range seeds {
		f.Add(s.endpoint, s.code, s.total, s.body)
	}
	// One fake Gitea per fuzzing process; the current input is swapped in.
	var mu sync.Mutex
	var cur struct {
		endpoint uint8
		code     int
		total    string
		body     string
	}
	paths := []string{"/api/v1/version", "/api/v1/settings/api", "/api/v1/admin/actions/runners", "/api/v1/admin/users", "/api/v1/packages/acme", "/api/v1/packages/acme/generic/n/1/files"}
	fake := giteafake.New(f, testToken)
	fake.MaxItems = 1
	fake.Runners = []giteafake.Runner{{ID: 1, Name: "r"}, {ID: 2, Name: "s"}}
	fake.Users = []string{"acme", "b"}
	fake.Packages["acme"] = []giteafake.Package{{ID: 1, Type: "generic", Name: "n", Version: "1", Sizes: []int64{1}}}
	fake.Hook = func(w http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		c := cur
		mu.Unlock()
		if r.URL.Path != paths[int(c.endpoint)%len(paths)] {
			return false
		}
		if c.total != "" {
			w.Header().Set("X-Total-Count", c.total)
		}
		if c.code >= 300 && c.code < 400 {
			w.Header().Set("Location", "/elsewhere?t="+testToken)
		}
		w.WriteHeader(c.code)
		w.Write([]byte(c.body))
		return true
	}
	f.Fuzz(func(t *testing.T, endpoint uint8, code uint16, total, body string) {
		if code < 100 || code > 599 {
			code = 200
		}
		if strings.ContainsAny(total, "\r\n\x00") {
			total = ""
		}
		mu.Lock()
		cur.endpoint, cur.code, cur.total, cur.body = endpoint, int(code), total, body
		mu.Unlock()
		// A new client per input: no server info cached from the last one.
		logs := &testenv.Buffer{}
		c := New(Options{URL: fake.URL, TokenFile: giteafake.WriteToken(t, t.TempDir(), testToken), Timeout: 2 * time.Second, RequestsPerSecond: 1e6},
			slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
		defer func() {
			if strings.Contains(logs.String(), testToken) {
				t.Fatalf("log carries the token:\n%s", logs.String())
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		check := func(err error) {
			if err == nil {
				return
			}
			if strings.Contains(err.Error(), testToken) {
				t.Fatalf("error carries the token: %v", err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error spans lines: %q", err)
			}
		}
		_, err := c.Probe(ctx)
		check(err)
		_, err = c.Runners(ctx)
		check(err)
		_, err = c.Owners(ctx)
		check(err)
		_, err = c.PackageVersions(ctx, "acme")
		check(err)
		files, err := c.PackageFiles(ctx, PackageVersion{Owner: "acme", Type: "generic", Name: "n", Version: "1"})
		check(err)
		for _, f := range files {
			if f.Size < 0 {
				t.Fatalf("negative package file size: %+v", f)
			}
		}
	})
}
