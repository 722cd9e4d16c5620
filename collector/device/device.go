// Package device fingerprints the machine an agent runs on: its host, machine
// and product ids, hostname, operating system, virtualization, the MAC
// addresses of its real network interfaces and its disk serials.
//
// Ids leave the machine only as application-specific keyed hashes (see
// AppSpecificID), so that two agents on one machine still report equal values
// without disclosing the raw ids. Hostnames and MAC addresses are reported as
// they are.
package device

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path"
	"runtime"
	"slices"
	"strings"
	"unicode"

	"github.com/rs/zerolog"
	"github.com/shirou/gopsutil/v3/disk"
	"github.com/shirou/gopsutil/v3/host"
	psnet "github.com/shirou/gopsutil/v3/net"

	"github.com/storefence/storefence/collector"
	"github.com/storefence/storefence/report"
)

// appID is storefence's application id, the message that every raw id is
// keyed with in AppSpecificID. It was generated once, with
// python3 -c 'import uuid;print(uuid.uuid4().hex)', and must never change:
// a new value would change every device id that agents report, and break
// matching against the history the server holds.
const appID = "d3c7b20352934a87ade25c97b4d0e6fa"

// Collector fills the device section of a report. Its zero value is not
// usable; call New.
type Collector struct {
	log  zerolog.Logger
	goos string

	// Seams to the operating system, set by New and replaced in tests.
	hostID         func(context.Context) (string, error)
	platform       func(context.Context) (platform, family, version string, err error)
	virtualization func(context.Context) (system, role string, err error)
	hostname       func() (string, error)
	interfaces     func(context.Context) (psnet.InterfaceStatList, error)
	readFile       func(name string) ([]byte, error)
	readDir        func(name string) ([]fs.DirEntry, error)
	exists         func(name string) bool
	diskSerial     func(ctx context.Context, device string) (string, error)

	// Per-OS sources, set by setOS in the device_GOOS.go files. machineID
	// gets the raw host id so that macOS, whose host id is already the
	// IOPlatformUUID, does not run ioreg twice. Each returns "" and no error
	// when the fact does not exist on this machine.
	machineID    func(ctx context.Context, hostID string) (string, error)
	productUUID  func(context.Context) (string, error)
	diskSerials  func(context.Context) ([]string, error)
	isVirtualNet func(name string) bool
}

// New returns a device collector that reads this machine. log should already
// carry whatever fields identify the collector in the agent's logs.
func New(log zerolog.Logger) *Collector {
	c := &Collector{
		log:            log,
		goos:           runtime.GOOS,
		hostID:         host.HostIDWithContext,
		platform:       host.PlatformInformationWithContext,
		virtualization: host.VirtualizationWithContext,
		hostname:       os.Hostname,
		interfaces:     psnet.InterfacesWithContext,
		readFile:       os.ReadFile,
		readDir:        os.ReadDir,
		exists:         func(name string) bool { _, err := os.Stat(name); return err == nil },
		diskSerial:     disk.SerialNumberWithContext,
	}
	c.setOS()
	return c
}

// Name returns "device".
func (c *Collector) Name() string { return "device" }

