package release

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTarGzReproducible writes the same files twice, from trees created at
// different times with different modes, and expects identical bytes with
// nothing of the host in them.
func TestTarGzReproducible(t *testing.T) {
	mtime := time.Unix(1796192164, 0)
	var outs [][]byte
	for i, mode := range []os.FileMode{0o700, 0o775} {
		dir := t.TempDir()
		bin := filepath.Join(dir, "forge-exporter")
		if err := os.WriteFile(bin, []byte("\x7fELF binary"), mode); err != nil {
			t.Fatal(err)
		}
		lic := filepath.Join(dir, "LICENSE")
		if err := os.WriteFile(lic, []byte("Apache-2.0\n"), mode&0o666); err != nil {
			t.Fatal(err)
		}
		// Different on-disk times: they must not reach the archive.
		_ = os.Chtimes(lic, time.Now().Add(time.Duration(i)*time.Hour), time.Now())
		out := filepath.Join(dir, "x.tar.gz")
		// Given out of order: the archive sorts.
		err := WriteTarGz(out, mtime, []File{
			{Name: "fe-1.linux-amd64/LICENSE", Src: lic, Mode: 0o644},
			{Name: "fe-1.linux-amd64/forge-exporter", Src: bin, Mode: 0o755},
		})
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, b)
	}
	if !bytes.Equal(outs[0], outs[1]) {
		t.Fatal("two archives of the same content differ")
	}

	zr, err := gzip.NewReader(bytes.NewReader(outs[0]))
	if err != nil {
		t.Fatal(err)
	}
	if zr.Name != "" || !zr.ModTime.IsZero() || zr.Comment != "" {
		t.Errorf("gzip header carries name %q / time %v / comment %q (want none, like gzip -n)", zr.Name, zr.ModTime, zr.Comment)
	}
	tr := tar.NewReader(zr)
	var got []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: owner %d:%d %q:%q, want 0:0 without names", h.Name, h.Uid, h.Gid, h.Uname, h.Gname)
		}
		if !h.ModTime.Equal(mtime) || !h.AccessTime.IsZero() || !h.ChangeTime.IsZero() || len(h.PAXRecords) > 0 {
			t.Errorf("%s: times %v/%v/%v, pax %v; want only mtime %v", h.Name, h.ModTime, h.AccessTime, h.ChangeTime, h.PAXRecords, mtime)
		}
		got = append(got, h.Name+" "+os.FileMode(h.Mode).String())
	}
	want := "fe-1.linux-amd64/ -rwxr-xr-x|fe-1.linux-amd64/LICENSE -rw-r--r--|fe-1.linux-amd64/forge-exporter -rwxr-xr-x"
	if strings.Join(got, "|") != want {
		t.Errorf("entries:\n got %s\nwant %s", strings.Join(got, "|"), want)
	}
}

func TestTarDirAndChecksums(t *testing.T) {
	layout := t.TempDir()
	for name, content := range map[string]string{
		"oci-layout": `{"imageLayoutVersion":"1.0.0"}`, "index.json": "{}", "blobs/sha256/ab": "blob",
	} {
		p := filepath.Join(layout, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	dist := t.TempDir()
	if err := WriteTarDir(filepath.Join(dist, "image.oci.tar"), time.Unix(0, 0), layout); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dist, "image.oci.tar"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f) // uncompressed, as podman's oci-archive
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
	if got := strings.Join(names, " "); got != "blobs/ blobs/sha256/ blobs/sha256/ab index.json oci-layout" {
		t.Errorf("OCI archive entries: %s", got)
	}

	if err := os.WriteFile(filepath.Join(dist, "b.txt"), []byte("b"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteChecksums(dist); err != nil {
		t.Fatal(err)
	}
	sums, err := os.ReadFile(filepath.Join(dist, "sha256sums.txt"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(sums), "\n"), "\n")
	if len(lines) != 2 || !strings.HasSuffix(lines[0], "  b.txt") || !strings.HasSuffix(lines[1], "  image.oci.tar") {
		t.Fatalf("sha256sums.txt:\n%s", sums)
	}
	sum := sha256.Sum256([]byte("b"))
	if lines[0] != hex.EncodeToString(sum[:])+"  b.txt" {
		t.Errorf("checksum line %q", lines[0])
	}
}

func TestRejectsUncleanNames(t *testing.T) {
	src := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(src, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"/abs", "../up", "a//b", ""} {
		if err := WriteTarGz(filepath.Join(t.TempDir(), "x.tar.gz"), time.Unix(0, 0), []File{{Name: name, Src: src}}); err == nil {
			t.Errorf("%q accepted", name)
		}
	}
}
