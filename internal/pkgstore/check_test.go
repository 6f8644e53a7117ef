package pkgstore

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// store is a test blob store in a temporary directory.
type store struct {
	t    *testing.T
	root string
}

func newStore(t *testing.T) *store {
	root := filepath.Join(t.TempDir(), "packages")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	return &store{t: t, root: root}
}

// put writes content as a blob and returns its digest.
func (s *store) put(content string) Digest {
	s.t.Helper()
	d := Digest(sha256.Sum256([]byte(content)))
	p := filepath.Join(s.root, d.RelPath())
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		s.t.Fatal(err)
	}
	return d
}

func (s *store) path(d Digest) string { return filepath.Join(s.root, d.RelPath()) }

func (s *store) age(d Digest, by time.Duration) {
	s.t.Helper()
	old := time.Now().Add(-by)
	if err := os.Chtimes(s.path(d), old, old); err != nil {
		s.t.Fatal(err)
	}
}

func digestOf(content string) Digest { return Digest(sha256.Sum256([]byte(content))) }

// problems runs a check that reports every problem and returns them sorted
// as "kind path detail" lines.
func problems(t *testing.T, root string, idx *Index, opts Options) (Result, []string) {
	t.Helper()
	var out []string
	opts.Report = func(p Problem) {
		line := p.Kind.String() + " " + p.Path
		if p.Version != nil {
			line += " " + p.Version.Name + "@" + p.Version.Version
		}
		if p.File != "" {
			line += " file=" + p.File
		}
		if p.Kind == SizeMismatch {
			line += fmt.Sprintf(" %d!=%d", p.Size, p.BlobSize)
		}
		if p.Detail != "" {
			line += " (" + p.Detail + ")"
		}
		out = append(out, line)
	}
	res, err := Check(context.Background(), root, idx, opts)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return res, out
}

