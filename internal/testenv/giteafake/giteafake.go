// Package giteafake is an httptest Gitea for edge cases and benchmarks: it
// answers the endpoints forge-exporter uses (version, API settings, admin
// runner list, admin users/orgs, package lists and package files),
// paginated as Gitea paginates (limit clamped to max_response_items,
// X-Total-Count, total_count), and checks the token. Hook lets a test answer
// any request itself (5xx, slowness, malformed JSON). Real behaviour is
// tested against a real Gitea (package giteaenv); this fake never replaces
// that.
package giteafake

import (
	"crypto/sha256"
	"encoding/hex"
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

// Server is an httptest Gitea that answers the endpoints the exporter
// uses, paginated as Gitea paginates (limit clamped to max_response_items,
// X-Total-Count). It is for edge cases and the benchmark; the real behaviour
// is tested against a real Gitea in collectors.
type Server struct {
	*httptest.Server

	// Mu guards the fields below while the server runs.
	Mu       sync.Mutex
	Version  string
	MaxItems int
	Token    string
	Runners  []Runner
	Users    []string
	Orgs     []string
	// Packages are the package versions by owner; an owner not in the map
	// answers 404.
	Packages map[string][]Package
	// Hook, when set, may answer a request itself (errors, slowness) and
	// return true.
	Hook     func(w http.ResponseWriter, r *http.Request) bool
	requests map[string]int
}

// Runner is one registered runner.
type Runner struct {
	ID       int64
	Name     string
	Online   bool
	Busy     bool
	Disabled bool
	Labels   []string
}

// Package is one package version and its file sizes.
type Package struct {
	ID                  int64
	Type, Name, Version string
	Sizes               []int64
	// SHA256 are the files' digests (lowercase hex); a file without one
	// gets a digest derived from the version ID and its index.
	SHA256 []string
	// Names are the files' names; a file without one is named f<index>.
	Names []string
}

// FileSHA256 returns the digest the fake lists for file i of p.
func (p Package) FileSHA256(i int) string {
	if i < len(p.SHA256) {
		return p.SHA256[i]
	}
	sum := sha256.Sum256([]byte(fmt.Sprintf("giteafake %d/%d", p.ID, i)))
	return hex.EncodeToString(sum[:])
}

// New starts a fake Gitea 1.26.4 that accepts token; it stops when the test ends.
func New(t testing.TB, token string) *Server {
	f := &Server{Version: "1.26.4", MaxItems: 50, Token: token, Packages: map[string][]Package{}, requests: map[string]int{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

// Count returns the number of requests to path so far.
func (f *Server) Count(path string) int {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	return f.requests[path]
}

// WriteJSON writes v as a JSON answer.
func WriteJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// page returns the [start, end) window of n items for the request.
func (f *Server) page(r *http.Request, n int) (int, int) {
	p, _ := strconv.Atoi(r.URL.Query().Get("page"))
	l, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	if p < 1 {
		p = 1
	}
	if l <= 0 || l > f.MaxItems {
		l = f.MaxItems
	}
	start := min((p-1)*l, n)
	return start, min(start+l, n)
}

func (f *Server) serve(w http.ResponseWriter, r *http.Request) {
	f.Mu.Lock()
	f.requests[r.URL.Path]++
	hook := f.Hook
	f.Mu.Unlock()
	if hook != nil && hook(w, r) {
		return
	}
	f.Mu.Lock()
	defer f.Mu.Unlock()
	path := r.URL.EscapedPath()
	switch path {
	case "/api/v1/version":
		WriteJSON(w, map[string]string{"version": f.Version})
		return
	case "/api/v1/settings/api":
		WriteJSON(w, map[string]int{"max_response_items": f.MaxItems, "default_paging_num": 30})
		return
	}
	if r.Header.Get("Authorization") != "token "+f.Token {
		w.WriteHeader(401)
		WriteJSON(w, map[string]string{"message": "token is required"})
		return
	}
	switch {
	case path == "/api/v1/admin/actions/runners":
		if !runnerAPI(f.Version) {
			http.NotFound(w, r)
			return
		}
		s, e := f.page(r, len(f.Runners))
		var out []map[string]any
		for _, rn := range f.Runners[s:e] {
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
		WriteJSON(w, map[string]any{"runners": out, "total_count": len(f.Runners)})
	case path == "/api/v1/admin/users" || path == "/api/v1/admin/orgs":
		names := f.Users
		if strings.HasSuffix(path, "orgs") {
			names = f.Orgs
		}
		s, e := f.page(r, len(names))
		var out []map[string]any
		for _, n := range names[s:e] {
			out = append(out, map[string]any{"login": n, "username": n, "name": n})
		}
		w.Header().Set("X-Total-Count", strconv.Itoa(len(names)))
		WriteJSON(w, out)
	case strings.HasPrefix(path, "/api/v1/packages/"):
		segs := strings.Split(strings.TrimPrefix(path, "/api/v1/packages/"), "/")
		for i := range segs {
			segs[i], _ = url.PathUnescape(segs[i])
		}
		pk, ok := f.Packages[segs[0]]
		if !ok {
			w.WriteHeader(404)
			WriteJSON(w, map[string]string{"message": "owner not found"})
			return
		}
		if len(segs) == 1 {
			s, e := f.page(r, len(pk))
			var out []map[string]any
			for _, p := range pk[s:e] {
				out = append(out, map[string]any{"id": p.ID, "type": p.Type, "name": p.Name, "version": p.Version, "owner": map[string]string{"login": segs[0]}})
			}
			w.Header().Set("X-Total-Count", strconv.Itoa(len(pk)))
			WriteJSON(w, out)
			return
		}
		if len(segs) == 5 && segs[4] == "files" {
			for _, p := range pk {
				if p.Type == segs[1] && p.Name == segs[2] && p.Version == segs[3] {
					var out []map[string]any
					for i, sz := range p.Sizes {
						name := fmt.Sprintf("f%d", i)
						if i < len(p.Names) {
							name = p.Names[i]
						}
						out = append(out, map[string]any{"id": i, "size": sz, "name": name, "sha256": p.FileSHA256(i)})
					}
					WriteJSON(w, out)
					return
				}
			}
		}
		http.NotFound(w, r)
	default:
		http.NotFound(w, r)
	}
}

// runnerAPI reports whether a plain x.y.z version is 1.24 or newer.
func runnerAPI(v string) bool {
	var major, minor int
	if _, err := fmt.Sscanf(v, "%d.%d", &major, &minor); err != nil {
		return true
	}
	return major > 1 || (major == 1 && minor >= 24)
}

// Requests returns the total number of requests so far.
func (f *Server) Requests() int {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	n := 0
	for _, c := range f.requests {
		n += c
	}
	return n
}

// FileRequests returns the number of package file list requests so far.
func (f *Server) FileRequests() int {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	n := 0
	for p, c := range f.requests {
		if strings.HasSuffix(p, "/files") {
			n += c
		}
	}
	return n
}

// WriteToken writes tok to a file in dir and returns the path.
func WriteToken(t testing.TB, dir, tok string) string {
	t.Helper()
	p := filepath.Join(dir, "token")
	if err := os.WriteFile(p, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
