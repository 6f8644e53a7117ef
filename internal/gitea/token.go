package gitea

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
)

// secret is a token value. Its String and LogValue never show the value, so
// an accidental %v or slog attribute cannot leak it.
type secret string

func (secret) String() string                 { return "<redacted>" }
func (secret) GoString() string               { return "<redacted>" }
func (secret) LogValue() slog.Value           { return slog.StringValue("<redacted>") }
func (s secret) MarshalText() ([]byte, error) { return []byte("<redacted>"), nil }

// tokenFile reads the API token from a file and re-reads it when the file
// changes. Kubernetes updates a mounted Secret by swapping a symlink
// (..data), and OpenBao/External Secrets agents rewrite the file; neither
// reliably produces an inotify event on the path we hold, so every use
// stats the path (following symlinks) and re-reads the content when the
// file identity, size or modification time differ from the last read.
type tokenFile struct {
	path   string
	logger *slog.Logger

	mu    sync.Mutex
	value secret
	stamp fileStamp
	// loaded is true after the first successful read, so the first read is
	// not logged as a rotation.
	loaded bool
}

type fileStamp struct {
	dev, ino uint64
	size     int64
	mtime    time.Time
}

func stampOf(fi os.FileInfo) fileStamp {
	st := fileStamp{size: fi.Size(), mtime: fi.ModTime()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.dev, st.ino = uint64(sys.Dev), uint64(sys.Ino)
	}
	return st
}

// get returns the current token, re-reading the file if it changed.
func (t *tokenFile) get() (secret, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fi, err := os.Stat(t.path)
	if err != nil {
		return "", fmt.Errorf("token file %s: %w", t.path, errors.Unwrap(err))
	}
	st := stampOf(fi)
	if t.loaded && st == t.stamp {
		return t.value, nil
	}
	b, err := os.ReadFile(t.path)
	if err != nil {
		return "", fmt.Errorf("reading token file %s: %w", t.path, errors.Unwrap(err))
	}
	v := secret(strings.TrimSpace(string(b)))
	if v == "" {
		return "", fmt.Errorf("token file %s is empty", t.path)
	}
	if strings.ContainsAny(string(v), " \t\r\n") {
		// Never echo the content: it is (part of) a secret.
		return "", fmt.Errorf("token file %s must hold exactly one token (it contains whitespace)", t.path)
	}
	if t.loaded && v != t.value {
		t.logger.Info("Gitea token file changed; using the new token from now on", "file", t.path)
	}
	t.value, t.stamp, t.loaded = v, st, true
	return v, nil
}
