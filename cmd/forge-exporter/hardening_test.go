package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/railiance/forge-exporter/internal/testenv/giteafake"
)

// TestHTTPServerLimits checks that every timeout and size limit is set on
// the server the exporter runs.
func TestHTTPServerLimits(t *testing.T) {
	srv := newHTTPServer(http.NotFoundHandler(), 10*time.Second, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for name, d := range map[string]time.Duration{
		"ReadHeaderTimeout": srv.ReadHeaderTimeout, "ReadTimeout": srv.ReadTimeout,
		"WriteTimeout": srv.WriteTimeout, "IdleTimeout": srv.IdleTimeout,
	} {
		if d <= 0 {
			t.Errorf("%s is not set", name)
		}
	}
	if srv.WriteTimeout <= 10*time.Second {
		t.Errorf("WriteTimeout %s does not leave room for a 10s scrape", srv.WriteTimeout)
	}
	if srv.MaxHeaderBytes <= 0 || srv.MaxHeaderBytes > 1<<20 {
		t.Errorf("MaxHeaderBytes = %d, want a bound below 1 MiB", srv.MaxHeaderBytes)
	}
}

// TestHTTPEndpointsAndLimits runs the binary and checks that only the
// intended endpoints answer, each only to its methods, that oversized
// headers and bodies are refused, and that a client that never finishes
// its request headers is disconnected.
func TestHTTPEndpointsAndLimits(t *testing.T) {
	p := startBinary(t, "--config.file=../../examples/forge-exporter.yaml", "--web.enable-lifecycle")
	base := "http://" + p.addr
	cases := []struct {
		method, path string
		want         int
	}{
		{"GET", "/metrics", 200}, {"HEAD", "/metrics", 200},
		{"GET", "/", 200}, {"GET", "/-/healthy", 200}, {"GET", "/-/ready", 200},
		{"POST", "/metrics", 405}, {"PUT", "/metrics", 405}, {"DELETE", "/metrics", 405},
		{"POST", "/", 405}, {"POST", "/-/healthy", 405}, {"PATCH", "/-/ready", 405},
		{"GET", "/-/reload", 405}, {"PUT", "/-/reload", 405}, {"DELETE", "/-/reload", 405},
		{"POST", "/-/reload", 200},
		// Nothing else: no pprof, no expvar, no sub-paths, no quit.
		{"GET", "/debug/pprof/", 404}, {"GET", "/debug/vars", 404}, {"GET", "/metrics/", 404},
		{"GET", "/metrics/x", 404}, {"POST", "/-/quit", 405}, {"GET", "/-/quit", 404},
		{"GET", "/api/v1/status", 404}, {"GET", "/../etc/passwd", 404}, {"GET", "/index.html", 404},
	}
	for _, tc := range cases {
		code, hdr, _ := do(t, tc.method, base+tc.path, "")
		// Go's mux cleans "/../etc/passwd" with a redirect; not following
		// it, a 301 to "/etc/passwd" (then 404) is fine too.
		if code != tc.want && !(tc.path == "/../etc/passwd" && code == 301) {
			t.Errorf("%s %s = %d, want %d", tc.method, tc.path, code, tc.want)
		}
		if code == 405 && hdr.Get("Allow") == "" {
			t.Errorf("%s %s: 405 without an Allow header", tc.method, tc.path)
		}
	}

	// Header size is bounded (MaxHeaderBytes): 431, not an allocation of
	// whatever the client sends.
	req, _ := http.NewRequest("GET", base+"/metrics", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 2<<20))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("oversized header: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("2 MiB header: %d, want 431", resp.StatusCode)
	}

	// A body beyond the bound is not read: a 64 MiB upload to /-/reload gets
	// its answer without the server consuming it, and the server stays up.
	conn, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "POST /-/reload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", 64<<20)
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	sent := 0
	conn.SetWriteDeadline(time.Now().Add(20 * time.Second))
	for sent < 64<<20 {
		n, err := conn.Write(chunk)
		sent += n
		if err != nil {
			break // the server closed the connection: it stopped reading
		}
	}
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	status, _ := bufio.NewReader(conn).ReadString('\n')
	conn.Close()
	if !strings.HasPrefix(status, "HTTP/1.1 ") {
		t.Errorf("64 MiB body: no answer (sent %d bytes)", sent)
	}
	if code, _ := get(t, base+"/-/healthy"); code != 200 {
		t.Errorf("/-/healthy after an oversized body: %d", code)
	}

	// Slowloris: a client that sends part of its headers and then nothing
	// is disconnected (ReadHeaderTimeout), so it cannot hold a connection.
	conn, err = net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "GET /metrics HTTP/1.1\r\nHost: x\r\n")
	conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	_, err = io.ReadAll(conn) // returns when the server closes the connection
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Errorf("a client with unfinished headers was not disconnected")
	}
}

