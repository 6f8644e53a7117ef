package evidence

import "syscall"

// ctimeNs is the inode change time (the field is named per platform).
func ctimeNs(st *syscall.Stat_t) int64 { return st.Ctim.Nano() }
