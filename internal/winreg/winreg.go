//go:build windows

// Package winreg reads string values of HKEY_LOCAL_MACHINE for the
// collectors, from the 64-bit view of the registry even in a 32-bit agent.
package winreg

import (
	"errors"
	"io/fs"

	"golang.org/x/sys/windows/registry"
)

// String returns the string value name under HKLM\path, or "" without an
// error when the key or the value does not exist.
func String(path, name string) (string, error) {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, path, registry.QUERY_VALUE|registry.WOW64_64KEY)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	defer k.Close()
	v, _, err := k.GetStringValue(name)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	return v, err
}
