//go:build !linux

package walk

import (
	"context"
	"errors"
	"time"
)

// The walker reads directories with getdents64 and stats entries with
// statx: Linux only. Elsewhere (the macOS release binary, built for the
// evidence and check-config commands) a scan fails, and with it the
// directory collector; the rest of the exporter works.
func (s *Scanner) scan(context.Context, time.Time, bool) (Result, bool, error) {
	return Result{}, false, errors.New("the directory walker needs Linux (statx, getdents64)")
}
