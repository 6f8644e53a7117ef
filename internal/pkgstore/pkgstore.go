// Package pkgstore checks Gitea's local package blob store against the
// package metadata, and hashes its blobs.
//
// Gitea stores every package file once, content-addressed, at
// <root>/<h[0:2]>/<h[2:4]>/<h>, where h is the lowercase hex sha256 of the
// content, and its API lists each package version's files with their sha256
// and size. Check joins the two in one walk of the tree:
//
//   - missing: a listed file whose blob is not a regular file in the store;
//   - size mismatch: the blob exists with another size;
//   - orphaned: a blob no listed file references (with its bytes);
//   - foreign: an entry that is not a blob of the layout (a wrong name, a
//     symlink, a directory where a blob belongs).
//
// Memory does not grow with the number of blobs: the tree is read one leaf
// directory at a time and merged with the sorted metadata, so the cost is
// the metadata (48 bytes per package file) plus one directory's entries.
// Nothing is ever written to the store.
package pkgstore

import (
	"bytes"
	"encoding/hex"
	"slices"
	"time"
)

// Digest is a sha256.
type Digest [32]byte

// ParseDigest parses 64 lowercase hex characters, the form Gitea uses in
// blob names and in the API.
func ParseDigest(s string) (Digest, bool) {
	return parseHexName([]byte(s))
}

// String returns the lowercase hex form.
func (d Digest) String() string { return hex.EncodeToString(d[:]) }

// RelPath is the blob's path relative to the store root: ab/cd/abcd….
func (d Digest) RelPath() string {
	h := d.String()
	return h[0:2] + "/" + h[2:4] + "/" + h
}

// Version is one package version the metadata lists.
type Version struct {
	Owner, Type, Name, Version string
	// ID is Gitea's version ID; Confirm uses it to re-list the version.
	ID int64
}

// File is one package file of the metadata: its blob's digest and the size
// the API reports. File names are not kept (a check needs none); the few
// a report needs come from re-listing the versions concerned (Confirm).
type File struct {
	Digest Digest
	Size   int64
	// Version indexes Index.Versions.
	Version int32
}

// Index is the package metadata a check compares the store with.
type Index struct {
	Versions []Version
	// Files are sorted by digest (NewIndex sorts them).
	Files []File
	// Listed is when the oldest file list in the index was read. A blob
	// modified after it may belong to a file added since (a wheel uploaded
	// next to an sdist, a re-pushed container tag), so it is not called
	// orphaned until the metadata is newer than the blob.
	Listed time.Time
}

// NewIndex sorts files by digest and returns the index.
func NewIndex(versions []Version, files []File, listed time.Time) *Index {
	slices.SortFunc(files, func(a, b File) int { return bytes.Compare(a.Digest[:], b.Digest[:]) })
	return &Index{Versions: versions, Files: files, Listed: listed}
}
