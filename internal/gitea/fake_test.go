package gitea

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// fakeGitea is an httptest Gitea that answers the endpoints the exporter
// uses, paginated as Gitea paginates (limit clamped to max_response_items,
// X-Total-Count). It is for edge cases and the benchmark; the real behaviour
// is tested against a real Gitea in collectors.
type fakeGitea struct {
	*httptest.Server

	mu       sync.Mutex
	version  string
	maxItems int
	token    string
	runners  []fakeRunner
	users    []string
	orgs     []string
	pkgs     map[string][]fakePkg
	// hook, when set, may answer a request itself (errors, slowness).
	hook     func(w http.ResponseWriter, r *http.Request) bool
	requests map[string]int
}

type fakeRunner struct {
	ID       int64
	Name     string
	Online   bool
	Busy     bool
	Disabled bool
	Labels   []string
}

type fakePkg struct {
	ID            int64
	Type, Name, V string
	Sizes         []int64
}

func newFake(t testing.TB, token string) *fakeGitea {
	f := &fakeGitea{version: "1.26.4", maxItems: 50, token: token, pkgs: map[string][]fakePkg{}, requests: map[string]int{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeGitea) count(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests[path]
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// page returns the [start, end) window of n items for the request.
func (f *fakeGitea) page(r *http.Request, n int) (int, int) {
	p, _ := strconv.Atoi(r.URL.Query().Get("page"))
	l, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	if p < 1 {
		p = 1
	}
	if l <= 0 || l > f.maxItems {
		l = f.maxItems
	}
	start := min((p-1)*l, n)
	return start, min(start+l, n)
}

func (f *fakeGitea) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests[r.URL.Path]++
	hook := f.hook
	f.mu.Unlock()
	if hook != nil && hook(w, r) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	path := r.URL.EscapedPath()
	switch path {
	case "/api/v1/version":
		writeJSON(w, map[string]string{"version": f.version})
		return
	case "/api/v1/settings/api":
		writeJSON(w, map[string]int{"max_response_items": f.maxItems, "default_paging_num": 30})
		return
	}
	if r.Header.Get("Authorization") != "token "+f.token {
		w.WriteHeader(401)
		writeJSON(w, map[string]string{"message": "token is required"})
		return
	}
	switch {
	case path == "/api/v1/admin/actions/runners":
		if !AtLeast(f.version, 1, 24) {
			http.NotFound(w, r)
			return
		}
		s, e := f.page(r, len(f.runners))
		var out []map[string]any
		for _, rn := range f.runners[s:e] {
			status := "offline"
			if rn.Online {
				status = "online"
			}
			var labels []map[string]any
			for i, l := range rn.Labels {
				labels = append(labels, map[string]any{"id": i, "name": l, "type": "custom"})
			}
			out = append(out, map[string]any{"id": rn.ID, "name": rn.Name, "status": status, "busy": rn.Busy, "disabled": rn.Disabled, "labels": labels})
		}
		writeJSON(w, map[string]any{"runners": out, "total_count": len(f.runners)})
	case path == "/api/v1/admin/users" || path == "/api/v1/admin/orgs":
		names := f.users
		if strings.HasSuffix(path, "orgs") {
			names = f.orgs
		}
		s, e := f.page(r, len(names))
		var out []map[string]any
		for _, n := range names[s:e] {
			out = append(out, map[string]any{"login": n, "username": n})
		}
		w.Header().Set("X-Total-Count", strconv.Itoa(len(names)))
		writeJSON(w, out)
	case strings.HasPrefix(path, "/api/v1/packages/"):
		segs := strings.Split(strings.TrimPrefix(path, "/api/v1/packages/"), "/")
		for i := range segs {
			segs[i], _ = url.PathUnescape(segs[i])
		}
		pk, ok := f.pkgs[segs[0]]
		if !ok {
			w.WriteHeader(404)
			writeJSON(w, map[string]string{"message": "owner not found"})
			return
		}
		if len(segs) == 1 {
			s, e := f.page(r, len(pk))
			var out []map[string]any
			for _, p := range pk[s:e] {
				out = append(out, map[string]any{"id": p.ID, "type": p.Type, "name": p.Name, "version": p.V, "owner": map[string]string{"login": segs[0]}})
			}
			w.Header().Set("X-Total-Count", strconv.Itoa(len(pk)))
			writeJSON(w, out)
			return
		}
		if len(segs) == 5 && segs[4] == "files" {
			for _, p := range pk {
				if p.Type == segs[1] && p.Name == segs[2] && p.V == segs[3] {
					var out []map[string]any
					for i, sz := range p.Sizes {
						out = append(out, map[string]any{"id": i, "size": sz, "name": fmt.Sprintf("f%d", i)})
					}
					writeJSON(w, out)
					return
				}
			}
		}
		http.NotFound(w, r)
	default:
		http.NotFound(w, r)
	}
}

// writeToken writes tok to a file in dir and returns the path.
func writeToken(t testing.TB, dir, tok string) string {
	t.Helper()
	p := filepath.Join(dir, "token")
	if err := os.WriteFile(p, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