// Collect sets r.Device. When some facts cannot be read it fills in the others
// and returns the failures joined; when nothing at all is observable it
// leaves r.Device nil and returns an error that wraps
// collector.ErrUnsupported.
func (c *Collector) Collect(ctx context.Context, r *report.Report) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("device: %w", err)
	}
	d := report.Device{OS: c.goos}
	var errs []error
	fail := func(what string, err error) {
		errs = append(errs, fmt.Errorf("device: %s: %w", what, err))
	}

	rawHostID, err := c.hostID(ctx)
	if err != nil {
		fail("host id", err)
	}
	d.HostID = c.hashID("host id", rawHostID)

	if raw, err := c.machineID(ctx, rawHostID); err != nil {
		fail("machine id", err)
	} else {
		d.MachineID = c.hashID("machine id", raw)
	}

	if raw, err := c.productUUID(ctx); err != nil {
		fail("product uuid", err)
	} else {
		d.ProductUUID = c.hashID("product uuid", raw)
	}

	if name, err := c.hostname(); err != nil {
		fail("hostname", err)
	} else {
		d.Hostname = strings.TrimSpace(name)
	}

	if platform, _, version, err := c.platform(ctx); err != nil {
		fail("platform", err)
	} else {
		d.Platform = strings.TrimSpace(strings.TrimSpace(platform) + " " + strings.TrimSpace(version))
	}

	if system, role, err := c.virtualization(ctx); err != nil {
		fail("virtualization", err)
	} else {
		d.Virtualization = joinVirtualization(system, role)
	}

	if err := ctx.Err(); err != nil {
		return fmt.Errorf("device: %w", err)
	}
	if macs, ifaces, err := c.macs(ctx); err != nil {
		fail("interfaces", err)
	} else {
		d.MACs, d.Interfaces = macs, ifaces
	}

	serials, err := c.diskSerials(ctx)
	if err != nil {
		fail("disk serials", err)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("device: %w", ctx.Err())
	}
	d.DiskSerials = hashAll(serials)

	c.log.Debug().
		Bool("host_id", d.HostID != "").
		Bool("machine_id", d.MachineID != "").
		Bool("product_uuid", d.ProductUUID != "").
		Int("interfaces", len(d.Interfaces)).
		Int("disk_serials", len(d.DiskSerials)).
		Int("errors", len(errs)).
		Msg("device facts collected")

	if empty(d) {
		return errors.Join(append([]error{fmt.Errorf("device: no device facts observable: %w", collector.ErrUnsupported)}, errs...)...)
	}
	r.Device = &d
	return errors.Join(errs...)
}

// empty reports whether d holds nothing beyond the OS, which is always known.
func empty(d report.Device) bool {
	return d.HostID == "" && d.MachineID == "" && d.ProductUUID == "" &&
		d.Hostname == "" && d.Platform == "" && d.Virtualization == "" &&
		len(d.MACs) == 0 && len(d.Interfaces) == 0 && len(d.DiskSerials) == 0
}

// joinVirtualization formats gopsutil's virtualization system and role as
// "kvm/guest", or "" when there is none.
func joinVirtualization(system, role string) string {
	system, role = strings.TrimSpace(system), strings.TrimSpace(role)
	switch {
	case system == "":
		return ""
	case role == "":
		return system
	default:
		return system + "/" + role
	}
}

// hashID returns the application-specific id of raw, or "" when raw is empty
// or a value known to be shared by unrelated machines. what names the id in
// logs; the raw id is never logged.
func (c *Collector) hashID(what, raw string) string {
	canon := canonicalID(raw)
	if canon == "" {
		return ""
	}
	if placeholderID(canon) {
		c.log.Debug().Str("id", what).Msg("placeholder id dropped")
		return ""
	}
	return AppSpecificID(raw)
}

