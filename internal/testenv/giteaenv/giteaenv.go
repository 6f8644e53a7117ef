// Package giteaenv starts a real Gitea for tests: the Gitea 1.26.4 binary
// that hack/realbin.sh builds and caches (~/.cache/forge-exporter/bin), on
// loopback, with SQLite, Actions and packages enabled, in a temporary
// directory that is removed when the test ends.
//
// Typical use:
//
//	g := giteaenv.Start(t, giteaenv.Options{})        // admin user + all-scopes harness token
//	tok := g.CreateToken(t, "exporter", "read:admin", "read:package")
//	tokFile := g.WriteTokenFile(t, tok)                // what gitea.token_file points at
//	r := g.RegisterRunner(t, "runner-a", "ubuntu-latest", "linux-amd64")
//	stop := r.KeepOnline(t, 5*time.Second)            // polls FetchTask like act_runner
//	g.UploadGeneric(t, g.AdminUser, "tool", "1.0.0", "tool.tar.gz", []byte("..."))
//	g.UploadPyPI(t, g.AdminUser, "forge-demo", "0.1.0", []byte("..."))
//
// API:
//
//   - Start(t, Options) *Gitea: migrate, create the admin (AdminUser,
//     AdminPassword), an all-scopes AdminToken for the harness itself, start
//     `gitea web` and wait until /api/v1/version answers. Without the binary
//     the test fails when CI=true and is skipped otherwise (the background
//     build may still be running). Options.MaxResponseItems sets
//     [api] MAX_RESPONSE_ITEMS, so pagination can be exercised with a few
//     objects.
//   - (*Gitea).CLI(t, args...) runs the gitea CLI against this instance.
//   - CreateToken(t, name, scopes...) creates an access token for the admin
//     with exactly these scopes; WriteTokenFile writes one to a 0600 file;
//     DeleteToken revokes one (token rotation tests).
//   - Do(t, method, path, body) calls the API with the harness token.
//   - CreateUser(t, name) and CreateOrg(t, name) add package owners.
//   - RegisterRunner(t, name, labels...) registers a runner through the
//     runner protocol (Connect JSON: Register, then Declare), with a fresh
//     registration token from the admin API. (*Runner).FetchTask polls once
//     (Gitea counts a runner online for a minute after its last call),
//     KeepOnline polls in the background until the returned stop is called,
//     Declare replaces the labels, MarkBusy makes Gitea report the runner
//     busy for ~10 s (it calls UpdateLog, which Gitea counts as activity).
//   - UploadGeneric and UploadPyPI publish real packages through the
//     package API; Logs returns Gitea's output so far.
//
// Gitea marks a runner offline one minute after its last call; that limit
// is a constant in Gitea (RunnerOfflineTime), not a setting, so a test that
// needs an offline runner stops polling and waits for it with a deadline.
package giteaenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/railiance/forge-exporter/internal/testenv"
)

// TB is the part of testing.TB the harness uses. A *testing.T satisfies
// it; a program that is not a test (the demo, internal/testenv/forgestack)
// passes its own implementation whose Fatal stops the start-up.
type TB interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
	Cleanup(func())
	TempDir() string
}

// Options tune the instance.
type Options struct {
	// MaxResponseItems is [api] MAX_RESPONSE_ITEMS (the largest page size);
	// 0 keeps Gitea's default of 50.
	MaxResponseItems int
}

// Gitea is a running Gitea instance.
type Gitea struct {
	// URL is the root URL, http://127.0.0.1:PORT.
	URL string
	// Dir is the instance's work directory.
	Dir           string
	AdminUser     string
	AdminPassword string
	// AdminToken has all scopes; it is for the harness (registration
	// tokens, uploads), not for the exporter under test.
	AdminToken string

	bin, config string
	cmd         *exec.Cmd
	logs        *testenv.Buffer
}

