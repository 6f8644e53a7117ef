//go:build linux

package walk

import (
	"errors"
	"unsafe"

	"golang.org/x/sys/unix"
)

// statxMask asks only for what the walker uses.
const statxMask = unix.STATX_TYPE | unix.STATX_MODE | unix.STATX_NLINK | unix.STATX_INO |
	unix.STATX_SIZE | unix.STATX_BLOCKS | unix.STATX_MTIME | unix.STATX_CTIME

// statx stats a path (it allocates for the path; used once per directory at most).
func statx(dirfd int, path string, flags int, st *unix.Statx_t) error {
	for {
		err := unix.Statx(dirfd, path, flags|unix.AT_NO_AUTOMOUNT, statxMask, st)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// statxAt stats a NUL-terminated name relative to an open directory without
// allocating: name points into the getdents buffer, which already holds the
// terminating NUL. This is the walker's hot path (one call per entry).
func statxAt(dirfd int, name *byte, flags int, st *unix.Statx_t) error {
	for {
		_, _, e := unix.Syscall6(unix.SYS_STATX, uintptr(dirfd), uintptr(unsafe.Pointer(name)),
			uintptr(flags|unix.AT_NO_AUTOMOUNT), statxMask, uintptr(unsafe.Pointer(st)), 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return e
		}
		return nil
	}
}

func openDir(path string, flags int) (int, error) {
	for {
		fd, err := unix.Open(path, flags, 0)
		if !errors.Is(err, unix.EINTR) {
			return fd, err
		}
	}
}
