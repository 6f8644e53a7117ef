package walk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/railiance/forge-exporter/internal/walk/blobtree"
)

// helperEnv makes the test binary scan a tree and print the result as JSON
// instead of running tests; the permission test runs it as an unprivileged
// user, because root reads every directory whatever its mode.
const helperEnv = "FORGE_WALK_TEST_SCAN"

func TestMain(m *testing.M) {
	if root := os.Getenv(helperEnv); root != "" {
		res, err := ScanOnce(context.Background(), root, 4)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		json.NewEncoder(os.Stdout).Encode(res)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// duTotals runs the real du and find on root, as the user cred (nil: as we are).
func duTotals(t *testing.T, root string, cred *syscall.Credential) Totals {
	t.Helper()
	num := func(name string, args ...string) uint64 {
		cmd := exec.Command(name, args...)
		if cred != nil {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		}
		out, err := cmd.Output()
		// du and find exit 1 after "cannot read directory" but still print
		// their totals; only a missing total is a failure here.
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("%s %v: %v", name, args, err)
		}
		f := strings.Fields(string(out))
		if len(f) == 0 {
			t.Fatalf("%s %v printed nothing: %v", name, args, err)
		}
		n, perr := strconv.ParseUint(f[0], 10, 64)
		if perr != nil {
			t.Fatalf("%s %v: %q: %v", name, args, out, perr)
		}
		return n
	}
	count := func(typ string) uint64 {
		return num("sh", "-c", `find "$1" -type `+typ+` 2>/dev/null | wc -l`, "sh", root)
	}
	return Totals{
		Bytes:     num("du", "-sb", "--apparent-size", root),
		Allocated: num("du", "-sB1", root),
		Files:     count("f"),
		Dirs:      count("d"),
	}
}

// sameAsDu compares the du/find totals with a scan's, ignoring the fields du
// does not report.
func sameAsDu(t *testing.T, what string, got, du Totals) {
	t.Helper()
	got.Others, got.Errors = 0, 0
	if got != du {
		t.Errorf("%s: walker %+v, du/find %+v", what, got, du)
	}
}

func write(t *testing.T, path string, size int) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(strings.Repeat("x", size)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// oddTree builds a tree with everything du and find disagree about when done
// wrong: hard links within and across directories, sparse files, symlinks to
// files, to directories, dangling and in a loop, a FIFO, a socket, empty and
// deep directories, and a directory with more entries than one getdents read.
func oddTree(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "tree")
	write(t, root+"/packages/ab/cd/abcd01", 1000)
	write(t, root+"/packages/ab/cd/abcd02", 5000)
	write(t, root+"/packages/ab/ef/abef01", 70000)
	write(t, root+"/packages/12/34/123401", 0)
	must(t, os.Link(root+"/packages/ab/cd/abcd02", root+"/packages/ab/cd/abcd02.link"))
	must(t, os.Link(root+"/packages/ab/ef/abef01", root+"/packages/12/34/cross.link"))
	f, err := os.Create(root + "/sparse")
	must(t, err)
	must(t, f.Truncate(1<<30))
	_, err = f.WriteAt([]byte("data"), 1<<20)
	must(t, err)
	must(t, f.Close())
	must(t, os.Symlink("packages/ab/cd/abcd01", root+"/link-to-file"))
	must(t, os.Symlink("packages", root+"/link-to-dir"))
	must(t, os.Symlink("nowhere", root+"/dangling"))
	must(t, os.Symlink("loop-b", root+"/loop-a"))
	must(t, os.Symlink("loop-a", root+"/loop-b"))
	must(t, os.Symlink("..", root+"/packages/up"))
	must(t, unix.Mkfifo(root+"/fifo", 0o644))
	l, err := net.Listen("unix", root+"/sock")
	must(t, err)
	t.Cleanup(func() { l.Close() })
	must(t, os.MkdirAll(root+"/empty/deeper/deepest", 0o755))
	deep := root + "/deep"
	for i := range 40 {
		deep = filepath.Join(deep, strconv.Itoa(i))
	}
	write(t, deep+"/leaf", 10)
	must(t, os.Mkdir(root+"/big", 0o755))
	for i := range 3000 { // 3000 entries with long names: several 64 KiB getdents reads
		must(t, os.WriteFile(fmt.Sprintf("%s/big/%s-%04d", root, strings.Repeat("n", 40), i), nil, 0o644))
	}
	return root
}

func scanner(t *testing.T, root string, opts Options) *Scanner {
	t.Helper()
	opts.granularity = 20 * time.Millisecond
	return New(root, opts)
}

func TestScanMatchesDuAndFind(t *testing.T) {
	root := oddTree(t)
	du := duTotals(t, root, nil)
	for _, conc := range []int{1, 3, 16} {
		res, err := ScanOnce(context.Background(), root, conc)
		if err != nil {
			t.Fatal(err)
		}
		sameAsDu(t, fmt.Sprintf("concurrency %d", conc), res.Totals, du)
		if res.Errors != 0 {
			t.Errorf("concurrency %d: %d errors: %v", conc, res.Errors, res.ErrorSamples)
		}
		// link-to-file, link-to-dir, dangling, loop-a, loop-b, up, fifo, sock
		if res.Others != 8 {
			t.Errorf("concurrency %d: others = %d, want 8 (6 symlinks, a FIFO, a socket)", conc, res.Others)
		}
	}
}

// blobTree builds a Gitea-shaped tree: n/4 leaf directories ab/cd with 4
// blobs each.
func blobTree(t *testing.T, n int) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "packages")
	for i := range n {
		d := i / 4
		write(t, fmt.Sprintf("%s/%02x/%02x/%02x%02x%060d", root, d%16, d/16, d%16, d/16, i), 100+i*37%5000)
	}
	return root
}

