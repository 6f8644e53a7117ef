package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/railiance/forge-exporter/collectors"
	"github.com/railiance/forge-exporter/internal/gitea"
	"github.com/railiance/forge-exporter/internal/pkgstore"
)

// PackagesCmd groups the operator commands for the package registry.
type PackagesCmd struct {
	Verify PackagesVerifyCmd `cmd:"" help:"Compare Gitea's package metadata with its local blob store and print each missing, size-mismatched or orphaned blob with its owner, type, package, version and file name; exit 1 when a package file has no intact blob, 2 when the check could not complete."`
}

// PackagesVerifyCmd runs one package blob check and names what it finds.
type PackagesVerifyCmd struct {
	ConfigFile string        `name:"config.file" default:"forge-exporter.yaml" help:"Configuration file (its gitea section and packages.blob_dir)."`
	BlobDir    string        `name:"blob-dir" help:"Package store to check instead of packages.blob_dir (e.g. a restored copy)."`
	Timeout    time.Duration `default:"1h" help:"Give up after this long."`
	NoOrphans  bool          `name:"no-orphans" help:"Count orphaned blobs and foreign entries without listing them."`
}

// Run sweeps the registry, checks the store and prints the problems.
func (c *PackagesVerifyCmd) Run(g *Globals) error {
	cfg, err := loadConfig(c.ConfigFile)
	if err != nil {
		fmt.Fprintln(g.Stderr, err)
		return exitError(2)
	}
	root := cfg.Packages.BlobDir
	if c.BlobDir != "" {
		root = c.BlobDir
	}
	switch {
	case cfg.Gitea.URL == "":
		fmt.Fprintf(g.Stderr, "%s: gitea.url is not set: the check needs the package metadata from the Gitea API\n", c.ConfigFile)
		return exitError(2)
	case root == "":
		fmt.Fprintf(g.Stderr, "%s: packages.blob_dir is not set (or pass --blob-dir)\n", c.ConfigFile)
		return exitError(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()

	reg := gitea.NewRegistry(collectors.NewGiteaClient(cfg.Gitea, g.Logger), gitea.RegistryOptions{Owners: cfg.Gitea.PackageOwners})
	sweep, err := reg.Sweep(ctx)
	if err != nil {
		fmt.Fprintf(g.Stderr, "reading the package metadata: %v\n", err)
		return exitError(2)
	}
	idx, _ := reg.Index()
	fmt.Fprintf(g.Stdout, "metadata: %d owners, %d package versions, %d files; store: %s\n", sweep.Owners, len(idx.Versions), len(idx.Files), root)

	var missing, mismatched int
	res, err := pkgstore.Check(ctx, root, idx, pkgstore.Options{
		Concurrency: cfg.Packages.CheckConcurrency,
		Grace:       collectors.OrphanGrace,
		Confirm:     reg.Relist,
		Report: func(p pkgstore.Problem) {
			switch p.Kind {
			case pkgstore.Missing:
				missing++
			case pkgstore.SizeMismatch:
				mismatched++
			case pkgstore.Orphaned, pkgstore.Foreign:
				if c.NoOrphans {
					return
				}
			}
			fmt.Fprintln(g.Stdout, formatProblem(p))
		},
	})
	if err != nil {
		fmt.Fprintf(g.Stderr, "checking %s: %v\n", root, err)
		return exitError(2)
	}
	fmt.Fprintf(g.Stdout, "checked %d package files against %d blobs (%d bytes) in %s: %d missing, %d size mismatch, %d orphaned (%d bytes), %d newer than the metadata (not judged), %d foreign entries, %d read errors\n",
		res.Files, res.Blobs, res.BlobBytes, res.Duration.Round(time.Millisecond), missing, mismatched, res.Orphaned, res.OrphanedBytes, res.Recent, res.Foreign, res.Errors)
	for _, e := range res.ErrorSamples {
		fmt.Fprintf(g.Stderr, "read error: %s\n", e)
	}
	switch {
	case missing+mismatched > 0:
		return exitError(1)
	case res.Errors > 0:
		return exitError(2)
	}
	return nil
}

// formatProblem writes one finding as a line of key=value pairs.
func formatProblem(p pkgstore.Problem) string {
	var b strings.Builder
	b.WriteString(strings.ReplaceAll(p.Kind.String(), " ", "_"))
	kv := func(k, v string) {
		if v == "" {
			return
		}
		fmt.Fprintf(&b, " %s=%s", k, quoteValue(v))
	}
	if v := p.Version; v != nil {
		kv("owner", v.Owner)
		kv("type", v.Type)
		kv("package", v.Name)
		kv("version", v.Version)
		if p.File == "" {
			kv("file", "(unknown)")
		}
		kv("file", p.File)
	}
	kv("blob", p.Path)
	switch p.Kind {
	case pkgstore.Missing:
		kv("size", fmt.Sprint(p.Size))
	case pkgstore.SizeMismatch:
		kv("listed_size", fmt.Sprint(p.Size))
		kv("blob_size", fmt.Sprint(p.BlobSize))
	case pkgstore.Orphaned:
		kv("size", fmt.Sprint(p.Size))
	}
	kv("detail", p.Detail)
	return b.String()
}

// quoteValue quotes a value that would not read as one word.
func quoteValue(v string) string {
	if strings.ContainsAny(v, " \t\n\"=") {
		return fmt.Sprintf("%q", v)
	}
	return v
}
