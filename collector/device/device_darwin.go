package device

import "context"

// setOS wires the macOS sources. The machine id is the IOPlatformUUID, which
// gopsutil's host id already read with ioreg, so it is reused rather than
// read twice. gopsutil v3 does not read disk serials on macOS.
func (c *Collector) setOS() {
	c.machineID = hostIDIsMachineID
	c.productUUID = noProductUUID
	c.diskSerials = noDiskSerials
	c.isVirtualNet = noVirtualNet
}

// hostIDIsMachineID returns the host id, which on macOS is the
// IOPlatformUUID.
func hostIDIsMachineID(_ context.Context, hostID string) (string, error) {
	return hostID, nil
}
