//go:build linux

package pkgstore

import (
	"encoding/binary"
	"errors"
	"unsafe"

	"golang.org/x/sys/unix"
)

// statxMask asks for what a check and a scrub use.
const statxMask = unix.STATX_TYPE | unix.STATX_MODE | unix.STATX_SIZE | unix.STATX_MTIME | unix.STATX_INO

// statxAt stats a NUL-terminated name relative to dirfd without following
// a final symlink and without allocating (name points into a getdents
// buffer): one call per blob is the check's hot path.
func statxAt(dirfd int, name *byte, st *unix.Statx_t) error {
	for {
		_, _, e := unix.Syscall6(unix.SYS_STATX, uintptr(dirfd), uintptr(unsafe.Pointer(name)),
			uintptr(unix.AT_SYMLINK_NOFOLLOW|unix.AT_NO_AUTOMOUNT), statxMask, uintptr(unsafe.Pointer(st)), 0)
		switch e {
		case unix.EINTR:
			continue
		case 0:
			return nil
		default:
			return e
		}
	}
}

// openDirAt opens a directory below dirfd for reading, never through a
// symlink: the store is read as Gitea's layout lays it out, and a link
// could lead outside the volume.
func openDirAt(dirfd int, name string) (int, error) {
	for {
		fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		if !errors.Is(err, unix.EINTR) {
			return fd, err
		}
	}
}

// dirent is one directory entry: its NUL-terminated name inside the
// getdents buffer and its d_type.
type dirent struct {
	name []byte // without the NUL
	cstr *byte  // the name with its NUL, for statxAt
	typ  uint8
}

// readDir calls fn for every entry of the open directory fd except . and
// .., reading with getdents64 into buf.
func readDir(fd int, buf []byte, fn func(e dirent) error) error {
	for {
		n, err := unix.Getdents(fd, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		if n <= 0 {
			return nil
		}
		for off := 0; off < n; {
			reclen := int(binary.NativeEndian.Uint16(buf[off+16:]))
			ino := binary.NativeEndian.Uint64(buf[off:])
			typ := buf[off+18]
			raw := buf[off+19 : off+reclen]
			off += reclen
			end := 0
			for end < len(raw) && raw[end] != 0 {
				end++
			}
			name := raw[:end]
			if ino == 0 || end == 0 || (name[0] == '.' && (end == 1 || (end == 2 && name[1] == '.'))) {
				continue
			}
			if err := fn(dirent{name: name, cstr: &raw[0], typ: typ}); err != nil {
				return err
			}
		}
	}
}

// typeName describes a non-regular file type for a finding.
func typeName(mode uint16) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return "a directory"
	case unix.S_IFLNK:
		return "a symlink"
	case unix.S_IFIFO:
		return "a FIFO"
	case unix.S_IFSOCK:
		return "a socket"
	case unix.S_IFCHR, unix.S_IFBLK:
		return "a device node"
	}
	return "not a regular file"
}

// direntTypeName is typeName for a d_type.
func direntTypeName(t uint8) string {
	switch t {
	case unix.DT_REG:
		return "a regular file"
	case unix.DT_DIR:
		return "a directory"
	case unix.DT_LNK:
		return "a symlink"
	}
	return "not a directory"
}
