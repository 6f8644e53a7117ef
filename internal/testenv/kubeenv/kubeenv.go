// Package kubeenv runs a real kube-apiserver backed by a real etcd on
// loopback, for integration tests and demos. There are no controllers, no
// scheduler and no kubelet: objects are stored, validated (real OpenAPI and
// CRD schemas), watched and authorised (real RBAC) exactly as in a cluster,
// but nothing reconciles them, so tests set status themselves through the
// status subresource.
//
// The binaries come from hack/realbin.sh (built once per machine from the Go
// module proxy into ~/.cache/forge-exporter/bin). Each Env gets fresh key
// material (a CA, a serving certificate, a service-account signing key, all
// ECDSA from Go's crypto), free loopback ports and its own directory.
//
// API:
//
//	env, err := kubeenv.Start(ctx, kubeenv.Options{...}) // etcd + kube-apiserver, /readyz, CRDs installed
//	defer env.Stop()                                     // SIGTERM, then SIGKILL of both process groups; no strays
//	env := kubeenv.ForTest(t, kubeenv.Options{...})      // the same in a test: Stop on cleanup; when the
//	                                                     // binaries are missing it fails under CI=true, else skips
//	env.Config()                          // *rest.Config of "admin" (group system:masters: bypasses RBAC)
//	env.UserConfig("alice")               // *rest.Config of a static token user from Options.Users
//	env.ServiceAccountConfig(ctx, ns, n)  // creates namespace + ServiceAccount, returns a config with a
//	                                      // TokenRequest token: user system:serviceaccount:ns:n
//	env.WriteKubeconfig(path, cfg)        // a kubeconfig file for any of these configs
//	env.InstallCRDs(ctx, files...)        // apply CRD manifests, wait until Established and discoverable
//	env.ApplyFiles(ctx, files...)         // server-side apply of any multi-document YAML manifests
//	env.Apply(ctx, yamlBytes)             //   (RBAC, namespaces, rendered Helm charts, ...)
//	env.Dynamic(), env.Clientset()        // admin clients
//	env.URL(), env.Dir()                  // https://127.0.0.1:PORT and the working directory (logs:
//	                                      // etcd.log, kube-apiserver.log)
//	kubeenv.CRDDir()                      // $FORGE_CRD_DIR, else <repo>/../shared/fixtures/crds
//	kubeenv.CRDFile("postgresql.cnpg.io_backups.yaml") // a file in CRDDir()
//
// Options.CRDs nil installs every *.yaml in CRDDir() before Start returns;
// an empty non-nil slice (kubeenv.NoCRDs) installs none, so a test can
// install some later and watch a consumer notice.
//
// To keep one server running outside a test (the demo), use the tiny CLI:
//
//	go run ./hack/kubeenv -kubeconfig /tmp/kube/admin.kubeconfig   # blocks until SIGINT/SIGTERM
//
// A package that wants one server for all its tests starts it in TestMain
// (Start, m.Run, Stop); starting one takes about 5-10 s on 2 cores.
package kubeenv

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/railiance/forge-exporter/internal/testenv"
)

// User is a static token user the server knows from its token file.
type User struct {
	Name   string
	Groups []string
}

// NoCRDs, as Options.CRDs, starts the server with no CRDs installed.
var NoCRDs = []string{}

// Options configures Start. The zero value is a server with every fixture CRD.
type Options struct {
	// Dir is the working directory (data, keys, logs); empty means a new
	// temporary directory that Stop removes.
	Dir string
	// CRDs are manifest files installed before Start returns; nil means
	// every *.yaml in CRDDir(), NoCRDs none.
	CRDs []string
	// Users are extra static token users (for RBAC tests).
	Users []User
	// StartTimeout bounds the wait for etcd and /readyz; default 2 minutes
	// (a shared 2-core machine can be slow).
	StartTimeout time.Duration
	// Logs, when set, also receives both processes' output.
	Logs io.Writer
}

// Env is a running etcd + kube-apiserver pair.
type Env struct {
	dir       string
	removeDir bool
	url       string
	pki       *pki
	procs     []*proc
	admin     *rest.Config
	stopOnce  sync.Once
	stopErr   error
}

type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	log  *os.File
}