// TestBinaryTokenAppearsNowhere runs the whole binary (every non-Kubernetes
// collector on real files, the Gitea collectors against a fake Gitea) with
// a known token through the failures that put request data into errors: a
// Gitea down, 5xx and 401 answers that echo the Authorization header and
// the URL, a redirect that carries the token, malformed JSON quoting it, a
// broken reload. At each step it reads every endpoint (metrics, landing
// page, health, readiness, reload, 404 and 405 answers, with headers) and
// runs check-config; the token must appear in none of them nor in any log
// line (debug level, so every repeated failure is logged too).
func TestBinaryTokenAppearsNowhere(t *testing.T) {
	const token = "forge-whole-binary-token-9f31c0ab57de"
	f := giteafake.New(t, token)
	f.Runners = []giteafake.Runner{{ID: 1, Name: "runner-a", Online: true, Labels: []string{"ubuntu-latest"}}}
	f.Users = []string{"forgeadmin"}
	f.Packages["forgeadmin"] = []giteafake.Package{{ID: 1, Type: "generic", Name: "tool", Version: "1.0", Sizes: []int64{42}}}
	type fault func(w http.ResponseWriter, r *http.Request)
	echo := func(r *http.Request) string {
		return fmt.Sprintf("%s %s %s", r.Header.Get("Authorization"), r.URL, strings.TrimPrefix(r.Header.Get("Authorization"), "token "))
	}
	faults := []struct {
		name, logs string // logs: what the log must show once the fault is seen
		probeToo   bool   // the version probe fails too (else it stays healthy, so the token-bearing endpoints are reached)
		fn         fault
	}{
		{"down", "HTTP 503", true, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }},
		{"500 echo", "HTTP 500", false, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(500)
			fmt.Fprintf(w, "proxy error: %s", echo(r))
		}},
		{"401 echo", "HTTP 401", false, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(401)
			giteafake.WriteJSON(w, map[string]string{"message": "token revoked: " + echo(r)})
		}},
		{"redirect", "redirect", false, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://elsewhere.invalid/login?token="+token, http.StatusFound)
		}},
		{"malformed JSON quoting it", "malformed answer", false, func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{"runners": [{"id": "%s"`, token)
		}},
	}
	var current atomic.Int32 // index into faults; -1: healthy
	current.Store(-1)
	f.Hook = func(w http.ResponseWriter, r *http.Request) bool {
		i := current.Load()
		if i < 0 {
			return false
		}
		if !faults[i].probeToo && (r.URL.Path == "/api/v1/version" || r.URL.Path == "/api/v1/settings/api") {
			return false
		}
		faults[i].fn(w, r)
		return true
	}
	dir := t.TempDir()
	sc := newScenario(t, dir, f.URL, token)
	p := startBinary(t, "--config.file="+sc.config, "--web.enable-lifecycle", "--log.level=debug")
	base := "http://" + p.addr
	var answers []string
	readAll := func() {
		for _, r := range []struct{ method, path string }{
			{"GET", "/metrics"}, {"GET", "/"}, {"GET", "/-/healthy"}, {"GET", "/-/ready"},
			{"GET", "/-/reload"}, {"POST", "/metrics"}, {"GET", "/nope?token=x"}, {"POST", "/-/reload"},
		} {
			code, hdr, body := do(t, r.method, base+r.path, "")
			answers = append(answers, fmt.Sprintf("%s %s -> %d %v\n%s", r.method, r.path, code, hdr, body))
		}
		var out, errb bytes.Buffer
		run([]string{"check-config", "--config.file=" + sc.config}, &out, &errb)
		answers = append(answers, out.String(), errb.String())
	}

	for i, fl := range faults {
		current.Store(int32(i))
		waitFor(t, fl.name+" in the log", func() bool { return strings.Contains(p.logs.String(), fl.logs) }, p.logs)
		readAll()
	}
	current.Store(-1)
	waitFor(t, "recovery", func() bool {
		_, body := get(t, base+"/metrics")
		return allSucceed(body, `forge_gitea_package_files_bytes{owner="forgeadmin",type="generic"} 42`)
	}, p.logs)
	readAll()

	// A reload with a broken file: the error answer and log line name the
	// field, never the token.
	good, _ := os.ReadFile(sc.config)
	os.WriteFile(sc.config, append(good, []byte("\nbogus_key: 1\n")...), 0o644)
	code, _, body := do(t, "POST", base+"/-/reload", "")
	if code != 500 || !strings.Contains(body, "bogus_key") {
		t.Errorf("broken reload: %d %q", code, body)
	}
	answers = append(answers, body)
	os.WriteFile(sc.config, good, 0o644)
	readAll()

	for _, a := range answers {
		if strings.Contains(a, token) {
			t.Fatalf("the token appears in an answer of the exporter:\n%s", a)
		}
	}
	logs := p.logs.String()
	if strings.Contains(logs, token) {
		t.Fatal("the token appears in the exporter's log")
	}
	if !strings.Contains(logs, "<redacted>") {
		t.Errorf("the echoed token was not visibly redacted in the log")
	}
	// The log says what failed once per fault, not once per sweep.
	if n := strings.Count(logs, `level=ERROR`); n > 40 {
		t.Errorf("%d error lines for %d faults: the log floods", n, len(faults))
	}
}
