// Package blobtree generates a synthetic Gitea package blob store for tests
// and benchmarks: files named by a sha256 in packages/ab/cd/ directories, with
// skewed sizes. Large files are sparse (their size is set with ftruncate and
// no blocks are written) so a million-blob tree costs inodes, not gigabytes.
package blobtree

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Options shape a generated tree.
type Options struct {
	// Files is the number of blobs.
	Files int
	// Seed makes the tree reproducible.
	Seed uint64
	// Workers create files in parallel; 0 means 4.
	Workers int
}

// Stats describe what was generated.
type Stats struct {
	Files, Dirs      int
	ApparentBytes    uint64
	WrittenFileBytes uint64
}

// smallFraction of the blobs are small and written for real (they allocate
// blocks); the rest are sparse with log-uniform sizes from 1 KiB to 256 MiB,
// which is how package sizes spread (many small metadata files and wheels,
// a few large layers).
const smallFraction = 0.05

// Generate creates the blob tree under root, which must not exist. With a
// million blobs it has 65,793 directories: root, 256 ab and 65,536 ab/cd.
func Generate(ctx context.Context, root string, o Options) (Stats, error) {
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if err := os.Mkdir(root, 0o755); err != nil {
		return Stats{}, err
	}
	// Directories are made on first use, as Gitea does; with a million
	// blobs every one of the 256×256 exists.
	var leafMade [256 * 256]atomic.Bool
	var abMade [256]atomic.Bool
	st := Stats{Dirs: 1}
	var mu sync.Mutex
	var firstErr error
	setErr := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for w := range o.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local Stats
			rng := rand.New(rand.NewPCG(o.Seed, uint64(w)))
			small := make([]byte, 512)
			for i := w; i < o.Files; i += o.Workers {
				if i%4096 == 0 && ctx.Err() != nil {
					break
				}
				var ctr [16]byte
				binary.LittleEndian.PutUint64(ctr[:], o.Seed)
				binary.LittleEndian.PutUint64(ctr[8:], uint64(i))
				sum := sha256.Sum256(ctr[:])
				name := hex.EncodeToString(sum[:])
				path := root + "/" + name[:2] + "/" + name[2:4] + "/" + name
				if !leafMade[int(sum[0])<<8|int(sum[1])].Load() {
					// MkdirAll is safe to race: EEXIST from another worker is fine.
					if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
						setErr(err)
						return
					}
					leafMade[int(sum[0])<<8|int(sum[1])].Store(true)
					abMade[sum[0]].Store(true)
				}
				var size int64
				write := rng.Float64() < smallFraction
				if write {
					size = 1 + rng.Int64N(int64(len(small)))
				} else {
					size = int64(math.Exp(rng.Float64()*math.Log(256*1024)) * 1024)
				}
				if err := create(path, size, write, small); err != nil {
					setErr(err)
					return
				}
				local.Files++
				local.ApparentBytes += uint64(size)
				if write {
					local.WrittenFileBytes += uint64(size)
				}
			}
			mu.Lock()
			st.Files += local.Files
			st.ApparentBytes += local.ApparentBytes
			st.WrittenFileBytes += local.WrittenFileBytes
			mu.Unlock()
		}()
	}
	wg.Wait()
	for i := range leafMade {
		if leafMade[i].Load() {
			st.Dirs++
		}
	}
	for i := range abMade {
		if abMade[i].Load() {
			st.Dirs++
		}
	}
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return st, firstErr
}

func create(path string, size int64, write bool, data []byte) error {
	fd, err := unix.Open(path, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	if write {
		_, err = unix.Write(fd, data[:size])
	} else {
		err = unix.Ftruncate(fd, size)
	}
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