// CRDDir returns the directory of upstream CRD manifests: $FORGE_CRD_DIR
// when set, else ../shared/fixtures/crds beside the repository (where CI
// puts it).
func CRDDir() (string, error) {
	if d := os.Getenv("FORGE_CRD_DIR"); d != "" {
		return d, nil
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		return "", err
	}
	d := filepath.Join(root, "..", "shared", "fixtures", "crds")
	if _, err := os.Stat(d); err != nil {
		return "", fmt.Errorf("kubeenv: CRD directory %s: %w (set FORGE_CRD_DIR)", d, err)
	}
	return d, nil
}

// CRDFile returns the path of a manifest in CRDDir().
func CRDFile(name string) (string, error) {
	d, err := CRDDir()
	if err != nil {
		return "", err
	}
	p := filepath.Join(d, name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("kubeenv: %w", err)
	}
	return p, nil
}

// Start starts etcd and kube-apiserver, waits for /readyz and installs the
// CRDs. On error nothing is left running.
func Start(ctx context.Context, opts Options) (*Env, error) {
	etcdBin, err := testenv.Binary("etcd")
	if err != nil {
		return nil, err
	}
	apiBin, err := testenv.Binary("kube-apiserver")
	if err != nil {
		return nil, err
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 2 * time.Minute
	}
	crds := opts.CRDs
	if crds == nil {
		dir, err := CRDDir()
		if err != nil {
			return nil, err
		}
		crds, err = filepath.Glob(filepath.Join(dir, "*.yaml"))
		if err != nil {
			return nil, err
		}
	}
	e := &Env{dir: opts.Dir}
	if e.dir == "" {
		if e.dir, err = os.MkdirTemp("", "kubeenv-"); err != nil {
			return nil, err
		}
		e.removeDir = true
	} else if err := os.MkdirAll(e.dir, 0o700); err != nil {
		return nil, err
	}
	if e.pki, err = newPKI(e.dir, opts.Users); err != nil {
		e.Stop()
		return nil, err
	}
	// A free port can be taken between picking and binding; retry the
	// whole start a few times rather than fail a test on that race.
	for attempt := 1; ; attempt++ {
		err = e.start(ctx, etcdBin, apiBin, opts)
		if err == nil {
			break
		}
		e.stopProcs()
		if attempt == 3 || ctx.Err() != nil || !errors.Is(err, errExited) {
			e.Stop()
			return nil, err
		}
	}
	if len(crds) > 0 {
		ictx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
		defer cancel()
		if err := e.InstallCRDs(ictx, crds...); err != nil {
			e.Stop()
			return nil, err
		}
	}
	return e, nil
}

var errExited = errors.New("process exited")

func (e *Env) start(ctx context.Context, etcdBin, apiBin string, opts Options) error {
	ports, err := testenv.FreePorts(3)
	if err != nil {
		return err
	}
	clientURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	peerURL := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	dataDir := filepath.Join(e.dir, "etcd")
	_ = os.RemoveAll(dataDir)
	etcd, err := e.spawn("etcd", opts.Logs, etcdBin,
		"--name=default",
		"--data-dir="+dataDir,
		"--listen-client-urls="+clientURL,
		"--advertise-client-urls="+clientURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL,
		"--log-level=warn",
		// Test data: durability across power loss is not needed, speed is.
		"--unsafe-no-fsync",
	)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(opts.StartTimeout)
	if err := waitHTTP(ctx, etcd, deadline, http.DefaultClient, clientURL+"/health", ""); err != nil {
		return err
	}

	e.url = "https://127.0.0.1:" + strconv.Itoa(ports[2])
	api, err := e.spawn("kube-apiserver", opts.Logs, apiBin,
		"--etcd-servers="+clientURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(ports[2]),
		// The default reconciler wants a routable address for the
		// kubernetes Service endpoints; 127.0.0.1 is refused.
		"--endpoint-reconciler-type=none",
		"--tls-cert-file="+e.pki.certFile,
		"--tls-private-key-file="+e.pki.keyFile,
		"--cert-dir="+filepath.Join(e.dir, "certs"),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+e.pki.saPubFile,
		"--service-account-signing-key-file="+e.pki.saKeyFile,
		"--service-cluster-ip-range=10.0.0.0/24",
		"--token-auth-file="+e.pki.tokensFile,
		"--authorization-mode=RBAC",
		"--allow-privileged=false",
		"--profiling=false",
	)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(e.pki.caPEM)
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	if err := waitHTTP(ctx, api, deadline, hc, e.url+"/readyz", e.pki.adminToken); err != nil {
		return err
	}
	e.admin = &rest.Config{
		Host:            e.url,
		BearerToken:     e.pki.adminToken,
		TLSClientConfig: rest.TLSClientConfig{CAData: e.pki.caPEM},
		// Tests create thousands of objects; don't throttle them client-side.
		QPS:   1000,
		Burst: 2000,
	}
	return nil
}

