//go:build !linux

package device

import "context"

// noProductUUID is the product UUID source of systems where none is read.
func noProductUUID(context.Context) (string, error) { return "", nil }

// noDiskSerials is the disk serial source of systems where gopsutil v3 reads
// none (Windows, macOS).
func noDiskSerials(context.Context) ([]string, error) { return nil, nil }

// noVirtualNet is the virtual interface test of systems that have none
// beyond the name prefixes that classify knows.
func noVirtualNet(string) bool { return false }
