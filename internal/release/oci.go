package release

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// OCI media types and the annotation naming an image in a layout
// (github.com/opencontainers/image-spec: image-layout.md, annotations.md).
const (
	mediaTypeIndex    = "application/vnd.oci.image.index.v1+json"
	mediaTypeManifest = "application/vnd.oci.image.manifest.v1+json"
	annotationRefName = "org.opencontainers.image.ref.name"
	// Docker's schema 2 manifest, which an image index may list too
	// (Buildah and Docker write it unless told to write OCI).
	mediaTypeDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
)

// Platform is one single-platform OCI image layout (as `podman save
// --format oci-dir` writes it) and the platform its image runs on.
type Platform struct {
	OS, Arch string
	Dir      string
}

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Platform    *platformSpec     `json:"platform,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type platformSpec struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

type index struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType,omitempty"`
	Manifests     []descriptor `json:"manifests"`
}

// MergeOCI writes to dst one OCI image layout holding a multi-platform
// image: the blobs of every platform's layout (each verified against its
// digest), an image index listing each platform's manifest with its
// platform, and an index.json whose one entry is that image index, named
// ref (e.g. "forge-exporter:v1.2.3"). This is the shape `skopeo copy --all`,
// `crane` and registries use for a multi-arch image, so the layout can be
// pushed whole, while a runtime loading it picks its own platform.
//
// The output depends only on the inputs and the order of platforms, so a
// reproducible single-platform image gives a reproducible index. It is
// written here rather than with `podman manifest push`, whose output
// includes what podman's version chooses to add.
func MergeOCI(dst, ref string, platforms []Platform) error {
	if len(platforms) == 0 {
		return fmt.Errorf("merge OCI layouts: no platform")
	}
	if err := os.MkdirAll(filepath.Join(dst, "blobs", "sha256"), 0o755); err != nil {
		return err
	}
	var children []descriptor
	seen := map[string]bool{}
	for _, p := range platforms {
		m, err := singleManifest(p.Dir)
		if err != nil {
			return fmt.Errorf("%s/%s image %s: %w", p.OS, p.Arch, p.Dir, err)
		}
		if err := checkPlatform(p); err != nil {
			return fmt.Errorf("%s/%s image %s: %w", p.OS, p.Arch, p.Dir, err)
		}
		if seen[p.OS+"/"+p.Arch] {
			return fmt.Errorf("platform %s/%s given twice", p.OS, p.Arch)
		}
		seen[p.OS+"/"+p.Arch] = true
		if err := copyBlobs(p.Dir, dst); err != nil {
			return fmt.Errorf("%s/%s image %s: %w", p.OS, p.Arch, p.Dir, err)
		}
		children = append(children, descriptor{
			MediaType: m.MediaType, Digest: m.Digest, Size: m.Size,
			Platform: &platformSpec{Architecture: p.Arch, OS: p.OS},
		})
	}
	idx, err := json.Marshal(index{SchemaVersion: 2, MediaType: mediaTypeIndex, Manifests: children})
	if err != nil {
		return err
	}
	sum := sha256.Sum256(idx)
	digest := hex.EncodeToString(sum[:])
	if err := os.WriteFile(filepath.Join(dst, "blobs", "sha256", digest), idx, 0o644); err != nil {
		return err
	}
	top, err := json.Marshal(index{SchemaVersion: 2, MediaType: mediaTypeIndex, Manifests: []descriptor{{
		MediaType: mediaTypeIndex, Digest: "sha256:" + digest, Size: int64(len(idx)),
		Annotations: map[string]string{annotationRefName: ref},
	}}})
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dst, "index.json"), top, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dst, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
}

// singleManifest returns the one image manifest a single-platform layout's
// index.json lists.
func singleManifest(dir string) (descriptor, error) {
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		return descriptor{}, err
	}
	var idx index
	if err := json.Unmarshal(b, &idx); err != nil {
		return descriptor{}, fmt.Errorf("index.json: %v", err)
	}
	if len(idx.Manifests) != 1 || (idx.Manifests[0].MediaType != mediaTypeManifest && idx.Manifests[0].MediaType != mediaTypeDockerManifest) {
		return descriptor{}, fmt.Errorf("index.json lists %d entries; want one image manifest", len(idx.Manifests))
	}
	return idx.Manifests[0], nil
}

// checkPlatform refuses a layout whose image config names another platform
// than the one it is listed under: a runtime would pull a binary it cannot
// execute.
func checkPlatform(p Platform) error {
	m, err := singleManifest(p.Dir)
	if err != nil {
		return err
	}
	var manifest struct {
		Config descriptor `json:"config"`
	}
	if err := readBlobJSON(p.Dir, m.Digest, &manifest); err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	var config platformSpec
	if err := readBlobJSON(p.Dir, manifest.Config.Digest, &config); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if config.OS != p.OS || config.Architecture != p.Arch {
		return fmt.Errorf("the image's config is for %s/%s", config.OS, config.Architecture)
	}
	return nil
}

func readBlobJSON(dir, digest string, v any) error {
	hexDigest, ok := strings.CutPrefix(digest, "sha256:")
	if !ok || strings.ContainsAny(hexDigest, `/\.`) {
		return fmt.Errorf("digest %q: want sha256:<hex>", digest)
	}
	b, err := os.ReadFile(filepath.Join(dir, "blobs", "sha256", hexDigest))
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// copyBlobs copies every blob of the layout at src into dst, checking that
// each one's content has the digest it is named by.
func copyBlobs(src, dst string) error {
	dir := filepath.Join(src, "blobs", "sha256")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			return fmt.Errorf("blob %s: not a regular file", e.Name())
		}
		if err := copyBlob(filepath.Join(dir, e.Name()), filepath.Join(dst, "blobs", "sha256", e.Name())); err != nil {
			return err
		}
	}
	return nil
}

func copyBlob(src, dst string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
	}()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(out, h), in); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); !strings.EqualFold(got, filepath.Base(src)) {
		return fmt.Errorf("blob %s holds content with digest sha256:%s", filepath.Base(src), got)
	}
	return nil
}
