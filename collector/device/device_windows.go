package device

import (
	"context"

	"github.com/storefence/storefence/internal/winreg"
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
	v, err := winreg.String(`SOFTWARE\Microsoft\Cryptography`, "MachineGuid")
	if err != nil || v == "" {
		return "", err
	}
	id, _ := parseID([]byte(v))
	return id, nil
}
