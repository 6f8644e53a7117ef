// Package release writes forge-exporter's release artifacts byte for byte
// reproducibly (docs/release.md): tarballs whose entries are sorted by name,
// owned by uid and gid 0 with no user or group names, stamped with one fixed
// modification time (the commit's, SOURCE_DATE_EPOCH) and normalised modes,
// compressed by Go's gzip with no name and no time in its header (what
// `gzip -n` does); an uncompressed tar of an OCI image layout (podman's
// oci-archive, made reproducible the same way); and a sha256sums.txt that
// `sha256sum -c` reads. It is written in Go rather than with GNU tar flags so
// that the bytes depend on the Go toolchain only, not on the host's tar and gzip.
package release

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// File is one regular file of an archive.
type File struct {
	// Name is the path inside the archive, with forward slashes.
	Name string
	// Src is the file to copy the content from.
	Src string
	// Mode is the permission bits; 0 means 0644, or 0755 when Src is executable.
	Mode fs.FileMode
}

// WriteTarGz writes files to out as a gzip-compressed tar. Directories
// leading to each file get entries of their own (mode 0755).
func WriteTarGz(out string, mtime time.Time, files []File) error {
	return writeArchive(out, mtime, files, true)
}

// WriteTarDir writes the tree under dir to out as an uncompressed tar whose
// names are relative to dir (the layout of an OCI archive).
func WriteTarDir(out string, mtime time.Time, dir string) error {
	var files []File
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file", p)
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		files = append(files, File{Name: filepath.ToSlash(rel), Src: p, Mode: 0o644})
		return nil
	})
	if err != nil {
		return err
	}
	return writeArchive(out, mtime, files, false)
}

func writeArchive(out string, mtime time.Time, files []File, compress bool) (err error) {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(out)
		}
	}()
	var w io.Writer = f
	var gz *gzip.Writer
	if compress {
		// No Name, no ModTime and no OS-specific extra field: like gzip -n.
		gz, err = gzip.NewWriterLevel(f, gzip.BestCompression)
		if err != nil {
			return err
		}
		w = gz
	}
	tw := tar.NewWriter(w)
	if err := writeEntries(tw, mtime.UTC().Truncate(time.Second), files); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if gz != nil {
		return gz.Close()
	}
	return nil
}

func writeEntries(tw *tar.Writer, mtime time.Time, files []File) error {
	sorted := append([]File(nil), files...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	dirs := map[string]bool{}
	for i, f := range sorted {
		if f.Name == "" || path.IsAbs(f.Name) || path.Clean(f.Name) != f.Name || strings.HasPrefix(f.Name, "../") {
			return fmt.Errorf("archive entry %q: not a clean relative path", f.Name)
		}
		if i > 0 && sorted[i-1].Name == f.Name {
			return fmt.Errorf("archive entry %q: twice", f.Name)
		}
		// Parent directories first, shallowest first (sorted order keeps a
		// directory's entry before its files').
		var parents []string
		for d := path.Dir(f.Name); d != "."; d = path.Dir(d) {
			parents = append([]string{d}, parents...)
		}
		for _, d := range parents {
			if dirs[d] {
				continue
			}
			dirs[d] = true
			if err := tw.WriteHeader(header(d+"/", tar.TypeDir, 0o755, 0, mtime)); err != nil {
				return err
			}
		}
		if err := writeFile(tw, f, mtime); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(tw *tar.Writer, f File, mtime time.Time) error {
	src, err := os.Open(f.Src)
	if err != nil {
		return err
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file", f.Src)
	}
	mode := f.Mode
	if mode == 0 {
		mode = 0o644
		if st.Mode()&0o100 != 0 {
			mode = 0o755
		}
	}
	if err := tw.WriteHeader(header(f.Name, tar.TypeReg, mode, st.Size(), mtime)); err != nil {
		return err
	}
	n, err := io.Copy(tw, src)
	if err != nil {
		return err
	}
	if n != st.Size() {
		return fmt.Errorf("%s changed while archived", f.Src)
	}
	return nil
}

// header is a USTAR header with nothing of the host in it: owner 0:0 with no
// names, one modification time, no access or change time.
func header(name string, typ byte, mode fs.FileMode, size int64, mtime time.Time) *tar.Header {
	return &tar.Header{
		Typeflag: typ,
		Name:     name,
		Mode:     int64(mode.Perm()),
		Size:     size,
		ModTime:  mtime,
		Format:   tar.FormatUSTAR,
	}
}

// WriteChecksums writes dir/sha256sums.txt: one "<hex>  <name>" line per
// regular file in dir (not in subdirectories), sorted by name, in the format
// `sha256sum -c` checks.
func WriteChecksums(dir string) error {
	const name = "sha256sums.txt"
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, e := range entries { // ReadDir sorts by name
		if e.Name() == name || !e.Type().IsRegular() {
			continue
		}
		sum, err := fileSHA256(filepath.Join(dir, e.Name()))
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s  %s\n", sum, e.Name())
	}
	return os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o644)
}

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