func TestIncrementalRescanMatchesFreshScan(t *testing.T) {
	root := blobTree(t, 400)
	time.Sleep(30 * time.Millisecond) // past the 20ms granularity the test scanner uses
	s := scanner(t, root, Options{Incremental: true, Concurrency: 4})
	ctx := context.Background()
	first, err := s.Scan(ctx)
	must(t, err)
	if !first.Full || first.ReusedDirs != 0 {
		t.Errorf("first scan: full=%v reused=%d, want a full scan", first.Full, first.ReusedDirs)
	}
	sameAsDu(t, "first scan", first.Totals, duTotals(t, root, nil))
	if first.CacheEntries != int(first.Dirs) {
		t.Errorf("cache entries = %d, want one per directory (%d)", first.CacheEntries, first.Dirs)
	}
	again, err := s.Scan(ctx)
	must(t, err)
	if again.Full || again.ReusedDirs != again.Dirs || again.Totals != first.Totals {
		t.Errorf("unchanged rescan: full=%v reused=%d of %d, totals %+v want %+v", again.Full, again.ReusedDirs, again.Dirs, again.Totals, first.Totals)
	}

	leaf := func(i int) string { return fmt.Sprintf("%s/%02x/%02x", root, i%16, i/16) }
	first0 := func(dir string) string {
		es, err := os.ReadDir(dir)
		must(t, err)
		return filepath.Join(dir, es[0].Name())
	}
	// A tree with hard links is scanned in full (wantFull): a cached
	// directory could hold another link to the same inode.
	changes := []struct {
		name     string
		do       func()
		wantFull bool
	}{
		{"add a blob", func() { write(t, leaf(3)+"/new-blob", 12345) }, false},
		{"add a directory", func() { write(t, root+"/ff/ee/ffee-blob", 777) }, false},
		{"delete a blob", func() { must(t, os.Remove(first0(leaf(5)))) }, false},
		{"delete a directory", func() { must(t, os.RemoveAll(leaf(7))) }, false},
		{"rename a blob across directories", func() { must(t, os.Rename(first0(leaf(9)), leaf(10)+"/moved")) }, false},
		{"rename a directory", func() { must(t, os.Rename(leaf(11), root+"/renamed")) }, false},
		{"replace a directory by a file", func() { must(t, os.RemoveAll(leaf(12))); write(t, leaf(12), 5) }, false},
		{"symlink a directory", func() { must(t, os.Symlink("../../00", leaf(15)+"/up")) }, false},
		{"hard link a blob", func() { must(t, os.Link(first0(leaf(13)), leaf(14)+"/hardlink")) }, true},
		{"remove the hard link", func() { must(t, os.Remove(leaf(14)+"/hardlink")) }, true},
		{"add a blob once the links are gone", func() { write(t, leaf(16)+"/another", 99) }, false},
	}
	for _, c := range changes {
		c.do()
		got, err := s.Scan(ctx)
		must(t, err)
		fresh, err := ScanOnce(ctx, root, 2)
		must(t, err)
		if got.Totals != fresh.Totals {
			t.Errorf("after %s: incremental %+v, fresh %+v", c.name, got.Totals, fresh.Totals)
		}
		sameAsDu(t, "after "+c.name, got.Totals, duTotals(t, root, nil))
		if c.wantFull && (!got.Full || got.ReusedDirs != 0) {
			t.Errorf("after %s: full=%v reused %d, want a full scan", c.name, got.Full, got.ReusedDirs)
		}
		if !c.wantFull && (got.ReusedDirs == 0 || got.ReusedDirs >= got.Dirs) {
			t.Errorf("after %s: reused %d of %d directories, want most but not all", c.name, got.ReusedDirs, got.Dirs)
		}
		// Whether the directories just changed are cached depends on how
		// long the scan took to start (the guard distrusts changes within the
		// granularity): TestSameSecondGuard checks that without timing.
		time.Sleep(30 * time.Millisecond)
	}
	// Once the changes are older than the granularity, every directory is
	// cached again and nothing else is: entries of deleted and renamed
	// directories were dropped.
	_, err = s.Scan(ctx)
	must(t, err)
	last, err := s.Scan(ctx)
	must(t, err)
	if last.CacheEntries != int(last.Dirs) || last.ReusedDirs != last.Dirs {
		t.Errorf("settled: %d cache entries, %d reused, for %d directories", last.CacheEntries, last.ReusedDirs, last.Dirs)
	}
}

