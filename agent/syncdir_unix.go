//go:build unix

package agent

import (
	"errors"
	"os"
	"syscall"
)

// syncDir flushes dir's entries (a rename) to disk. File systems that
// cannot sync a directory (EINVAL, ENOTSUP) are left to their own
// ordering.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOTSUP) {
		return err
	}
	return nil
}