// Binary returns the Gitea binary and its source directory (the templates
// STATIC_ROOT_PATH points at), building Gitea first when this machine has
// not yet (testenv.RequireBinary: ~15 min once, skipped only under -short).
func Binary(t TB) (bin, src string) {
	t.Helper()
	bin = testenv.RequireBinary(t, "gitea")
	script := filepath.Join(testenv.MustRepoRoot(t), "hack", "realbin.sh")
	srcOut, err := exec.Command(script, "gitea-src").Output()
	if err != nil {
		t.Fatalf("hack/realbin.sh gitea-src: %v", err)
	}
	return bin, strings.TrimSpace(string(srcOut))
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// Start starts a fresh Gitea and stops it when the test ends.
func Start(t TB, opts Options) *Gitea {
	t.Helper()
	bin, src := Binary(t)
	dir := t.TempDir()
	ports, err := testenv.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	port := ports[0]
	runUser := "root"
	if u, err := user.Current(); err == nil {
		runUser = u.Username
	}
	g := &Gitea{
		URL:           fmt.Sprintf("http://127.0.0.1:%d", port),
		Dir:           dir,
		AdminUser:     "forgeadmin",
		AdminPassword: "pw-" + randomHex(8),
		bin:           bin,
		config:        filepath.Join(dir, "app.ini"),
		logs:          &testenv.Buffer{},
	}
	api := ""
	if opts.MaxResponseItems > 0 {
		api = fmt.Sprintf("[api]\nMAX_RESPONSE_ITEMS = %d\nDEFAULT_PAGING_NUM = %d\n", opts.MaxResponseItems, opts.MaxResponseItems)
	}
	ini := fmt.Sprintf(`APP_NAME = forge-exporter test
RUN_MODE = prod
RUN_USER = %[1]s
I_AM_BEING_UNSAFE_RUNNING_AS_ROOT = true
WORK_PATH = %[2]s

[server]
PROTOCOL = http
HTTP_ADDR = 127.0.0.1
HTTP_PORT = %[3]d
ROOT_URL = %[4]s/
DISABLE_SSH = true
START_SSH_SERVER = false
OFFLINE_MODE = true
LFS_START_SERVER = false
APP_DATA_PATH = %[2]s/data
STATIC_ROOT_PATH = %[5]s

[database]
DB_TYPE = sqlite3
PATH = %[2]s/data/gitea.db
SQLITE_JOURNAL_MODE = WAL

[repository]
ROOT = %[2]s/repos

[security]
INSTALL_LOCK = true
SECRET_KEY = %[6]s
INTERNAL_TOKEN = %[7]s

[oauth2]
ENABLED = false

[service]
DISABLE_REGISTRATION = true

[session]
PROVIDER = memory

[cache]
ADAPTER = memory

[actions]
ENABLED = true

[packages]
ENABLED = true

[cron.update_checker]
ENABLED = false

[mailer]
ENABLED = false

[log]
MODE = console
LEVEL = warn
ROOT_PATH = %[2]s/log

%[8]s`, runUser, dir, port, g.URL, src, randomHex(16), randomHex(32), api)
	if err := os.WriteFile(g.config, []byte(ini), 0o600); err != nil {
		t.Fatal(err)
	}
	g.CLI(t, "migrate")
	g.CLI(t, "admin", "user", "create", "--admin", "--username", g.AdminUser, "--password", g.AdminPassword,
		"--email", g.AdminUser+"@example.org", "--must-change-password=false")
	g.AdminToken = g.CreateToken(t, "harness", "all")

	g.cmd = exec.Command(bin, "--config", g.config, "--work-path", dir, "web")
	g.cmd.Env = g.env()
	g.cmd.Dir = dir
	g.cmd.Stdout, g.cmd.Stderr = g.logs, g.logs
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { g.cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		g.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			g.cmd.Process.Kill()
			<-exited
		}
	})
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := http.Get(g.URL + "/api/v1/version")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case <-exited:
			t.Fatalf("gitea web exited during start-up:\n%s", g.Logs())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("gitea did not answer /api/v1/version within 90s:\n%s", g.Logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return g
}