// TestSameSecondGuard checks the guard against the same-second race: a
// directory modified within the mtime granularity before a scan started may
// change again without its mtime moving, so it is read again next time.
func TestSameSecondGuard(t *testing.T) {
	root := blobTree(t, 40)
	s := New(root, Options{Incremental: true, granularity: time.Hour})
	ctx := context.Background()
	for i := range 2 {
		res, err := s.Scan(ctx)
		must(t, err)
		if res.ReusedDirs != 0 || res.CacheEntries != 0 {
			t.Errorf("scan %d: reused %d, cached %d; every directory changed within the granularity, none may be reused", i, res.ReusedDirs, res.CacheEntries)
		}
	}
	// With the default (1s) granularity, directories changed just now are
	// distrusted as well (touched right before the scan, so that a slow
	// machine cannot stretch "just now" past a second).
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			now := time.Now()
			err = os.Chtimes(p, now, now)
		}
		return err
	})
	must(t, err)
	res, err := New(root, Options{Incremental: true}).Scan(ctx)
	must(t, err)
	if res.CacheEntries != 0 {
		t.Errorf("default granularity: %d entries cached for directories modified just now", res.CacheEntries)
	}
}

func TestCacheBoundAndFullScanInterval(t *testing.T) {
	root := blobTree(t, 200)
	time.Sleep(30 * time.Millisecond)
	ctx := context.Background()
	s := scanner(t, root, Options{Incremental: true, MaxCacheEntries: 5})
	want, err := ScanOnce(ctx, root, 2)
	must(t, err)
	for range 3 {
		res, err := s.Scan(ctx)
		must(t, err)
		if res.CacheEntries > 5 || res.Totals != want.Totals {
			t.Errorf("bounded cache: %d entries (max 5), totals %+v want %+v", res.CacheEntries, res.Totals, want.Totals)
		}
	}
	s = scanner(t, root, Options{Incremental: true, FullScanInterval: time.Nanosecond})
	for range 2 {
		res, err := s.Scan(ctx)
		must(t, err)
		if !res.Full || res.ReusedDirs != 0 || res.Totals != want.Totals {
			t.Errorf("full scan interval elapsed: full=%v reused=%d totals %+v", res.Full, res.ReusedDirs, res.Totals)
		}
	}
	s = scanner(t, root, Options{Incremental: false})
	for range 2 {
		res, err := s.Scan(ctx)
		must(t, err)
		if !res.Full || res.CacheEntries != 0 {
			t.Errorf("not incremental: full=%v cache=%d", res.Full, res.CacheEntries)
		}
	}
}

func TestRootErrors(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	if _, err := ScanOnce(ctx, dir+"/missing", 2); !errors.Is(err, unix.ENOENT) {
		t.Errorf("missing root: %v, want ENOENT", err)
	}
	write(t, dir+"/file", 3)
	if _, err := ScanOnce(ctx, dir+"/file", 2); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("file as root: %v", err)
	}
	// A symlinked root is followed (like du -D), nothing below it is.
	write(t, dir+"/real/a", 10)
	must(t, os.Symlink("real", dir+"/link"))
	res, err := ScanOnce(ctx, dir+"/link", 2)
	must(t, err)
	sameAsDu(t, "symlinked root", res.Totals, duTotals(t, dir+"/real", nil))
}

