package evidence

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/railiance/forge-exporter/internal/secretscan"
)

// OriginConfigMap is the Origin (metric label) of records read from ConfigMaps.
const OriginConfigMap = "configmap"

// MaxRecordsPerSource bounds how many records one directory or the
// ConfigMaps may hold, so a misconfigured directory (a whole filesystem)
// cannot make a sample unbounded.
const MaxRecordsPerSource = 10000

// IsRecordName reports whether a file or ConfigMap key name is read as a record.
func IsRecordName(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	return ext == ".yaml" || ext == ".yml" || ext == ".json"
}

// ConfigMap is the part of a Kubernetes ConfigMap that evidence reads.
type ConfigMap struct {
	Namespace, Name string
	Data            map[string]string
}

// ConfigMapSource lists the ConfigMaps carrying evidence records (those with
// the configured label). The Kubernetes client implements it; tests use a
// fake.
type ConfigMapSource interface {
	EvidenceConfigMaps(ctx context.Context) ([]ConfigMap, error)
}

// SourceStatus is the outcome of reading one source.
type SourceStatus struct {
	Origin string
	// Err is set when the source could not be read (fully); the records
	// that were read are still used.
	Err error
}

// Snapshot is one read of every source.
type Snapshot struct {
	At      time.Time
	Results []*Result
	Sources []SourceStatus
}

// Dir is a configured evidence directory; Name is its Origin (metric label).
type Dir struct {
	Name, Path string
}

// Loader reads every configured source.
type Loader struct {
	Dirs       []Dir
	ConfigMaps ConfigMapSource // nil: no ConfigMaps
	// ConfigMapTimeout bounds listing the ConfigMaps (default 10s), so an
	// unreachable API server fails that source alone and never holds back
	// the directory records.
	ConfigMapTimeout time.Duration
	// Assets is the asset inventory records are checked against (nil: none).
	Assets  map[string]bool
	Scanner *secretscan.Scanner
	Now     func() time.Time

	// cache keeps the results of files that did not change since the last
	// Load, so a large evidence checkout costs a stat per file per sample.
	cache *FileCache
}

// Load reads all sources. It returns no error: a source that fails is
// reported in Snapshot.Sources and the others are still read.
func (l *Loader) Load(ctx context.Context) *Snapshot {
	now := time.Now
	if l.Now != nil {
		now = l.Now
	}
	opts := Options{Now: now(), Assets: l.Assets, Scanner: l.Scanner}
	snap := &Snapshot{At: opts.Now}
	if l.cache == nil {
		l.cache = NewFileCache()
	}
	l.cache.begin()
	defer l.cache.prune()
	for _, dir := range l.Dirs {
		results, err := readDir(ctx, dir.Path, dir.Name, opts, l.cache)
		snap.Results = append(snap.Results, results...)
		snap.Sources = append(snap.Sources, SourceStatus{Origin: dir.Name, Err: err})
	}
	if l.ConfigMaps != nil {
		timeout := l.ConfigMapTimeout
		if timeout <= 0 {
			timeout = 10 * time.Second
		}
		cmCtx, cancel := context.WithTimeout(ctx, timeout)
		results, err := ReadConfigMaps(cmCtx, l.ConfigMaps, opts)
		cancel()
		snap.Results = append(snap.Results, results...)
		snap.Sources = append(snap.Sources, SourceStatus{Origin: OriginConfigMap, Err: err})
	}
	return snap
}