func TestCheckFindsEachKind(t *testing.T) {
	s := newStore(t)
	ok := s.put("ok")
	shared := s.put("shared by two versions")
	short := s.put("twelve bytes")
	if err := os.Truncate(s.path(short), 5); err != nil {
		t.Fatal(err)
	}
	orphan := s.put("an orphan from an older database")
	s.age(orphan, 48*time.Hour)
	recent := s.put("uploaded after the listing")
	// A symlink and a directory where blobs belong.
	link := digestOf("symlinked")
	os.MkdirAll(filepath.Dir(s.path(link)), 0o755)
	if err := os.Symlink(s.path(ok), s.path(link)); err != nil {
		t.Fatal(err)
	}
	dir := digestOf("a directory")
	if err := os.MkdirAll(s.path(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	// Entries that are not of the layout.
	os.WriteFile(filepath.Join(s.root, "README"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(filepath.Dir(s.path(ok)), "not-a-digest"), []byte("x"), 0o644)
	misplaced := digestOf("misplaced")
	os.WriteFile(filepath.Join(filepath.Dir(s.path(ok)), misplaced.String()), []byte("misplaced"), 0o644)
	strayDir := digestOf("unreferenced directory")
	os.MkdirAll(s.path(strayDir), 0o755)
	os.Symlink("/etc", filepath.Join(s.root, "ff"))
	// Gitea stages uploads in <root>/tmp: not blobs, not foreign.
	os.MkdirAll(filepath.Join(s.root, "tmp"), 0o755)
	os.WriteFile(filepath.Join(s.root, "tmp", "upload-123"), []byte("in flight"), 0o644)

	versions := []Version{
		{Owner: "acme", Type: "pypi", Name: "lib", Version: "1.0", ID: 1},
		{Owner: "acme", Type: "pypi", Name: "lib", Version: "2.0", ID: 2},
		{Owner: "bob", Type: "generic", Name: "tool", Version: "1", ID: 3},
	}
	files := []File{
		{Digest: ok, Size: 2, Version: 0},
		{Digest: shared, Size: 22, Version: 0},
		{Digest: shared, Size: 22, Version: 1},
		{Digest: digestOf("never stored"), Size: 7, Version: 1},
		{Digest: short, Size: 12, Version: 2},
		{Digest: link, Size: 9, Version: 2},
		{Digest: dir, Size: 11, Version: 2},
		// A digest under the symlinked top directory ff/.
		{Digest: Digest{0xff, 0x01}, Size: 1, Version: 2},
	}
	idx := NewIndex(versions, files, time.Now().Add(-time.Hour))
	res, got := problems(t, s.root, idx, Options{Grace: time.Minute})

	want := []string{
		"foreign README (not a directory of the layout (two hex digits))",
		"foreign ff (a symlink, not a directory)",
		"foreign " + filepath.Dir(ok.RelPath()) + "/not-a-digest (not a blob of this directory (its name must be the sha256 of its content, starting with " + ok.String()[:4] + "))",
		"foreign " + filepath.Dir(ok.RelPath()) + "/" + misplaced.String() + " (not a blob of this directory (its name must be the sha256 of its content, starting with " + ok.String()[:4] + "))",
		"foreign " + strayDir.RelPath() + " (a directory named like a blob)",
		"missing " + digestOf("never stored").RelPath() + " lib@2.0",
		"missing " + link.RelPath() + " tool@1 (a symlink, not a regular file)",
		"missing " + dir.RelPath() + " tool@1 (a directory, not a regular file)",
		"missing " + Digest{0xff, 0x01}.RelPath() + " tool@1",
		"orphaned " + orphan.RelPath(),
		"size mismatch " + short.RelPath() + " tool@1 12!=5",
	}
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	wantGroups := []GroupCounts{
		{Owner: "acme", Type: "pypi", Files: 4, Missing: 1},
		{Owner: "bob", Type: "generic", Files: 4, Missing: 3, SizeMismatch: 1},
	}
	if fmt.Sprint(res.Groups) != fmt.Sprint(wantGroups) {
		t.Errorf("groups %+v, want %+v", res.Groups, wantGroups)
	}
	// Blobs: ok, shared, short, orphan, recent (regular files named as blobs).
	if res.Files != 8 || res.Blobs != 5 || res.Orphaned != 1 || res.OrphanedBytes != uint64(len("an orphan from an older database")) ||
		res.Recent != 1 || res.Foreign != 5 || res.Errors != 0 {
		t.Errorf("result %+v", res)
	}
	_ = recent
}

func TestCheckEmptyAndCleanStore(t *testing.T) {
	s := newStore(t)
	res, got := problems(t, s.root, NewIndex(nil, nil, time.Now()), Options{})
	if len(got) != 0 || res.Files != 0 || res.Blobs != 0 || len(res.Groups) != 0 {
		t.Errorf("empty: %+v %v", res, got)
	}
	var files []File
	for i := range 300 {
		c := fmt.Sprintf("blob %d", i)
		files = append(files, File{Digest: s.put(c), Size: int64(len(c))})
	}
	res, got = problems(t, s.root, NewIndex([]Version{{Owner: "o", Type: "npm"}}, files, time.Now()), Options{Concurrency: 3})
	if len(got) != 0 || res.Files != 300 || res.Blobs != 300 || res.Groups[0].Files != 300 {
		t.Errorf("clean: %+v %v", res, got)
	}
	if _, err := Check(context.Background(), filepath.Join(s.root, "nope"), NewIndex(nil, nil, time.Now()), Options{}); err == nil {
		t.Error("a missing root is not an error")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Check(ctx, s.root, NewIndex(nil, nil, time.Now()), Options{}); !errors.Is(err, ErrAbandoned) {
		t.Errorf("cancelled check: %v", err)
	}
}

// TestCheckConfirmsWithFreshMetadata: a missing file is re-listed before it
// is reported. A version deleted since, or whose tag was re-pushed (the old
// blob cleaned up), is not reported; a file still missing is reported with
// its name.
func TestCheckConfirmsWithFreshMetadata(t *testing.T) {
	s := newStore(t)
	newManifest := s.put("new manifest")
	versions := []Version{
		{Owner: "acme", Type: "container", Name: "app", Version: "latest", ID: 1},
		{Owner: "acme", Type: "pypi", Name: "gone", Version: "1.0", ID: 2},
		{Owner: "acme", Type: "pypi", Name: "broken", Version: "1.0", ID: 3},
		{Owner: "acme", Type: "pypi", Name: "beyond", Version: "1.0", ID: 4},
	}
	files := []File{
		{Digest: digestOf("old manifest"), Size: 12, Version: 0},
		{Digest: digestOf("gone"), Size: 4, Version: 1},
		{Digest: digestOf("broken"), Size: 6, Version: 2},
		{Digest: digestOf("beyond"), Size: 6, Version: 3},
	}
	relisted := map[int64]int{}
	confirm := func(_ context.Context, v Version) ([]ConfirmedFile, error) {
		relisted[v.ID]++
		switch v.ID {
		case 1:
			return []ConfirmedFile{{Name: "manifest.json", Digest: newManifest, Size: int64(len("new manifest"))}}, nil
		case 2:
			return nil, ErrVersionGone
		case 3:
			return []ConfirmedFile{{Name: "broken-1.0.tar.gz", Digest: digestOf("broken"), Size: 6}}, nil
		}
		return nil, errors.New("unexpected")
	}
	res, got := problems(t, s.root, NewIndex(versions, files, time.Now()), Options{Confirm: confirm, MaxConfirm: 3})
	want := []string{
		"missing " + digestOf("beyond").RelPath() + " beyond@1.0 (not re-listed (more than 3 versions with problems))",
		"missing " + digestOf("broken").RelPath() + " broken@1.0 file=broken-1.0.tar.gz",
	}
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if res.Relisted != 3 || len(relisted) != 3 || res.Orphaned != 0 || res.Groups[0].Missing != 0 || res.Groups[1].Missing != 2 || res.Groups[1].Files != 2 {
		t.Errorf("relisted %v, result %+v", relisted, res)
	}
	// A failing re-list fails the check: stale metadata must not page.
	_, err := Check(context.Background(), s.root, NewIndex(versions[3:], []File{{Digest: digestOf("beyond"), Size: 6}}, time.Now()),
		Options{Confirm: confirm})
	if err == nil || !strings.Contains(err.Error(), "re-listing acme/pypi/beyond 1.0: unexpected") {
		t.Errorf("failing confirm: %v", err)
	}
}

// helperEnv makes the test binary run a check and print the result as JSON
// instead of running tests: the permission test runs it as an unprivileged
// user, because root reads every directory whatever its mode.
const helperEnv = "FORGE_PKGSTORE_TEST_CHECK"

func TestMain(m *testing.M) {
	if root := os.Getenv(helperEnv); root != "" {
		var idx Index
		if err := json.Unmarshal([]byte(os.Getenv(helperEnv+"_INDEX")), &idx); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		res, err := Check(context.Background(), root, &idx, Options{})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		json.NewEncoder(os.Stdout).Encode(res)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestCheckPermissionDenied: a directory the exporter cannot read is an
// error, and the files whose blobs it would hold are neither missing nor
// counted as checked.
func TestCheckPermissionDenied(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatal("this test drops privileges to nobody and must run as root (CI and the dev container do)")
	}
	// MkdirTemp and t.TempDir make 0700 directories nobody cannot enter.
	base, err := os.MkdirTemp("", "pkgstore-perm-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	os.Chmod(base, 0o755)
	s := &store{t: t, root: base + "/packages"}
	os.Mkdir(s.root, 0o755)
	a, b := s.put("readable"), s.put("locked away")
	bin := base + "/pkgstore.test"
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	locked := filepath.Dir(s.path(b))
	if a.String()[:4] == b.String()[:4] {
		t.Fatal("test blobs share a leaf directory")
	}
	filepath.Walk(s.root, func(p string, fi os.FileInfo, err error) error { return os.Chmod(p, fi.Mode().Perm()|0o555) })
	if err := os.Chmod(locked, 0o700); err != nil {
		t.Fatal(err)
	}
	idx := NewIndex([]Version{{Owner: "o", Type: "generic"}}, []File{{Digest: a, Size: 8}, {Digest: b, Size: 11}}, time.Now())
	js, _ := json.Marshal(idx)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), helperEnv+"="+s.root, helperEnv+"_INDEX="+string(js))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper as nobody: %v (is the test binary readable by nobody?)", err)
	}
	var res Result
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	if res.Errors != 1 || res.Files != 1 || res.Groups[0].Missing != 0 || len(res.ErrorSamples) != 1 ||
		!strings.Contains(res.ErrorSamples[0], "permission denied") {
		t.Errorf("result as nobody: %+v", res)
	}
}
