// Command writeprobe runs inside the forge-exporter image (image_test.go)
// as the image's user and with the exporter's mounts, and reports every place
// it could write: each directory it can create a file in (the file is removed
// at once) and each regular file it can open for writing (nothing is
// written). /proc and /sys are kernel interfaces, not storage, and are not
// walked; device nodes (/dev/null) are skipped.
package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

func main() {
	root := "/"
	if len(os.Args) > 1 {
		root = os.Args[1]
	}
	var dirs, files int
	probe := fmt.Sprintf(".writeprobe-%d", os.Getpid())
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if p == "/proc" || p == "/sys" {
			return filepath.SkipDir
		}
		if d == nil {
			return nil
		}
		switch {
		case d.IsDir():
			dirs++
			f := filepath.Join(p, probe)
			if h, cerr := os.OpenFile(f, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600); cerr == nil {
				h.Close()
				os.Remove(f)
				fmt.Println("writable dir:", p)
			}
			if err != nil {
				// Unreadable: its entries cannot be listed (or written by name).
				return filepath.SkipDir
			}
		case d.Type().IsRegular():
			files++
			if h, oerr := os.OpenFile(p, os.O_WRONLY, 0); oerr == nil {
				h.Close()
				fmt.Println("writable file:", p)
			}
		}
		return nil
	})
	fmt.Printf("uid=%d gid=%d checked %d directories and %d files\n", os.Getuid(), os.Getgid(), dirs, files)
}
