// Command release packages what `make release` built into dist/ (see
// docs/release.md and internal/release): one tarball per platform holding the
// binary, LICENSE and README.md; the SBOMs; the container image as an OCI
// archive; and sha256sums.txt. Every byte depends only on the commit (and the
// pinned toolchains), so two runs anywhere give identical files.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/railiance/forge-exporter/internal/release"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
}

func run() error {
	version := flag.String("version", "", "version (git describe)")
	epoch := flag.String("epoch", os.Getenv("SOURCE_DATE_EPOCH"), "modification time of every archive entry, in Unix seconds (the commit's time)")
	build := flag.String("build", ".build", "directory holding <os>-<arch>/forge-exporter")
	out := flag.String("out", "dist", "output directory (emptied first)")
	platforms := flag.String("platforms", "linux/amd64 linux/arm64 darwin/amd64 darwin/arm64", "space-separated os/arch list")
	docs := flag.String("docs", "LICENSE README.md", "files put beside the binary in every tarball")
	sbom := flag.String("sbom", "", "directory of SBOM files copied into the output")
	oci := flag.String("oci", "", "space-separated os/arch=DIR: each platform's OCI image layout (podman save --format oci-dir), merged into one multi-platform image")
	ociRef := flag.String("oci-ref", "", "the image's name in the OCI archive (org.opencontainers.image.ref.name), e.g. forge-exporter:v1.2.3")
	ociName := flag.String("oci-name", "", "file name of the OCI archive")
	flag.Parse()
	if *version == "" {
		return fmt.Errorf("-version is required")
	}
	secs, err := strconv.ParseInt(*epoch, 10, 64)
	if err != nil {
		return fmt.Errorf("-epoch (SOURCE_DATE_EPOCH) %q: %v", *epoch, err)
	}
	mtime := time.Unix(secs, 0)

	if err := os.RemoveAll(*out); err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	for _, p := range strings.Fields(*platforms) {
		goos, goarch, ok := strings.Cut(p, "/")
		if !ok {
			return fmt.Errorf("platform %q: want os/arch", p)
		}
		name := fmt.Sprintf("forge-exporter-%s.%s-%s", *version, goos, goarch)
		files := []release.File{{Name: name + "/forge-exporter", Src: filepath.Join(*build, goos+"-"+goarch, "forge-exporter"), Mode: 0o755}}
		for _, d := range strings.Fields(*docs) {
			files = append(files, release.File{Name: name + "/" + filepath.Base(d), Src: d, Mode: 0o644})
		}
		if err := release.WriteTarGz(filepath.Join(*out, name+".tar.gz"), mtime, files); err != nil {
			return err
		}
	}
	if *sbom != "" {
		entries, err := os.ReadDir(*sbom)
		if err != nil {
			return err
		}
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(*sbom, e.Name()))
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(*out, e.Name()), b, 0o644); err != nil {
				return err
			}
		}
	}
	if *oci != "" {
		if *ociName == "" || *ociRef == "" {
			return fmt.Errorf("-oci needs -oci-name and -oci-ref")
		}
		var images []release.Platform
		for _, f := range strings.Fields(*oci) {
			p, dir, ok := strings.Cut(f, "=")
			goos, goarch, ok2 := strings.Cut(p, "/")
			if !ok || !ok2 || dir == "" {
				return fmt.Errorf("-oci %q: want os/arch=DIR", f)
			}
			images = append(images, release.Platform{OS: goos, Arch: goarch, Dir: dir})
		}
		layout, err := os.MkdirTemp("", "forge-exporter-oci-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(layout)
		if err := release.MergeOCI(layout, *ociRef, images); err != nil {
			return err
		}
		if err := release.WriteTarDir(filepath.Join(*out, *ociName), mtime, layout); err != nil {
			return err
		}
	}
	if err := release.WriteChecksums(*out); err != nil {
		return err
	}
	entries, err := os.ReadDir(*out)
	if err != nil {
		return err
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			return err
		}
		fmt.Printf("%10.1f MB  %s\n", float64(info.Size())/1e6, filepath.Join(*out, e.Name()))
	}
	return nil
}