// TestVanishingEntries removes a directory after its parent listed it, and a
// file after its directory was listed, on a real filesystem: each is one
// scan error, and the rest of the tree is still counted.
func TestVanishingEntries(t *testing.T) {
	ctx := context.Background()
	t.Run("directory", func(t *testing.T) {
		root := blobTree(t, 64)
		victim := fmt.Sprintf("%s/%02x/%02x", root, 3, 0)
		fi, err := os.Lstat(victim)
		must(t, err)
		s := New(root, Options{Concurrency: 3, beforeDir: func(p string) {
			if p == victim {
				must(t, os.RemoveAll(victim))
			}
		}})
		res, err := s.Scan(ctx)
		must(t, err)
		if res.Errors != 1 || len(res.ErrorSamples) != 1 || !strings.Contains(res.ErrorSamples[0], "no such file") {
			t.Errorf("errors = %d %q, want one ENOENT", res.Errors, res.ErrorSamples)
		}
		// The vanished directory itself was listed, so it is counted, as du
		// would have counted it; its contents are not.
		du := duTotals(t, root, nil)
		du.Dirs++
		du.Bytes += uint64(fi.Size())
		du.Allocated += uint64(fi.Sys().(*syscall.Stat_t).Blocks * 512)
		sameAsDu(t, "rest of the tree", res.Totals, du)
	})
	t.Run("file", func(t *testing.T) {
		root := blobTree(t, 64)
		victim := fmt.Sprintf("%s/%02x/%02x", root, 5, 0)
		s := New(root, Options{Concurrency: 3, afterList: func(p string) {
			if p == victim {
				es, err := os.ReadDir(p)
				must(t, err)
				must(t, os.Remove(filepath.Join(p, es[0].Name())))
			}
		}})
		res, err := s.Scan(ctx)
		must(t, err)
		if res.Errors != 1 {
			t.Errorf("errors = %d %q, want 1", res.Errors, res.ErrorSamples)
		}
		sameAsDu(t, "rest of the tree", res.Totals, duTotals(t, root, nil))
	})
}

// TestReplacedDirectory swaps a listed directory for a symlink to / and for a
// FIFO before it is opened: the walker neither follows the link nor blocks
// on the FIFO.
func TestReplacedDirectory(t *testing.T) {
	for _, kind := range []string{"symlink", "fifo"} {
		t.Run(kind, func(t *testing.T) {
			root := blobTree(t, 32)
			victim := fmt.Sprintf("%s/%02x/%02x", root, 2, 0)
			s := New(root, Options{Concurrency: 2, beforeDir: func(p string) {
				if p != victim {
					return
				}
				must(t, os.RemoveAll(victim))
				if kind == "symlink" {
					must(t, os.Symlink("/", victim))
				} else {
					must(t, unix.Mkfifo(victim, 0o644))
				}
			}})
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			res, err := s.Scan(ctx)
			must(t, err)
			if res.Errors != 1 {
				t.Errorf("errors = %d %q, want 1", res.Errors, res.ErrorSamples)
			}
			if du := duTotals(t, root, nil); res.Files != du.Files {
				t.Errorf("files = %d, want %d (nothing behind the %s)", res.Files, du.Files, kind)
			}
		})
	}
}

