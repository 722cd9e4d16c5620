package network

import (
	"context"
	"fmt"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/storefence/storefence/internal/winreg"
)

// setOS wires the Windows sources: the route and arp commands for the
// gateway, the registry for the time zone and GetUserDefaultLocaleName for
// the locale.
func (c *Collector) setOS() {
	c.gateway = c.windowsGateway
	c.systemTimezone = windowsTimezone
	c.systemLocale = windowsLocale
}

// windowsTimezone reads the Windows zone name ("China Standard Time") from
// HKLM\SYSTEM\CurrentControlSet\Control\TimeZoneInformation\TimeZoneKeyName.
func windowsTimezone(context.Context) (string, error) {
	return winreg.String(`SYSTEM\CurrentControlSet\Control\TimeZoneInformation`, "TimeZoneKeyName")
}

// windowsLocale returns the user default locale name ("zh-CN") from
// kernel32's GetUserDefaultLocaleName. For an agent running as a service
// that is the service account's locale.
func windowsLocale(context.Context) (string, error) {
	const localeNameMaxLength = 85 // LOCALE_NAME_MAX_LENGTH, with the NUL
	proc := windows.NewLazySystemDLL("kernel32.dll").NewProc("GetUserDefaultLocaleName")
	if err := proc.Find(); err != nil {
		return "", err
	}
	buf := make([]uint16, localeNameMaxLength)
	n, _, err := proc.Call(uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
	if n == 0 {
		return "", fmt.Errorf("GetUserDefaultLocaleName: %w", err)
	}
	return windows.UTF16ToString(buf), nil
}
