//go:build !windows

package agent

// platformServices is nil: there is no service control manager here, and
// the service API answers ErrNotWindows.
func platformServices() serviceAPI { return nil }