// hashAll returns the sorted, deduplicated application-specific ids of raws,
// leaving out empty ones.
func hashAll(raws []string) []string {
	var out []string
	for _, raw := range raws {
		if id := AppSpecificID(raw); id != "" {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// AppSpecificID returns the storefence-specific id derived from the raw device
// id raw, in the manner of systemd's sd_id128_get_machine_app_specific: the
// HMAC-SHA256 of storefence's fixed 128-bit application id keyed by the raw
// id, cut to 16 bytes, marked as a version 4, variant 1 UUID and written as 32
// lowercase hexadecimal digits. Equal raw ids give equal results on every
// agent, and the raw id cannot be recovered from the result.
//
// raw is canonicalised first: surrounding white space is trimmed, ASCII
// letters are lowercased and '-', '{' and '}' are dropped, so that
// "{4C4C4544-…}", "4c4c4544-…" and "4c4c4544…" hash alike. When the
// canonical form is 32 hexadecimal digits, the key is the 16 bytes they
// encode, exactly as systemd keys with the machine id; otherwise the key is
// the canonical text. AppSpecificID returns "" when the canonical form is
// empty.
func AppSpecificID(raw string) string {
	var app [16]byte
	if _, err := hex.Decode(app[:], []byte(appID)); err != nil {
		panic("device: bad appID constant: " + err.Error()) // unreachable: appID is a valid constant
	}
	return appSpecific(raw, app)
}

// appSpecific is AppSpecificID for the application id app.
func appSpecific(raw string, app [16]byte) string {
	canon := canonicalID(raw)
	if canon == "" {
		return ""
	}
	key := []byte(canon)
	if isHex32(canon) {
		key, _ = hex.DecodeString(canon)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write(app[:])
	sum := mac.Sum(nil)[:16]
	sum[6] = sum[6]&0x0f | 0x40 // version 4
	sum[8] = sum[8]&0x3f | 0x80 // variant 1 (RFC 4122)
	return hex.EncodeToString(sum)
}

// canonicalID returns raw with ASCII letters lowercased, '-', '{' and '}'
// dropped, and leading and trailing white space and NUL bytes trimmed. Only
// ASCII is folded, so that the result never depends on the Unicode tables of
// the Go release that built the agent.
func canonicalID(raw string) string {
	var b strings.Builder
	b.Grow(len(raw))
	for i := 0; i < len(raw); i++ {
		switch ch := raw[i]; {
		case ch == '-' || ch == '{' || ch == '}':
		case 'A' <= ch && ch <= 'Z':
			b.WriteByte(ch + 'a' - 'A')
		default:
			b.WriteByte(ch)
		}
	}
	return strings.Trim(b.String(), " \t\r\n\v\f\x00")
}

// isHex32 reports whether s is 32 lowercase hexadecimal digits.
func isHex32(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !('0' <= s[i] && s[i] <= '9' || 'a' <= s[i] && s[i] <= 'f') {
			return false
		}
	}
	return true
}

// placeholderID reports whether the canonical id canon is a value that
// firmware or images put on many unrelated machines (rockstor #1964,
// NethServer #967), and so identifies nothing.
func placeholderID(canon string) bool {
	switch canon {
	case "00000000000000000000000000000000",
		"ffffffffffffffffffffffffffffffff",
		"03000200040005000006000700080009":
		return true
	}
	return false
}

// parseID returns the canonical form of a 128-bit id read from a file such
// as /etc/machine-id or /sys/class/dmi/id/product_uuid: its first line,
// canonicalised, when that is 32 hexadecimal digits and not a placeholder.
// It reports false for anything else, including systemd's "uninitialized".
func parseID(b []byte) (string, bool) {
	line, _, _ := strings.Cut(string(b), "\n")
	canon := canonicalID(line)
	if !isHex32(canon) || placeholderID(canon) {
		return "", false
	}
	return canon, true
}

// classify decides whether an interface is a real one whose MAC identifies
// the machine. mac is as gopsutil reports it; loopback and virtual are what
// the OS says about the interface (virtual: on Linux, it appears under
// /sys/devices/virtual/net). It returns the interface with its MAC in
// lowercase colon form, or the reason it is left out.
func classify(name, mac string, loopback, virtual bool) (iface report.Interface, skip string) {
	// virtualPrefixes are the name prefixes of software interfaces: container
	// and VM bridges and taps, tunnels and VPNs, Kubernetes CNIs. Matching is on
	// the lowercased name, so Windows' "vEthernet (…)" Hyper-V switches match
	// "veth".
	virtualPrefixes := [...]string{
		"docker", "veth", "br-", "virbr", "vnet", "tun", "tap", "utun", "vmnet",
		"vboxnet", "ifb", "wg", "zt", "tailscale", "dummy", "cali", "flannel",
		"cni", "lxc", "kube",
		// macOS Apple Wireless Direct Link, low-latency WLAN and bridges.
		"awdl", "llw", "bridge",
	}
	lower := strings.ToLower(name)
	switch {
	case loopback:
		return iface, "loopback"
	case virtual:
		return iface, "virtual"
	}
	for _, p := range virtualPrefixes {
		if strings.HasPrefix(lower, p) {
			return iface, "virtual name"
		}
	}
	if strings.TrimSpace(mac) == "" {
		return iface, "no mac"
	}
	hw, err := net.ParseMAC(strings.TrimSpace(mac))
	switch {
	case err != nil:
		return iface, "unparsable mac"
	case len(hw) != 6:
		return iface, "not a 48-bit mac"
	case allZero(hw):
		return iface, "zero mac"
	case hw[0]&0x01 != 0:
		return iface, "group mac"
	}
	return report.Interface{Name: name, MAC: hw.String(), LocallyAdministered: LocallyAdministered(hw)}, ""
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

// LocallyAdministered reports whether mac has the U/L bit (0x02 of the first
// octet) set: the address was assigned by software (VMs, containers, MAC
// randomisation) rather than burnt in by the maker, so it is no hardware
// identity.
func LocallyAdministered(mac net.HardwareAddr) bool {
	return len(mac) > 0 && mac[0]&0x02 != 0
}

// macs returns the sorted, deduplicated MACs of the real interfaces, and the
// interfaces sorted by name.
func (c *Collector) macs(ctx context.Context) ([]string, []report.Interface, error) {
	list, err := c.interfaces(ctx)
	if err != nil {
		return nil, nil, err
	}
	var macs []string
	var ifaces []report.Interface
	for _, in := range list {
		virtual := c.isVirtualNet(in.Name)
		iface, skip := classify(in.Name, in.HardwareAddr, slices.Contains(in.Flags, "loopback"), virtual)
		if skip != "" {
			c.log.Debug().Str("interface", in.Name).Str("reason", skip).Msg("interface left out")
			continue
		}
		ifaces = append(ifaces, iface)
		macs = append(macs, iface.MAC)
	}
	slices.SortFunc(ifaces, func(a, b report.Interface) int {
		return strings.Compare(a.Name+"\x00"+a.MAC, b.Name+"\x00"+b.MAC)
	})
	slices.Sort(macs)
	return slices.Compact(macs), ifaces, nil
}

// sysfsVirtualNet reports whether the Linux interface name is a software
// one, i.e. /sys/devices/virtual/net/<name> exists.
func (c *Collector) sysfsVirtualNet(name string) bool {
	if name == "" || name == "." || name == ".." || strings.ContainsRune(name, '/') {
		return true // no real interface has such a name
	}
	return c.exists(path.Join("/sys/devices/virtual/net", name))
}

// idFiles reads the first valid 128-bit id among files, in order. A missing
// file, or one without a valid id (empty, "uninitialized"), is skipped
// without error.
func (c *Collector) idFiles(files ...string) (string, error) {
	var errs []error
	for _, name := range files {
		b, err := c.readFile(name)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
			continue
		}
		if id, ok := parseID(b); ok {
			return id, nil
		}
		c.log.Debug().Str("file", name).Msg("no valid id in file")
	}
	return "", errors.Join(errs...)
}

// linuxMachineID reads systemd's /etc/machine-id, or D-Bus's copy of it.
func (c *Collector) linuxMachineID(context.Context, string) (string, error) {
	return c.idFiles("/etc/machine-id", "/var/lib/dbus/machine-id")
}

// linuxProductUUID reads the SMBIOS system UUID. The file is normally
// readable by root only; a non-root agent, a container or a machine without
// DMI does without it, which is not an error.
func (c *Collector) linuxProductUUID(context.Context) (string, error) {
	const name = "/sys/class/dmi/id/product_uuid"
	b, err := c.readFile(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
			c.log.Debug().Err(err).Msg("product uuid not readable")
			return "", nil
		}
		return "", err
	}
	id, ok := parseID(b)
	if !ok {
		c.log.Debug().Msg("no valid product uuid")
	}
	return id, nil
}

// parseOSRelease returns the ID and VERSION_ID of an os-release(5) file,
// such as "debian" and "12". Values may be quoted with double or single
// quotes; backslash escapes in double quotes are undone.
func parseOSRelease(r io.Reader) (id, versionID string, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64*1024)
	for sc.Scan() {
		key, val, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok || (key != "ID" && key != "VERSION_ID") {
			continue
		}
		val = unquoteOSRelease(strings.TrimSpace(val))
		if key == "ID" {
			id = val
		} else {
			versionID = val
		}
	}
	return id, versionID, sc.Err()
}

// unquoteOSRelease undoes the shell-style quoting of an os-release value.
func unquoteOSRelease(v string) string {
	if len(v) < 2 || (v[0] != '"' && v[0] != '\'') || v[len(v)-1] != v[0] {
		return v
	}
	q, v := v[0], v[1:len(v)-1]
	if q == '\'' {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// osReleasePlatform reads the distribution and its version from
// /etc/os-release, else /usr/lib/os-release. It reports false when neither
// names a distribution.
func (c *Collector) osReleasePlatform() (platform, version string, ok bool) {
	for _, name := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		b, err := c.readFile(name)
		if err != nil {
			continue
		}
		id, v, err := parseOSRelease(bytes.NewReader(b))
		if err == nil && id != "" {
			return id, v, true
		}
	}
	return "", "", false
}

// skipBlockDevice reports whether the /sys/block entry name is no physical
// or virtual disk of its own.
func skipBlockDevice(name string) bool {
	// skipBlockPrefixes are the /sys/block names of devices that are no disks:
	// loop, RAM, compressed RAM, device-mapper, software RAID, optical, floppy
	// and network block devices.
	skipBlockPrefixes := [...]string{"loop", "ram", "zram", "dm-", "md", "sr", "fd", "nbd"}
	for _, p := range skipBlockPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return name == "" || name == "." || name == ".." || strings.ContainsRune(name, '/')
}

// linuxDiskSerials returns the raw serials of the disks in /sys/block. A disk
// without any serial (a virtual disk, usually) is skipped.
func (c *Collector) linuxDiskSerials(ctx context.Context) ([]string, error) {
	entries, err := c.readDir("/sys/block")
	if err != nil {
		return nil, err
	}
	var serials []string
	var errs []error
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return serials, err
		}
		name := e.Name()
		if skipBlockDevice(name) {
			continue
		}
		s, err := c.blockSerial(ctx, name)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
		if s != "" {
			serials = append(serials, s)
		}
	}
	return serials, errors.Join(errs...)
}

// blockSerial returns the serial of the disk /dev/<name>: first as udev or
// sysfs tell gopsutil, then from the sysfs attributes of SCSI/NVMe disks,
// virtio disks and the WWID. It returns an error only when no serial was
// found and a source failed for a reason other than its absence.
func (c *Collector) blockSerial(ctx context.Context, name string) (string, error) {
	var errs []error
	s, err := c.diskSerial(ctx, "/dev/"+name)
	if s = cleanSerial(s); s != "" {
		return s, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		c.log.Debug().Str("disk", name).Err(err).Msg("gopsutil serial failed")
	}
	for _, attr := range []string{"device/serial", "serial", "device/wwid"} {
		b, err := c.readFile(path.Join("/sys/block", name, attr))
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
			continue
		}
		if s := cleanSerial(string(b)); s != "" {
			return s, nil
		}
	}
	return "", errors.Join(errs...)
}

// cleanSerial trims a serial as read from udev or sysfs and folds each run of
// white space or control bytes (padding, gopsutil's "model\n_serial\n") into
// one space.
func cleanSerial(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
}
