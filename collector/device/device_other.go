//go:build !linux && !windows && !darwin

package device

import "context"

// setOS wires the sources of other systems: only the portable facts that
// gopsutil provides (host id, hostname, platform, interfaces).
func (c *Collector) setOS() {
	c.machineID = noMachineID
	c.productUUID = noProductUUID
	c.diskSerials = noDiskSerials
	c.isVirtualNet = noVirtualNet
}

// noMachineID is the machine id source of systems without one.
func noMachineID(context.Context, string) (string, error) { return "", nil }
