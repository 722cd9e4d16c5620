package device

import (
	"context"
	"errors"
	"io/fs"

	"golang.org/x/sys/windows/registry"
)

// setOS wires the Windows sources: the MachineGuid of the installation.
// Windows has no product UUID source without WMI, and gopsutil v3 does not
// read disk serials there, so both stay empty without error.
func (c *Collector) setOS() {
	c.machineID = windowsMachineGUID
	c.productUUID = noProductUUID
	c.diskSerials = noDiskSerials
	c.isVirtualNet = noVirtualNet
}

// windowsMachineGUID reads HKLM\SOFTWARE\Microsoft\Cryptography\MachineGuid
// from the 64-bit view of the registry, also from a 32-bit agent.
func windowsMachineGUID(context.Context, string) (string, error) {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, `SOFTWARE\Microsoft\Cryptography`,
		registry.QUERY_VALUE|registry.WOW64_64KEY)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", nil
		}
		return "", err
	}
	defer k.Close()
	v, _, err := k.GetStringValue("MachineGuid")
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", nil
		}
		return "", err
	}
	id, _ := parseID([]byte(v))
	return id, nil
}