func (e *Env) spawn(name string, extra io.Writer, bin string, args ...string) (*proc, error) {
	f, err := os.OpenFile(filepath.Join(e.dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	var w io.Writer = f
	if extra != nil {
		w = io.MultiWriter(f, extra)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = w, w
	cmd.Dir = e.dir
	// Own process group, so Stop reaches anything the server forks, and a
	// parent-death signal, so a killed test process leaves no server behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("kubeenv: starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{}), log: f}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	e.procs = append(e.procs, p)
	return p, nil
}

// waitHTTP polls url until it answers 200, the process exits or the
// deadline passes.
func waitHTTP(ctx context.Context, p *proc, deadline time.Time, hc *http.Client, url, token string) error {
	var last string
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(body)))
		} else {
			last = err.Error()
		}
		select {
		case <-p.done:
			return fmt.Errorf("kubeenv: %s exited before it was ready (%v): %w\n%s", p.name, p.err, errExited, tailFile(p.log.Name(), 20))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kubeenv: %s not ready at %s after the start timeout (last answer: %s)\n%s", p.name, url, last, tailFile(p.log.Name(), 20))
		}
	}
}

func tailFile(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// Logs returns the last lines of a process's log ("etcd" or "kube-apiserver").
func (e *Env) Logs(name string, lines int) string {
	return tailFile(filepath.Join(e.dir, name+".log"), lines)
}

// URL is the API server's address.
func (e *Env) URL() string { return e.url }

// Dir is the working directory (keys, etcd data, logs).
func (e *Env) Dir() string { return e.dir }

// Config returns a new admin config (system:masters).
func (e *Env) Config() *rest.Config { return rest.CopyConfig(e.admin) }

// Clientset returns an admin typed client.
func (e *Env) Clientset() *kubernetes.Clientset { return kubernetes.NewForConfigOrDie(e.Config()) }

// Dynamic returns an admin dynamic client.
func (e *Env) Dynamic() *dynamic.DynamicClient { return dynamic.NewForConfigOrDie(e.Config()) }

// UserConfig returns a config for a static token user from Options.Users.
func (e *Env) UserConfig(name string) (*rest.Config, error) {
	tok, ok := e.pki.userTokens[name]
	if !ok {
		return nil, fmt.Errorf("kubeenv: no user %q (declare it in Options.Users)", name)
	}
	c := rest.CopyConfig(e.admin)
	c.BearerToken = tok
	c.QPS, c.Burst = 0, 0
	return c, nil
}

// Stop ends kube-apiserver and etcd (SIGTERM, then SIGKILL after 10 s, to
// the whole process group) and removes the temporary directory. It is safe
// to call more than once.
func (e *Env) Stop() error {
	e.stopOnce.Do(func() {
		e.stopErr = e.stopProcs()
		if e.removeDir {
			if err := os.RemoveAll(e.dir); err != nil && e.stopErr == nil {
				e.stopErr = err
			}
		}
	})
	return e.stopErr
}

func (e *Env) stopProcs() error {
	var errs []error
	for i := len(e.procs) - 1; i >= 0; i-- {
		p := e.procs[i]
		pgid := p.cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-p.done
			errs = append(errs, fmt.Errorf("kubeenv: %s ignored SIGTERM for 10s and was killed", p.name))
		}
		// Anything left in the group (there should be nothing) goes too.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		p.log.Close()
	}
	e.procs = nil
	return errors.Join(errs...)
}

// PIDs returns the process ids of the running servers (etcd first).
func (e *Env) PIDs() []int {
	var out []int
	for _, p := range e.procs {
		out = append(out, p.cmd.Process.Pid)
	}
	return out
}
