package device

import "context"

// setOS wires the Linux sources: systemd's machine id, the SMBIOS product
// UUID and the disk serials from sysfs, and sysfs's list of virtual
// interfaces. The platform comes from os-release ("debian 12"), which is
// stable across point releases and spares gopsutil's fork of lsb_release;
// gopsutil is the fallback for systems without os-release.
func (c *Collector) setOS() {
	c.machineID = c.linuxMachineID
	c.productUUID = c.linuxProductUUID
	c.diskSerials = c.linuxDiskSerials
	c.isVirtualNet = c.sysfsVirtualNet
	gopsutilPlatform := c.platform
	c.platform = func(ctx context.Context) (platform, family, version string, err error) {
		if platform, version, ok := c.osReleasePlatform(); ok {
			return platform, "", version, nil
		}
		return gopsutilPlatform(ctx)
	}
}
