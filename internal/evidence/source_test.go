package evidence

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestReadDirOddTree reads a real directory with everything an evidence
// checkout can hold: good and bad records, a huge file, a binary file, a
// FIFO, a dangling symlink, a symlink to a device, hidden directories and
// unrelated files. Nothing blocks or stops the other records being read.
func TestReadDirOddTree(t *testing.T) {
	dir := t.TempDir()
	copyFile(t, "testdata/valid/source-forge.yaml", filepath.Join(dir, "2026/source-forge.yaml"))
	copyFile(t, "testdata/valid/package-blob.json", filepath.Join(dir, "package-blob.json"))
	copyFile(t, "testdata/invalid/malformed.yaml", filepath.Join(dir, "aaa-malformed.yaml"))
	copyFile(t, "testdata/invalid/secret-despite-assertion.yaml", filepath.Join(dir, "leak.yml"))
	copyFile(t, "testdata/valid/secret-delivery.yml", filepath.Join(dir, ".git/objects/hidden.yaml"))
	os.WriteFile(filepath.Join(dir, "README.md"), []byte("# evidence\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "huge.yaml"), []byte(strings.Repeat("a: b\n", MaxRecordBytes/4)), 0o644)
	os.WriteFile(filepath.Join(dir, "binary.json"), []byte{0x7f, 'E', 'L', 'F', 0, 0, 1, 2}, 0o644)
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Symlink("/nonexistent/record.yaml", filepath.Join(dir, "dangling.yaml"))
	os.Symlink("/dev/zero", filepath.Join(dir, "zero.yaml"))

	results, err := ReadDir(context.Background(), dir, "drills", Options{Now: testNow, Assets: inventory})
	if err != nil {
		t.Fatalf("ReadDir: %v", err)
	}
	got := map[string]*Result{}
	for _, r := range results {
		rel, _ := filepath.Rel(dir, r.Source)
		got[rel] = r
		if r.Origin != "drills" {
			t.Errorf("%s: origin %q, want the configured directory's name", rel, r.Origin)
		}
	}
	want := map[string]string{ // record -> "" (valid) or a substring of its problems
		"2026/source-forge.yaml": "",
		"package-blob.json":      "",
		"aaa-malformed.yaml":     "invalid YAML/JSON",
		"leak.yml":               "detector password",
		"huge.yaml":              "larger than 256 KiB",
		"binary.json":            "not a text file",
		"fifo.yaml":              "not a regular file",
		"dangling.yaml":          "cannot read: no such file or directory",
		"zero.yaml":              "not a regular file",
	}
	for name, problem := range want {
		r, ok := got[name]
		if !ok {
			t.Errorf("%s was not read", name)
			continue
		}
		msgs := strings.Join(r.Messages(), "\n")
		if problem == "" && !r.Valid() {
			t.Errorf("%s: invalid: %s", name, msgs)
		}
		if problem != "" && (r.Valid() || !strings.Contains(msgs, problem)) {
			t.Errorf("%s: want a problem %q, got %q", name, problem, msgs)
		}
	}
	if len(got) != len(want) {
		t.Errorf("read %d records, want %d (hidden directories and non-record files are skipped): %v", len(got), len(want), keysOf(got))
	}
}

func keysOf(m map[string]*Result) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestReadDirMissing(t *testing.T) {
	_, err := ReadDir(context.Background(), filepath.Join(t.TempDir(), "nope"), "nope", Options{Now: testNow})
	if err == nil {
		t.Fatal("a missing directory is not an error")
	}
}

type fakeConfigMaps struct {
	cms []ConfigMap
	err error
	// hang waits for ctx, like a client whose API server does not answer.
	hang bool
}

func (f fakeConfigMaps) EvidenceConfigMaps(ctx context.Context) ([]ConfigMap, error) {
	if f.hang {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return f.cms, f.err
}

func TestLoaderCombinesSources(t *testing.T) {
	dir := t.TempDir()
	copyFile(t, "testdata/valid/source-forge.yaml", filepath.Join(dir, "a.yaml"))
	good, _ := os.ReadFile("testdata/valid/runner-substrate-failed.yaml")
	leak, _ := os.ReadFile("testdata/invalid/secret-in-check.json")
	l := &Loader{
		Dirs: []Dir{{"docs", dir}, {"missing", filepath.Join(dir, "missing")}},
		ConfigMaps: fakeConfigMaps{cms: []ConfigMap{
			{Namespace: "forge", Name: "drills", Data: map[string]string{"runner.yaml": string(good), "leak.json": string(leak), "README": "not a record"}},
		}},
		Assets: inventory,
	}
	snap := l.Load(context.Background())
	var sources []string
	for _, r := range snap.Results {
		sources = append(sources, r.Source)
	}
	wantSources := []string{filepath.Join(dir, "a.yaml"), "configmap/forge/drills/leak.json", "configmap/forge/drills/runner.yaml"}
	if strings.Join(sources, ",") != strings.Join(wantSources, ",") {
		t.Errorf("sources %v, want %v", sources, wantSources)
	}
	if len(snap.Sources) != 3 || snap.Sources[0].Err != nil || snap.Sources[1].Err == nil || snap.Sources[2].Origin != OriginConfigMap || snap.Sources[2].Err != nil {
		t.Errorf("source statuses %+v", snap.Sources)
	}
	counts := Count(snap.Results, []string{"docs", OriginConfigMap})
	if counts[0].Valid != 1 || counts[0].Invalid != 0 || counts[1].Valid != 1 || counts[1].Invalid != 1 || counts[1].Findings["openbao-token"] != 1 {
		t.Errorf("counts %+v", counts)
	}

	// A failing ConfigMap source is reported; the directory is still read.
	l.ConfigMaps = fakeConfigMaps{err: errors.New("forbidden")}
	snap = l.Load(context.Background())
	if len(snap.Results) != 1 || snap.Sources[2].Err == nil || !strings.Contains(snap.Sources[2].Err.Error(), "forbidden") {
		t.Errorf("with a failing ConfigMap source: %d results, sources %+v", len(snap.Results), snap.Sources)
	}

	// An API server that never answers costs that source its timeout; the
	// directory is still read.
	l.ConfigMaps, l.ConfigMapTimeout = fakeConfigMaps{hang: true}, 50*time.Millisecond
	snap = l.Load(context.Background())
	if len(snap.Results) != 1 || !errors.Is(snap.Sources[2].Err, context.DeadlineExceeded) {
		t.Errorf("with a hanging ConfigMap source: %d results, sources %+v", len(snap.Results), snap.Sources)
	}
}

// TestLoaderCacheFollowsChanges: unchanged files are not parsed again, a
// rewritten, a new and a deleted file are noticed, and a future-dated
// record becomes valid once its date has come.
func TestLoaderCacheFollowsChanges(t *testing.T) {
	dir := t.TempDir()
	copyFile(t, "testdata/valid/source-forge.yaml", filepath.Join(dir, "a.yaml"))
	future, _ := os.ReadFile("testdata/invalid/future-date.yaml")
	os.WriteFile(filepath.Join(dir, "future.yaml"), future, 0o644)
	now := testNow
	l := &Loader{Dirs: []Dir{{"d", dir}}, Now: func() time.Time { return now }}
	first := l.Load(context.Background())
	second := l.Load(context.Background())
	if first.Results[0] != second.Results[0] {
		t.Error("an unchanged record was parsed again")
	}
	if second.Results[1].Valid() {
		t.Fatal("future-dated record valid")
	}
	// Rewrite a.yaml (same size, so only mtime/ctime tell), add b, and let
	// the future arrive.
	data, _ := os.ReadFile(filepath.Join(dir, "a.yaml"))
	os.WriteFile(filepath.Join(dir, "a.yaml"), []byte(strings.Replace(string(data), "result: passed", "result: failed", 1)), 0o644)
	copyFile(t, "testdata/valid/package-blob.json", filepath.Join(dir, "b.json"))
	now = time.Date(2099, 1, 2, 0, 0, 0, 0, time.UTC)
	third := l.Load(context.Background())
	if len(third.Results) != 3 || third.Results[0].Record.Passed() || !third.Results[2].Valid() {
		t.Fatalf("after changes: %d results, a passed=%v", len(third.Results), third.Results[0].Record.Passed())
	}
	if !third.Results[2].Valid() || third.Results[2].Source != filepath.Join(dir, "future.yaml") {
		t.Errorf("future-dated record not re-read when its date came: %v", third.Results[2].Messages())
	}
	os.Remove(filepath.Join(dir, "b.json"))
	if fourth := l.Load(context.Background()); len(fourth.Results) != 2 || len(l.cache.entries) != 2 {
		t.Errorf("deleted record still read or cached: %d results, %d cached", len(fourth.Results), len(l.cache.entries))
	}
}