func (g *Gitea) env() []string {
	return append(os.Environ(), "HOME="+g.Dir, "GITEA_WORK_DIR="+g.Dir, "GITEA_CUSTOM="+filepath.Join(g.Dir, "custom"))
}

// Logs returns what Gitea wrote to stdout and stderr so far.
func (g *Gitea) Logs() string { return g.logs.String() }

// CLI runs the gitea command line against this instance and returns its
// standard output.
func (g *Gitea) CLI(t TB, args ...string) string {
	t.Helper()
	cmd := exec.Command(g.bin, append([]string{"--config", g.config, "--work-path", g.Dir}, args...)...)
	cmd.Env = g.env()
	cmd.Dir = g.Dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		// Never print the arguments: some carry a password.
		t.Fatalf("gitea %s: %v\n%s", args[0], err, stderr.String())
	}
	return stdout.String()
}

// CreateToken creates an access token for the admin with the given scopes
// (for example "read:admin", "read:package"; "all" for every scope).
func (g *Gitea) CreateToken(t TB, name string, scopes ...string) string {
	t.Helper()
	out := g.CLI(t, "admin", "user", "generate-access-token", "--username", g.AdminUser,
		"--token-name", name, "--scopes", strings.Join(scopes, ","), "--raw")
	// Gitea may log a warning (running as root) to standard output, before
	// or after the token (its logger writes asynchronously): the token is
	// the line that is one word.
	tok := ""
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); len(l) >= 20 && !strings.ContainsAny(l, " \t") {
			tok = l
		}
	}
	if tok == "" {
		t.Fatalf("generate-access-token printed something that is not a token (%d bytes)", len(out))
	}
	return tok
}

