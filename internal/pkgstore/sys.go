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

// parseHexName decodes a blob name (64 lowercase hex characters).
func parseHexName(name []byte) (Digest, bool) {
	var d Digest
	if len(name) != 64 {
		return d, false
	}
	for i := 0; i < 32; i++ {
		hi, ok1 := nibble(name[2*i])
		lo, ok2 := nibble(name[2*i+1])
		if !ok1 || !ok2 {
			return d, false
		}
		d[i] = hi<<4 | lo
	}
	return d, true
}

// parseHexByte decodes a two-character directory name (ab, cd).
func parseHexByte(name []byte) (byte, bool) {
	if len(name) != 2 {
		return 0, false
	}
	hi, ok1 := nibble(name[0])
	lo, ok2 := nibble(name[1])
	return hi<<4 | lo, ok1 && ok2
}

func nibble(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
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
