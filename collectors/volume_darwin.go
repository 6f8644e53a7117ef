package collectors

import "golang.org/x/sys/unix"

// blockUnit is the unit of statfs's block counts: on macOS, f_bsize (the
// fundamental block size; there is no f_frsize).
func blockUnit(st *unix.Statfs_t) uint64 { return uint64(st.Bsize) }