// ReadConfigMaps parses every record-named data key of the listed ConfigMaps.
func ReadConfigMaps(ctx context.Context, src ConfigMapSource, opts Options) ([]*Result, error) {
	cms, err := src.EvidenceConfigMaps(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing evidence ConfigMaps: %w", err)
	}
	sort.Slice(cms, func(i, j int) bool {
		if cms[i].Namespace != cms[j].Namespace {
			return cms[i].Namespace < cms[j].Namespace
		}
		return cms[i].Name < cms[j].Name
	})
	var out []*Result
	for _, cm := range cms {
		keys := make([]string, 0, len(cm.Data))
		for k := range cm.Data {
			if IsRecordName(k) {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			if len(out) >= MaxRecordsPerSource {
				return out, fmt.Errorf("more than %d records in ConfigMaps; the rest were not read", MaxRecordsPerSource)
			}
			src := fmt.Sprintf("configmap/%s/%s/%s", cm.Namespace, cm.Name, k)
			out = append(out, Parse(src, OriginConfigMap, []byte(cm.Data[k]), opts))
		}
	}
	return out, ctx.Err()
}

// ReadDir parses every .yaml, .yml and .json file below dir (hidden
// directories such as .git are skipped); origin labels the results. A file
// that cannot be read is an invalid record; only an unreadable dir is an
// error.
func ReadDir(ctx context.Context, dir, origin string, opts Options) ([]*Result, error) {
	return readDir(ctx, dir, origin, opts, nil)
}

func readDir(ctx context.Context, dir, origin string, opts Options, cache *FileCache) ([]*Result, error) {
	var out []*Result
	var walkErrs []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		if err != nil {
			if path == dir {
				return err
			}
			walkErrs = append(walkErrs, err.Error())
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		name := d.Name()
		if d.IsDir() {
			if path != dir && strings.HasPrefix(name, ".") {
				return fs.SkipDir
			}
			return nil
		}
		if strings.HasPrefix(name, ".") || !IsRecordName(name) {
			return nil
		}
		if len(out) >= MaxRecordsPerSource {
			return fmt.Errorf("more than %d records below %s; the rest were not read", MaxRecordsPerSource, dir)
		}
		out = append(out, readRecord(path, origin, opts, cache))
		return nil
	})
	if err == nil && len(walkErrs) > 0 {
		err = fmt.Errorf("reading %s: %s", dir, strings.Join(walkErrs, "; "))
	}
	return out, err
}

// errTooLarge marks a file over MaxRecordBytes.
var errTooLarge = fmt.Errorf("larger than %d KiB: not read (a record is a few KiB)", MaxRecordBytes>>10)

// ReadFile reads one record file the way ReadDir does: regular files of at
// most MaxRecordBytes only, opened without blocking.
func ReadFile(path string) ([]byte, error) {
	f, st, err := openRecord(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readOpen(f, st)
}

// readRecord reads and parses one file, reusing the cached result when the
// file did not change.
func readRecord(path, origin string, opts Options, cache *FileCache) *Result {
	f, st, err := openRecord(path)
	if err != nil {
		return &Result{Source: path, Origin: origin, Problems: []Problem{{Reason: err.Error()}}}
	}
	defer f.Close()
	key := keyOf(st)
	if r := cache.get(path, origin, key); r != nil {
		return r
	}
	data, err := readOpen(f, st)
	if err != nil {
		return &Result{Source: path, Origin: origin, Problems: []Problem{{Reason: err.Error()}}}
	}
	r := Parse(path, origin, data, opts)
	cache.put(path, origin, key, r)
	return r
}

// openRecord opens a file without blocking (a FIFO named x.yaml must not
// hang the sampler) and refuses anything that is not a regular file,
// following symlinks.
func openRecord(path string) (*os.File, os.FileInfo, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, cleanPathErr(err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, cleanPathErr(err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("not a regular file (%s)", st.Mode().Type())
	}
	return f, st, nil
}

// readOpen reads an opened record of at most MaxRecordBytes.
func readOpen(f *os.File, st os.FileInfo) ([]byte, error) {
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file (%s)", st.Mode().Type())
	}
	if st.Size() > MaxRecordBytes {
		return nil, errTooLarge
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxRecordBytes+1))
	if err != nil {
		return nil, cleanPathErr(err)
	}
	if len(data) > MaxRecordBytes {
		return nil, errTooLarge // grew while we read it
	}
	return data, nil
}

// cleanPathErr drops the path from an *fs.PathError: the message is shown
// next to the record's name already.
func cleanPathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("cannot read: %v", pe.Err)
	}
	return err
}
