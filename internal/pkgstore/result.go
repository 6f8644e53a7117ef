package pkgstore

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Kind is what is wrong.
type Kind uint8

const (
	// Missing: a listed package file has no blob (consumers cannot fetch it).
	Missing Kind = iota + 1
	// SizeMismatch: the blob exists with another size than the file's.
	SizeMismatch
	// Orphaned: a blob no listed package file references.
	Orphaned
	// Foreign: an entry that is not a blob of Gitea's layout.
	Foreign
)

func (k Kind) String() string {
	switch k {
	case Missing:
		return "missing"
	case SizeMismatch:
		return "size mismatch"
	case Orphaned:
		return "orphaned"
	case Foreign:
		return "foreign"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Problem is one finding, with the names an operator needs to act.
type Problem struct {
	Kind Kind
	// Version is the package version of a missing or mismatched file; nil
	// for orphaned blobs and foreign entries.
	Version *Version
	// File is the package file's name, known when its version was re-listed.
	File string
	// Digest is the blob's sha256 (zero for a foreign entry).
	Digest Digest
	// Size is the listed size (missing, mismatch) or the blob's (orphaned).
	Size int64
	// BlobSize is the size of the blob on disk (size mismatch).
	BlobSize int64
	// Path is relative to the store root.
	Path string
	// Detail adds what else is known ("a symlink, not a regular file").
	Detail string
}

// GroupCounts are a check's counts for one owner and package type.
type GroupCounts struct {
	Owner, Type string
	// Files are the package files checked.
	Files        int
	Missing      int
	SizeMismatch int
}

// Result is one completed check.
type Result struct {
	// Groups has every owner and package type of the index, sorted.
	Groups []GroupCounts
	// Files is the number of package files checked.
	Files int
	// Blobs and BlobBytes count the blobs in the store.
	Blobs, BlobBytes uint64
	// Orphaned and OrphanedBytes count blobs no package file references.
	Orphaned, OrphanedBytes uint64
	// Recent counts unreferenced blobs newer than the metadata: judged by a
	// later check (an upload in progress, a file added to a version since).
	Recent uint64
	// Foreign counts entries that are not blobs of the layout.
	Foreign uint64
	// Errors counts directories or blobs that could not be read; the files
	// whose blobs they would hold are left out of the counts.
	Errors       uint64
	ErrorSamples []string
	// Relisted is the number of versions re-listed to confirm a problem.
	Relisted int
	Start    time.Time
	Duration time.Duration
}

// ConfirmedFile is one file of a re-listed version.
type ConfirmedFile struct {
	Name   string
	Digest Digest
	Size   int64
}

// ErrVersionGone is what a Confirm function returns for a version deleted
// since it was listed.
var ErrVersionGone = errors.New("the package version no longer exists")

// ErrAbandoned is returned when a check is cancelled or runs out of time.
var ErrAbandoned = errors.New("check abandoned")

// Options tune a check.
type Options struct {
	// Concurrency is the number of top-level directories read at once (default 4).
	Concurrency int
	// Grace: an unreferenced blob modified less than this before
	// Index.Listed is not called orphaned yet (clock skew, uploads in flight).
	Grace time.Duration
	// Confirm re-lists a version before a missing or mismatched file of it
	// is reported, so a version changed or deleted since the index was
	// built is not reported from stale metadata; it also supplies the file
	// names. nil reports what the index says.
	Confirm func(ctx context.Context, v Version) ([]ConfirmedFile, error)
	// MaxConfirm bounds the versions re-listed per check (0: no bound);
	// problems of the others are reported from the index.
	MaxConfirm int
	// Report, when set, receives every problem (the CLI); the counts are
	// in the Result either way.
	Report func(Problem)
}

// Reference states of an index file during a check.
const (
	stNotFound   uint8 = iota // no blob seen (missing)
	stOK                      // blob with the listed size
	stMismatch                // blob with another size
	stNotRegular              // something that is not a regular file
	stUnknown                 // its directory could not be read
)
