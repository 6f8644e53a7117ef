//go:build !linux

package pkgstore

import (
	"context"
	"errors"
)

// Check needs Linux: the store is walked with getdents64 and statx. The
// macOS release binary (built for the CLI's evidence and sops commands)
// reports this instead.
func Check(context.Context, string, *Index, Options) (Result, error) {
	return Result{}, errors.New("the package store check needs Linux (statx, getdents64)")
}