// DeleteToken deletes one of the admin's access tokens by name (with basic
// auth: Gitea does not let a token manage tokens).
func (g *Gitea) DeleteToken(t TB, name string) {
	t.Helper()
	req, err := http.NewRequest("DELETE", g.URL+"/api/v1/users/"+g.AdminUser+"/tokens/"+name, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(g.AdminUser, g.AdminPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("deleting token %s: HTTP %d: %s", name, resp.StatusCode, b)
	}
}

// WriteTokenFile writes tok to a new 0600 file and returns its path.
func (g *Gitea) WriteTokenFile(t TB, tok string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Do sends an API request with the harness token and returns the status
// and body. body may be nil, []byte or any value to encode as JSON.
func (g *Gitea) Do(t TB, method, path string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
		ctype = "application/octet-stream"
	default:
		js, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(js)
		ctype = "application/json"
	}
	req, err := http.NewRequest(method, g.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Authorization", "token "+g.AdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func (g *Gitea) must(t TB, want int, method, path string, body any) []byte {
	t.Helper()
	code, out := g.Do(t, method, path, body)
	if code != want {
		t.Fatalf("%s %s: HTTP %d, want %d: %s", method, path, code, want, out)
	}
	return out
}

// CreateUser creates a regular user (a package owner).
func (g *Gitea) CreateUser(t TB, name string) {
	t.Helper()
	g.must(t, 201, "POST", "/api/v1/admin/users", map[string]any{
		"username": name, "email": name + "@example.org", "password": "pw-" + randomHex(8), "must_change_password": false,
	})
}

// CreateOrg creates an organisation owned by the admin.
func (g *Gitea) CreateOrg(t TB, name string) {
	t.Helper()
	g.must(t, 201, "POST", "/api/v1/orgs", map[string]any{"username": name})
}

// UploadGeneric publishes one file of a generic package version.
func (g *Gitea) UploadGeneric(t TB, owner, name, version, file string, content []byte) {
	t.Helper()
	g.must(t, 201, "PUT", fmt.Sprintf("/api/packages/%s/generic/%s/%s/%s", owner, name, version, file), content)
}

// UploadPyPI publishes a source distribution (name-version.tar.gz) the way
// twine does: a multipart form with the file and its SHA-256.
func (g *Gitea) UploadPyPI(t TB, owner, name, version string, content []byte) {
	t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	sum := sha256.Sum256(content)
	for k, v := range map[string]string{"name": name, "version": version, "sha256_digest": hex.EncodeToString(sum[:]), ":action": "file_upload", "metadata_version": "2.1", "filetype": "sdist"} {
		if err := w.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	fw, err := w.CreateFormFile("content", fmt.Sprintf("%s-%s.tar.gz", name, version))
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(content)
	w.Close()
	req, err := http.NewRequest("POST", g.URL+"/api/packages/"+owner+"/pypi/", &body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Authorization", "token "+g.AdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 201 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("PyPI upload %s %s: HTTP %d: %s", name, version, resp.StatusCode, b)
	}
}

// Runner is a runner registered through the runner protocol.
type Runner struct {
	Name string
	// UUID identifies the runner to Gitea; the runner token stays private.
	UUID  string
	token string
	url   string
}

// RegisterRunner registers a global runner with a new registration token
// from the admin API, declares its labels, and polls once (so it starts
// online).
func (g *Gitea) RegisterRunner(t TB, name string, labels ...string) *Runner {
	t.Helper()
	var reg struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(g.must(t, 200, "POST", "/api/v1/admin/actions/runners/registration-token", nil), &reg); err != nil || reg.Token == "" {
		t.Fatalf("registration token: %v", err)
	}
	var res struct {
		Runner struct {
			UUID  string `json:"uuid"`
			Token string `json:"token"`
		} `json:"runner"`
	}
	if labels == nil {
		labels = []string{}
	}
	if err := connect(context.Background(), g.URL, "Register", nil, map[string]any{
		"name": name, "token": reg.Token, "version": "giteaenv", "labels": labels,
	}, &res); err != nil {
		t.Fatalf("registering runner %s: %v", name, err)
	}
	r := &Runner{Name: name, UUID: res.Runner.UUID, token: res.Runner.Token, url: g.URL}
	if err := r.Declare(context.Background(), labels...); err != nil {
		t.Fatalf("declaring runner %s: %v", name, err)
	}
	if err := r.FetchTask(context.Background()); err != nil {
		t.Fatalf("runner %s FetchTask: %v", name, err)
	}
	return r
}

func (r *Runner) call(ctx context.Context, method string, body any) error {
	return connect(ctx, r.url, method, map[string]string{"x-runner-uuid": r.UUID, "x-runner-token": r.token}, body, nil)
}

// FetchTask polls for a task once, as act_runner does every few seconds;
// Gitea records the runner as online.
func (r *Runner) FetchTask(ctx context.Context) error {
	return r.call(ctx, "FetchTask", map[string]any{"tasksVersion": "0"})
}

// Declare replaces the runner's labels.
func (r *Runner) Declare(ctx context.Context, labels ...string) error {
	if labels == nil {
		labels = []string{}
	}
	return r.call(ctx, "Declare", map[string]any{"version": "giteaenv", "labels": labels})
}

// MarkBusy makes Gitea count the runner as active (busy) for about 10 s:
// Gitea records activity for any UpdateLog call before handling it, so a
// call for a task that does not exist still counts (its error is ignored).
func (r *Runner) MarkBusy(ctx context.Context) error {
	err := r.call(ctx, "UpdateLog", map[string]any{"taskId": "999999999", "index": "0", "rows": []any{}, "noMore": false})
	if err != nil && !strings.Contains(err.Error(), "HTTP") {
		return err // transport error; an API error is expected
	}
	return nil
}

// KeepOnline polls FetchTask every interval until stop is called (or the
// test ends).
func (r *Runner) KeepOnline(t TB, every time.Duration) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				_ = r.FetchTask(ctx) // a missed poll is retried at the next tick
			}
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

// connect calls a RunnerService method with the Connect protocol's JSON
// encoding (what act_runner speaks, in protobuf JSON form).
func connect(ctx context.Context, base, method string, headers map[string]string, body, out any) error {
	js, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, "POST", base+"/api/actions/runner.v1.RunnerService/"+method, bytes.NewReader(js))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Connect-Protocol-Version", "1")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s: HTTP %d: %s", method, resp.StatusCode, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}
