package collectors

import "golang.org/x/sys/unix"

// blockUnit is the unit of statfs's block counts: f_frsize; f_bsize is only
// the preferred I/O size (they differ on some filesystems).
func blockUnit(st *unix.Statfs_t) uint64 {
	if st.Frsize != 0 {
		return uint64(st.Frsize)
	}
	return uint64(st.Bsize)
}
