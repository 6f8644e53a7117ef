package release

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// singleLayout writes a one-image OCI layout, as `podman save --format
// oci-dir` does, with go-containerregistry (an implementation we did not
// write), and returns the image's manifest digest.
func singleLayout(t *testing.T, dir, arch string) v1.Hash {
	t.Helper()
	img, err := random.Image(512, 2)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// The merged layout is a valid multi-platform image to go-containerregistry
// (the library crane and ko use): every blob verifies, each platform's
// manifest is the one that platform's layout held, and the whole is named.
func TestMergeOCI(t *testing.T) {
	tmp := t.TempDir()
	amd, arm := filepath.Join(tmp, "amd64"), filepath.Join(tmp, "arm64")
	amdDigest, armDigest := singleLayout(t, amd, "amd64"), singleLayout(t, arm, "arm64")
	out := filepath.Join(tmp, "merged")
	platforms := []Platform{{OS: "linux", Arch: "amd64", Dir: amd}, {OS: "linux", Arch: "arm64", Dir: arm}}
	if err := MergeOCI(out, "forge-exporter:v1.2.3", platforms); err != nil {
		t.Fatal(err)
	}

	top, err := layout.ImageIndexFromPath(out)
	if err != nil {
		t.Fatal(err)
	}
	topManifest, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(topManifest.Manifests) != 1 || topManifest.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "forge-exporter:v1.2.3" {
		t.Fatalf("index.json: %+v, want one entry named forge-exporter:v1.2.3", topManifest.Manifests)
	}
	idx, err := top.ImageIndex(topManifest.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(idx); err != nil {
		t.Fatalf("the multi-platform image does not validate: %v", err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]v1.Hash{"amd64": amdDigest, "arm64": armDigest}
	if len(m.Manifests) != 2 {
		t.Fatalf("image index lists %d manifests, want 2", len(m.Manifests))
	}
	for _, d := range m.Manifests {
		if d.Platform == nil || d.Platform.OS != "linux" || d.Digest != want[d.Platform.Architecture] {
			t.Errorf("manifest %s for platform %+v; want %v", d.Digest, d.Platform, want)
		}
	}

	// The same inputs give the same bytes (the release is reproducible).
	again := filepath.Join(tmp, "again")
	if err := MergeOCI(again, "forge-exporter:v1.2.3", platforms); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"index.json", "oci-layout"} {
		a, _ := os.ReadFile(filepath.Join(out, f))
		b, _ := os.ReadFile(filepath.Join(again, f))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between two merges of the same layouts", f)
		}
	}
}

func TestMergeOCIRefusesBadInput(t *testing.T) {
	tmp := t.TempDir()
	amd := filepath.Join(tmp, "amd64")
	singleLayout(t, amd, "amd64")

	cases := map[string]struct {
		platforms []Platform
		prepare   func()
		want      string
	}{
		"no platform":    {nil, nil, "no platform"},
		"same twice":     {[]Platform{{"linux", "amd64", amd}, {"linux", "amd64", amd}}, nil, "given twice"},
		"missing layout": {[]Platform{{"linux", "arm64", filepath.Join(tmp, "none")}}, nil, "no such file"},
		"corrupted blob": {[]Platform{{"linux", "amd64", amd}}, func() {
			// the largest blob is a layer: flip its first byte
			blobs, _ := filepath.Glob(filepath.Join(amd, "blobs", "sha256", "*"))
			var layer string
			var size int64
			for _, b := range blobs {
				if fi, err := os.Stat(b); err == nil && fi.Size() > size {
					layer, size = b, fi.Size()
				}
			}
			content, err := os.ReadFile(layer)
			if err != nil {
				t.Fatal(err)
			}
			content[0] ^= 1
			if err := os.WriteFile(layer, content, 0o644); err != nil {
				t.Fatal(err)
			}
		}, "holds content with digest"},
	}
	for _, name := range []string{"no platform", "same twice", "missing layout", "wrong platform", "corrupted blob"} {
		c := cases[name]
		t.Run(name, func(t *testing.T) {
			if c.prepare != nil {
				c.prepare()
			}
			err := MergeOCI(filepath.Join(t.TempDir(), "out"), "x:y", c.platforms)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}