// TestHungWorkerIsAbandoned blocks one worker as a hung network filesystem
// would: the scan still returns at its deadline, reporting ErrAbandoned.
func TestHungWorkerIsAbandoned(t *testing.T) {
	root := blobTree(t, 64)
	release := make(chan struct{})
	defer close(release)
	s := New(root, Options{Concurrency: 2, beforeDir: func(p string) {
		if strings.HasSuffix(p, "/01/00") {
			<-release
		}
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := s.Scan(ctx)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrAbandoned) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want ErrAbandoned wrapping the deadline", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("scan did not return after its deadline")
	}
}

// TestConcurrentChurn scans while other goroutines create and delete files
// and directories: every scan completes, and once the churn stops the totals
// are exact again.
func TestConcurrentChurn(t *testing.T) {
	root := blobTree(t, 200)
	s := scanner(t, root, Options{Incremental: true, Concurrency: 4})
	ctx := context.Background()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			d := fmt.Sprintf("%s/churn/%d/%d", root, i%5, i%7)
			os.MkdirAll(d, 0o755)
			os.WriteFile(fmt.Sprintf("%s/f%d", d, i), []byte("x"), 0o644)
			if i%3 == 0 {
				os.RemoveAll(fmt.Sprintf("%s/churn/%d", root, (i+2)%5))
			}
		}
	}()
	var sawErrors uint64
	for range 20 {
		res, err := s.Scan(ctx)
		if err != nil {
			t.Fatalf("scan during churn: %v", err)
		}
		sawErrors += res.Errors
	}
	close(stop)
	<-done
	t.Logf("scan errors seen during churn: %d", sawErrors)
	time.Sleep(30 * time.Millisecond)
	res, err := s.Scan(ctx)
	must(t, err)
	sameAsDu(t, "after churn", res.Totals, duTotals(t, root, nil))
	if res.Errors != 0 {
		t.Errorf("errors after churn stopped: %d %q", res.Errors, res.ErrorSamples)
	}
}

// TestPermissionDenied scans a tree with an unreadable directory. Root reads
// every directory whatever its mode, so as root the test runs the scan (and
// du and find) as the unprivileged user nobody, in a copy of this test
// binary; as another user it scans directly.
func TestPermissionDenied(t *testing.T) {
	// MkdirTemp and t.TempDir make 0700 directories nobody cannot enter.
	base, err := os.MkdirTemp("", "walk-perm-")
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(base) })
	must(t, os.Chmod(base, 0o755))
	root := base + "/tree"
	write(t, root+"/open/a", 100)
	write(t, root+"/open/b", 200)
	write(t, root+"/locked/inner/secret", 300)
	write(t, root+"/locked/top", 400)
	must(t, os.Chmod(root+"/locked", 0o700))
	if os.Geteuid() != 0 {
		must(t, os.Chmod(root+"/locked", 0o000))
		t.Cleanup(func() { os.Chmod(root+"/locked", 0o755) })
		res, err := ScanOnce(context.Background(), root, 2)
		must(t, err)
		checkDenied(t, res, duTotals(t, root, nil))
		return
	}
	nobody := &syscall.Credential{Uid: 65534, Gid: 65534}
	self, err := os.Executable()
	must(t, err)
	bin := base + "/walk.test"
	in, err := os.Open(self)
	must(t, err)
	out, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	must(t, err)
	_, err = io.Copy(out, in)
	in.Close()
	must(t, err)
	must(t, out.Close())
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), helperEnv+"="+root)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: nobody}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("scan as nobody: %v\n%s", err, stderr.String())
	}
	var res Result
	must(t, json.Unmarshal(stdout, &res))
	checkDenied(t, res, duTotals(t, root, nobody))
}

func checkDenied(t *testing.T, res Result, du Totals) {
	t.Helper()
	if res.Errors != 1 || len(res.ErrorSamples) != 1 || !strings.Contains(res.ErrorSamples[0], "permission denied") {
		t.Errorf("errors = %d %q, want one permission denied", res.Errors, res.ErrorSamples)
	}
	// The locked directory itself is counted (as du counts it), its contents
	// are not; the readable rest is complete.
	sameAsDu(t, "readable part", res.Totals, du)
	if res.Files != 2 {
		t.Errorf("files = %d, want the 2 readable ones", res.Files)
	}
}

// TestGeneratedBlobTree checks the benchmark's generator and the walker
// together on a small Gitea-shaped tree with sparse and written blobs.
func TestGeneratedBlobTree(t *testing.T) {
	root := t.TempDir() + "/packages"
	st, err := blobtree.Generate(context.Background(), root, blobtree.Options{Files: 1000, Seed: 7})
	must(t, err)
	res, err := ScanOnce(context.Background(), root, 0)
	must(t, err)
	du := duTotals(t, root, nil)
	sameAsDu(t, "generated tree", res.Totals, du)
	if int(res.Files) != st.Files || int(res.Dirs) != st.Dirs || res.Errors != 0 {
		t.Errorf("walker %+v, generator says %d files in %d dirs", res.Totals, st.Files, st.Dirs)
	}
	if res.Allocated >= res.Bytes/100 {
		t.Errorf("allocated %d of %d apparent bytes: the large blobs should be sparse", res.Allocated, res.Bytes)
	}
}
