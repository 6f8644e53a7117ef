package main

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// writeEvents are the inotify events any modification produces: a write,
// a close of a file opened for writing (even with nothing written), a
// metadata change, a creation, a removal or a rename.
const writeEvents = unix.IN_MODIFY | unix.IN_CLOSE_WRITE | unix.IN_ATTRIB | unix.IN_CREATE |
	unix.IN_DELETE | unix.IN_DELETE_SELF | unix.IN_MOVED_FROM | unix.IN_MOVED_TO | unix.IN_MOVE_SELF

// watchTree puts an inotify watch on every directory under root and returns
// a function that stops watching and returns the events seen, as
// "path: mask" lines.
func watchTree(t *testing.T, root string) func() []string {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		t.Fatalf("inotify: %v", err)
	}
	dirs := map[int]string{}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		wd, err := unix.InotifyAddWatch(fd, p, writeEvents)
		if err != nil {
			return err
		}
		dirs[wd] = p
		return nil
	})
	if err != nil {
		t.Fatalf("watching %s: %v", root, err)
	}
	return func() []string {
		defer unix.Close(fd)
		var out []string
		buf := make([]byte, 64<<10)
		for {
			n, err := unix.Read(fd, buf)
			if n <= 0 || err != nil {
				return out
			}
			for off := 0; off+unix.SizeofInotifyEvent <= n; {
				ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
				name := ""
				if ev.Len > 0 {
					b := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
					name = strings.TrimRight(string(b), "\x00")
				}
				if ev.Mask&writeEvents != 0 {
					out = append(out, filepath.Join(dirs[int(ev.Wd)], name)+": "+maskNames(ev.Mask))
				}
				off += unix.SizeofInotifyEvent + int(ev.Len)
			}
		}
	}
}

func maskNames(m uint32) string {
	var out []string
	for bit, name := range map[uint32]string{unix.IN_MODIFY: "modify", unix.IN_CLOSE_WRITE: "close_write", unix.IN_ATTRIB: "attrib",
		unix.IN_CREATE: "create", unix.IN_DELETE: "delete", unix.IN_DELETE_SELF: "delete_self", unix.IN_MOVED_FROM: "moved_from",
		unix.IN_MOVED_TO: "moved_to", unix.IN_MOVE_SELF: "move_self"} {
		if m&bit != 0 {
			out = append(out, name)
		}
	}
	return strings.Join(out, ",")
}

// TestNeverWritesToMeasuredTrees runs the binary on a copy of the example
// volume, blob tree and evidence records (its config file inside the same
// tree) twice:
//
//   - on the writable tree under an inotify watch of every directory: the
//     exporter scans, is scraped, reloads and stops, and not one file or
//     directory is created, removed, renamed, changed or even opened for
//     writing (IN_CLOSE_WRITE fires for any file opened writable);
//   - on a read-only bind mount of the tree (as root, where mount works):
//     every collector succeeds and reports the same totals, as it must in
//     the deployment, which mounts the Gitea volume read-only.
func TestNeverWritesToMeasuredTrees(t *testing.T) {
	dir := t.TempDir()
	sc := newScenario(t, dir, "", "")
	want := []string{`forge_directory_files{directory="packages"}`, `forge_evidence_records{`}
	var firstFiles string

	t.Run("watched", func(t *testing.T) {
		events := watchTree(t, sc.root)
		// Registered before startBinary, so it runs after the process has
		// been reaped: writes during shutdown count too.
		t.Cleanup(func() {
			// Positive control: the watch does see a write.
			control := filepath.Join(sc.root, "data", "control")
			if err := os.WriteFile(control, []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			defer os.Remove(control)
			var exporter []string
			sawControl := false
			for _, e := range events() {
				if strings.HasPrefix(e, control+":") {
					sawControl = true
				} else {
					exporter = append(exporter, e)
				}
			}
			if !sawControl {
				t.Error("the inotify watch missed the control write: the check is blind")
			}
			if len(exporter) > 0 {
				t.Errorf("the exporter modified the tree it measures:\n%s", strings.Join(exporter, "\n"))
			}
		})
		p := startBinary(t, "--config.file="+sc.config, "--web.enable-lifecycle")
		var body string
		waitFor(t, "every collector succeeds", func() bool {
			_, body = get(t, "http://"+p.addr+"/metrics")
			return allSucceed(body, want...)
		}, p.logs)
		firstFiles = series(body)[`forge_directory_files{directory="packages"}`]
		if code, _, _ := do(t, "POST", "http://"+p.addr+"/-/reload", ""); code != 200 {
			t.Errorf("reload: %d", code)
		}
		waitFor(t, "every collector succeeds after the reload", func() bool {
			_, body = get(t, "http://"+p.addr+"/metrics")
			return allSucceed(body, want...)
		}, p.logs)
	})

	t.Run("read-only bind mount", func(t *testing.T) {
		mnt := filepath.Join(dir, "ro")
		if err := os.Mkdir(mnt, 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("mount", "--bind", sc.root, mnt).CombinedOutput(); err != nil {
			t.Skipf("cannot bind-mount here (needs root and mount): %v %s; the watched run above still checks writes", err, out)
		}
		t.Cleanup(func() { exec.Command("umount", mnt).Run() })
		if out, err := exec.Command("mount", "-o", "remount,ro,bind", mnt).CombinedOutput(); err != nil {
			t.Fatalf("remount read-only: %v %s", err, out)
		}
		if err := os.WriteFile(filepath.Join(mnt, "probe"), nil, 0o644); err == nil {
			t.Fatal("the bind mount is writable")
		}
		p := startBinary(t, "--config.file="+filepath.Join(mnt, "forge-exporter.yaml"))
		var body string
		waitFor(t, "every collector succeeds on the read-only tree", func() bool {
			_, body = get(t, "http://"+p.addr+"/metrics")
			return allSucceed(body, want...)
		}, p.logs)
		if got := series(body)[`forge_directory_files{directory="packages"}`]; got != firstFiles || got == "" {
			t.Errorf("files on the read-only mount = %q, on the writable tree %q", got, firstFiles)
		}
		if strings.Contains(p.logs.String(), "read-only file system") {
			t.Errorf("the exporter tried to write:\n%s", p.logs.String())
		}
	})
}
