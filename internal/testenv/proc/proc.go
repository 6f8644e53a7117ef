// Package proc runs the real servers of the test and demo harnesses
// (Prometheus, Alertmanager, the exporter itself) as child processes on
// loopback: each in its own process group, its output in a log file, a
// readiness poll with a deadline, and a stop that leaves nothing behind
// (SIGTERM to the group, SIGKILL after a grace period).
package proc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Process is a running server.
type Process struct {
	Name    string
	LogPath string
	cmd     *exec.Cmd
	log     *os.File
	done    chan struct{}
	waitErr error
}

// Options tune Start.
type Options struct {
	// Dir is the working directory; empty means the caller's.
	Dir string
	// Env replaces the environment when not nil.
	Env []string
}

// Start runs bin with args, its standard output and error appended to
// logPath.
func Start(name, bin, logPath string, args []string, opts Options) (*Process, error) {
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = opts.Dir
	cmd.Env = opts.Env
	cmd.Stdout, cmd.Stderr = log, log
	// A group of its own: Stop reaches any child it starts, and a Ctrl-C
	// in the terminal reaches only the harness, which then stops it in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &Process{Name: name, LogPath: logPath, cmd: cmd, log: log, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		log.Close()
		close(p.done)
	}()
	return p, nil
}

// Exited is closed when the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.done }

// WaitReady polls url until it answers 200, the process exits or ctx ends.
func (p *Process) WaitReady(ctx context.Context, url string) error {
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited during start-up (%v); last log lines:\n%s", p.Name, p.waitErr, p.Tail(20))
		case <-ctx.Done():
			return fmt.Errorf("%s not ready at %s: %w; last log lines:\n%s", p.Name, url, ctx.Err(), p.Tail(20))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop sends SIGTERM to the process group and SIGKILL after grace; it
// returns once the process has exited. Stopping twice is harmless.
func (p *Process) Stop(grace time.Duration) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
	return fmt.Errorf("%s did not stop within %s of SIGTERM and was killed", p.Name, grace)
}

// Tail returns the last n lines of the process's log.
func (p *Process) Tail(n int) string {
	f, err := os.Open(p.LogPath)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 64*1024), 1024*1024)
	for s.Scan() {
		lines = append(lines, s.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// Serve serves h on a free loopback port and returns its base URL and a
// function that shuts it down.
func Serve(h http.Handler) (url string, stop func(), err error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(os.Stderr, "proc: serving on %s: %v\n", l.Addr(), err)
		}
	}()
	return "http://" + l.Addr().String(), func() { srv.Shutdown(context.Background()) }, nil
}
