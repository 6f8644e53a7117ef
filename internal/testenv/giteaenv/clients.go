package giteaenv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Publishing with the ecosystems' own clients: a PyPI package built by
// python3 -m build and uploaded by twine, an npm package published by npm,
// a container image pushed by go-containerregistry (the library crane and
// ko are built on). Each fails the test when its client is missing (CI
// installs them: twine and python3-build from Debian, npm). The harness
// token is passed in the environment, never on a command line.

// PublishPyPI builds name==version (an sdist and a wheel of a one-module
// project) with python3 -m build and uploads both with twine to owner's
// PyPI registry. It returns the two file names.
func (g *Gitea) PublishPyPI(t TB, owner, name, version string) []string {
	t.Helper()
	dir := t.TempDir()
	module := strings.ReplaceAll(name, "-", "_")
	write(t, filepath.Join(dir, "pyproject.toml"), fmt.Sprintf(`[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = %q
version = %q
description = "forge-exporter test package"
`, name, version))
	write(t, filepath.Join(dir, module+".py"), "VALUE = "+fmt.Sprintf("%q", name+" "+version)+"\n")
	// --no-isolation: build with the installed setuptools, no index access.
	g.run(t, dir, nil, "/usr/bin/python3", "-m", "build", "--no-isolation", "--sdist", "--wheel", "--outdir", "dist", ".")
	files, err := filepath.Glob(filepath.Join(dir, "dist", "*"))
	if err != nil || len(files) != 2 {
		t.Fatalf("python3 -m build made %v (%v), want an sdist and a wheel", files, err)
	}
	g.run(t, dir, []string{"TWINE_USERNAME=" + g.AdminUser, "TWINE_PASSWORD=" + g.AdminToken, "TWINE_NON_INTERACTIVE=1"},
		"twine", append([]string{"upload", "--disable-progress-bar", "--repository-url", g.URL + "/api/packages/" + owner + "/pypi"}, files...)...)
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	return names
}

// PublishNPM publishes name@version (a package.json and one module) with
// npm publish to owner's npm registry and returns the tarball's file name
// as Gitea lists it.
func (g *Gitea) PublishNPM(t TB, owner, name, version string) string {
	t.Helper()
	dir := t.TempDir()
	pkg, _ := json.Marshal(map[string]any{"name": name, "version": version, "main": "index.js", "license": "MIT", "description": "forge-exporter test package"})
	write(t, filepath.Join(dir, "package.json"), string(pkg))
	write(t, filepath.Join(dir, "index.js"), "module.exports = "+fmt.Sprintf("%q", name+"@"+version)+";\n")
	registry := g.URL + "/api/packages/" + owner + "/npm/"
	u, _ := url.Parse(registry)
	// The token comes from the environment (npm expands ${VAR} in .npmrc).
	write(t, filepath.Join(dir, ".npmrc"), "registry="+registry+"\n//"+u.Host+u.Path+":_authToken=${GITEA_NPM_TOKEN}\n")
	home := t.TempDir()
	g.run(t, dir, []string{"GITEA_NPM_TOKEN=" + g.AdminToken, "HOME=" + home, "npm_config_cache=" + filepath.Join(home, "cache"),
		"npm_config_update_notifier=false", "npm_config_audit=false", "npm_config_fund=false"},
		"npm", "publish", "--registry", registry)
	return name + "-" + version + ".tgz"
}

// PushImage pushes a random image (layers of layerSize bytes) to owner/name:tag
// in Gitea's container registry with go-containerregistry and returns it.
func (g *Gitea) PushImage(t TB, owner, repo, tag string, layers int, layerSize int64) v1.Image {
	t.Helper()
	img, err := random.Image(layerSize, int64(layers))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(g.RegistryHost()+"/"+owner+"/"+repo+":"+tag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	auth := authn.FromConfig(authn.AuthConfig{Username: g.AdminUser, Password: g.AdminToken})
	if err := remote.Write(ref, img, remote.WithAuth(auth)); err != nil {
		t.Fatalf("pushing %s: %v", ref, g.scrub(err))
	}
	return img
}

// RegistryHost is the container registry's host:port.
func (g *Gitea) RegistryHost() string { return strings.TrimPrefix(g.URL, "http://") }

// PackageStore is Gitea's local package blob store (packages/ab/cd/<sha256>).
func (g *Gitea) PackageStore() string { return filepath.Join(g.Dir, "data", "packages") }

// PackageFile is one file of a package version as the API lists it.
type PackageFile struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Files lists the files of one package version through the API.
func (g *Gitea) Files(t TB, owner, typ, name, version string) []PackageFile {
	t.Helper()
	var out []PackageFile
	body := g.must(t, 200, "GET", fmt.Sprintf("/api/v1/packages/%s/%s/%s/%s/files", owner, typ, url.PathEscape(name), url.PathEscape(version)), nil)
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// BlobPath is where the store keeps the blob of a file.
func (g *Gitea) BlobPath(f PackageFile) string {
	h := f.SHA256
	return filepath.Join(g.PackageStore(), h[0:2], h[2:4], h)
}

// run runs a client in dir with extra environment; its output is shown on
// failure with the harness token masked.
func (g *Gitea) run(t TB, dir string, env []string, name string, args ...string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("%s is not installed: the package tests publish with the real client (CI installs it)", name)
	}
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, args[0], err, strings.ReplaceAll(out.String(), g.AdminToken, "<token>"))
	}
}

func (g *Gitea) scrub(err error) string {
	return strings.ReplaceAll(err.Error(), g.AdminToken, "<token>")
}

func write(t TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
