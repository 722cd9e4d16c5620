package device

import (
	"context"
	"encoding/hex"
	"errors"
	"io/fs"
	"net"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"
	psnet "github.com/shirou/gopsutil/v3/net"

	"github.com/storefence/storefence/collector"
	"github.com/storefence/storefence/report"
)

// Raw ids of the fake machine. They are test values, not ids of any machine.
const (
	testMachineID   = "51df0b4bc3b04c9780e299b98ca373b8"
	testHostID      = "51df0b4b-c3b0-4c97-80e2-99b98ca373b8" // gopsutil's 8-4-4-4-12 form of it
	testProductUUID = "4C4C4544-0042-3510-8051-B4C04F4B4E32"
)

// linuxFS is a fake root of a Linux machine with systemd, DMI and four block
// devices, one of them a loop device.
func linuxFS() fstest.MapFS {
	return fstest.MapFS{
		"etc/machine-id":                 {Data: []byte(testMachineID + "\n")},
		"var/lib/dbus/machine-id":        {Data: []byte("00112233445566778899aabbccddeeff\n")},
		"sys/class/dmi/id/product_uuid":  {Data: []byte(testProductUUID + "\n")},
		"sys/devices/virtual/net/lo":     {Mode: fs.ModeDir},
		"sys/devices/virtual/net/ifb0":   {Mode: fs.ModeDir},
		"sys/devices/virtual/net/bond0":  {Mode: fs.ModeDir},
		"sys/block/loop0/size":           {Data: []byte("0\n")},
		"sys/block/sda/device/serial":    {Data: []byte("  unused: gopsutil answers  \n")},
		"sys/block/nvme0n1/device/wwid":  {Data: []byte("eui.0025388b71b0b2a5\n")},
		"sys/block/vda/serial":           {Data: []byte("overlayblk")},
		"sys/block/vdb/device/modalias":  {Data: []byte("virtio:d00000002v00001AF4\n")},
		"sys/block/sr0/device/serial":    {Data: []byte("QM00003\n")},
		"sys/block/zram0/size":           {Data: []byte("0\n")},
		"sys/block/dm-0/dm/name":         {Data: []byte("vg-root\n")},
		"sys/block/md127/md/level":       {Data: []byte("raid1\n")},
		"sys/block/nbd0/size":            {Data: []byte("0\n")},
		"sys/block/ram0/size":            {Data: []byte("0\n")},
		"sys/block/fd0/size":             {Data: []byte("0\n")},
		"proc/sys/kernel/random/boot_id": {Data: []byte("c0ffee00-0000-4000-8000-000000000001\n")},
	}
}

func interfacesFixture() psnet.InterfaceStatList {
	return psnet.InterfaceStatList{
		{Name: "lo", HardwareAddr: "", Flags: []string{"up", "loopback"}},
		{Name: "eth1", HardwareAddr: "A0:36:9F:12:34:56", Flags: []string{"up", "broadcast"}},
		{Name: "eth0", HardwareAddr: "52:54:00:12:34:56", Flags: []string{"up", "broadcast"}},
		{Name: "wlan0", HardwareAddr: "a0:36:9f:12:34:56", Flags: []string{"broadcast"}}, // same MAC as eth1: deduplicated in MACs
		{Name: "ifb0", HardwareAddr: "f6:0f:27:e3:2a:0e", Flags: []string{"broadcast"}},
		{Name: "bond0", HardwareAddr: "52:54:00:12:34:56", Flags: []string{"up"}}, // virtual per sysfs
		{Name: "docker0", HardwareAddr: "02:42:ac:11:00:02", Flags: []string{"up"}},
		{Name: "ib0", HardwareAddr: "80:00:02:08:fe:80:00:00:00:00:00:00:00:02:c9:03:00:0a:bc:de", Flags: []string{"up"}},
	}
}

// fakeCollector returns a Linux collector whose every seam reads fsys or
// fixed data, whatever OS the test runs on.
func fakeCollector(fsys fstest.MapFS) *Collector {
	c := New(zerolog.Nop())
	c.goos = "linux"
	c.hostID = func(context.Context) (string, error) { return testHostID, nil }
	c.platform = func(context.Context) (string, string, string, error) { return "debian", "debian", "12", nil }
	c.virtualization = func(context.Context) (string, string, error) { return "kvm", "guest", nil }
	c.hostname = func() (string, error) { return "shop-a-1", nil }
	c.interfaces = func(context.Context) (psnet.InterfaceStatList, error) { return interfacesFixture(), nil }
	c.readFile = func(name string) ([]byte, error) { return fs.ReadFile(fsys, strings.TrimPrefix(name, "/")) }
	c.readDir = func(name string) ([]fs.DirEntry, error) { return fs.ReadDir(fsys, strings.TrimPrefix(name, "/")) }
	c.exists = func(name string) bool { _, err := fs.Stat(fsys, strings.TrimPrefix(name, "/")); return err == nil }
	c.diskSerial = func(_ context.Context, dev string) (string, error) {
		switch dev {
		case "/dev/sda":
			return "Samsung_SSD_860_EVO_500GB_S3Z1NB0K123456", nil
		case "/dev/vda":
			return "", nil // virtio: udev has no ID_SERIAL
		}
		return "", &fs.PathError{Op: "stat", Path: dev, Err: fs.ErrNotExist}
	}
	c.machineID = c.linuxMachineID
	c.productUUID = c.linuxProductUUID
	c.diskSerials = c.linuxDiskSerials
	c.isVirtualNet = c.sysfsVirtualNet
	return c
}

func TestAppSpecificIDMatchesSystemd(t *testing.T) {
	// From systemd's src/test/test-id128.c:
	// systemd-id128 -a f03daaeb1c334b43a732172944bf772e show 51df0b4bc3b04c9780e299b98ca373b8
	var app [16]byte
	if _, err := hex.Decode(app[:], []byte("f03daaeb1c334b43a732172944bf772e")); err != nil {
		t.Fatal(err)
	}
	const want = "1dee5954e75c4d6fb96cc6c04ca18a86"
	if got := appSpecific("51df0b4bc3b04c9780e299b98ca373b8", app); got != want {
		t.Errorf("appSpecific(systemd vector) = %q, want %q", got, want)
	}
}

func TestAppSpecificID(t *testing.T) {
	// Vectors computed independently with Python's hmac module.
	tests := []struct {
		name string
		raw  string
		want string
	}{
		{"machine id", "51df0b4bc3b04c9780e299b98ca373b8", "87af4f5d6b0a4259ad3a2a430f7907f9"},
		{"gopsutil form", "51df0b4b-c3b0-4c97-80e2-99b98ca373b8", "87af4f5d6b0a4259ad3a2a430f7907f9"},
		{"windows guid", "{51DF0B4B-C3B0-4C97-80E2-99B98CA373B8}", "87af4f5d6b0a4259ad3a2a430f7907f9"},
		{"file line", "  51DF0B4BC3B04C9780E299B98CA373B8\n", "87af4f5d6b0a4259ad3a2a430f7907f9"},
		{"serial", "S3Z1NB0K123456", "51846efbdd094a1f9844db80057d3a46"},
		{"serial lowercase", " s3z1nb0k123456 ", "51846efbdd094a1f9844db80057d3a46"},
		{"empty", "", ""},
		{"only separators", " {-} ", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := AppSpecificID(tt.raw); got != tt.want {
				t.Errorf("AppSpecificID(%q) = %q, want %q", tt.raw, got, tt.want)
			}
		})
	}
	if AppSpecificID("51df0b4bc3b04c9780e299b98ca373b8") == AppSpecificID("51df0b4bc3b04c9780e299b98ca373b9") {
		t.Error("AppSpecificID gives equal ids for different raw ids")
	}
}

func TestAppIDConstant(t *testing.T) {
	if !isHex32(appID) {
		t.Fatalf("appID %q is not 32 lowercase hex digits", appID)
	}
}

func TestCanonicalID(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"51DF0B4B-C3B0-4C97-80E2-99B98CA373B8", "51df0b4bc3b04c9780e299b98ca373b8"},
		{"{51df0b4b-c3b0-4c97-80e2-99b98ca373b8}\r\n", "51df0b4bc3b04c9780e299b98ca373b8"},
		{"\x00 WD-WCC4N1234567 \x00", "wdwcc4n1234567"},
		{"Ünicode-ÉA", "ÜnicodeÉa"}, // only ASCII is folded
		{" - abc", "abc"},
	}
	for _, tt := range tests {
		if got := canonicalID(tt.in); got != tt.want {
			t.Errorf("canonicalID(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseID(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		want   string
		wantOK bool
	}{
		{"machine-id", testMachineID + "\n", testMachineID, true},
		{"uuid upper", testProductUUID + "\n", "4c4c4544004235108051b4c04f4b4e32", true},
		{"first line only", testMachineID + "\nsecond\n", testMachineID, true},
		{"empty", "", "", false},
		{"blank line", "\n", "", false},
		{"uninitialized", "uninitialized\n", "", false},
		{"short", "51df0b4bc3b04c97\n", "", false},
		{"long", testMachineID + "00\n", "", false},
		{"not hex", "51df0b4bc3b04c9780e299b98ca373bg\n", "", false},
		{"all zero", "00000000-0000-0000-0000-000000000000\n", "", false},
		{"all f", "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF\n", "", false},
		{"known bogus board", "03000200-0400-0500-0006-000700080009\n", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseID([]byte(tt.in))
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("parseID(%q) = %q, %t, want %q, %t", tt.in, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name     string
		iface    string
		mac      string
		loopback bool
		virtual  bool
		want     report.Interface
		wantSkip string
	}{
		{name: "real", iface: "eth0", mac: "A0:36:9F:12:34:56",
			want: report.Interface{Name: "eth0", MAC: "a0:36:9f:12:34:56"}},
		{name: "locally administered", iface: "eth0", mac: "02:fc:00:00:00:01",
			want: report.Interface{Name: "eth0", MAC: "02:fc:00:00:00:01", LocallyAdministered: true}},
		{name: "qemu", iface: "ens3", mac: "52:54:00:12:34:56",
			want: report.Interface{Name: "ens3", MAC: "52:54:00:12:34:56", LocallyAdministered: true}},
		{name: "hyphens", iface: "Ethernet", mac: "a0-36-9f-12-34-56",
			want: report.Interface{Name: "Ethernet", MAC: "a0:36:9f:12:34:56"}},
		{name: "macos en0", iface: "en0", mac: "3c:22:fb:01:02:03",
			want: report.Interface{Name: "en0", MAC: "3c:22:fb:01:02:03"}},
		{name: "loopback", iface: "lo", loopback: true, wantSkip: "loopback"},
		{name: "sysfs virtual", iface: "bond0", mac: "52:54:00:12:34:56", virtual: true, wantSkip: "virtual"},
		{name: "empty mac", iface: "eth2", mac: "", wantSkip: "no mac"},
		{name: "zero mac", iface: "eth3", mac: "00:00:00:00:00:00", wantSkip: "zero mac"},
		{name: "group mac", iface: "eth4", mac: "01:00:5e:00:00:01", wantSkip: "group mac"},
		{name: "broadcast mac", iface: "eth5", mac: "ff:ff:ff:ff:ff:ff", wantSkip: "group mac"},
		{name: "eui-64", iface: "fw0", mac: "00:0a:95:ff:fe:9d:68:16", wantSkip: "not a 48-bit mac"},
		{name: "infiniband", iface: "ib0", mac: "80:00:02:08:fe:80:00:00:00:00:00:00:00:02:c9:03:00:0a:bc:de", wantSkip: "not a 48-bit mac"},
		{name: "garbage", iface: "eth6", mac: "not-a-mac", wantSkip: "unparsable mac"},
		{name: "hyper-v switch", iface: "vEthernet (WSL)", mac: "00:15:5d:01:02:03", wantSkip: "virtual name"},
		{name: "awdl", iface: "awdl0", mac: "3e:22:fb:01:02:03", wantSkip: "virtual name"},
	}
	for _, p := range []string{
		"docker0", "veth1a2b3c", "br-0123456789ab", "virbr0", "vnet0", "tun0", "tap0", "utun3",
		"vmnet8", "vboxnet0", "ifb0", "wg0", "zt5u4abcde", "tailscale0", "dummy0", "cali0123456789a",
		"flannel.1", "cni0", "lxcbr0", "kube-ipvs0",
	} {
		tests = append(tests, struct {
			name     string
			iface    string
			mac      string
			loopback bool
			virtual  bool
			want     report.Interface
			wantSkip string
		}{name: p, iface: p, mac: "a0:36:9f:12:34:56", wantSkip: "virtual name"})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, skip := classify(tt.iface, tt.mac, tt.loopback, tt.virtual)
			if skip != tt.wantSkip {
				t.Errorf("classify(%q, %q) skip = %q, want %q", tt.iface, tt.mac, skip, tt.wantSkip)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("classify(%q, %q) mismatch (-want +got):\n%s", tt.iface, tt.mac, diff)
			}
		})
	}
}

func TestLocallyAdministered(t *testing.T) {
	tests := []struct {
		mac  string
		want bool
	}{
		{"a0:36:9f:12:34:56", false},
		{"02:fc:00:00:00:01", true},
		{"52:54:00:12:34:56", true},
		{"00:15:5d:01:02:03", false},
		{"fe:ff:ff:ff:ff:ff", true},
	}
	for _, tt := range tests {
		hw, err := net.ParseMAC(tt.mac)
		if err != nil {
			t.Fatal(err)
		}
		if got := LocallyAdministered(hw); got != tt.want {
			t.Errorf("LocallyAdministered(%s) = %t, want %t", tt.mac, got, tt.want)
		}
	}
	if LocallyAdministered(nil) {
		t.Error("LocallyAdministered(nil) = true")
	}
}

func TestSkipBlockDevice(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"sda", false}, {"nvme0n1", false}, {"vda", false}, {"xvda", false}, {"mmcblk0", false}, {"hda", false},
		{"loop0", true}, {"ram0", true}, {"zram0", true}, {"dm-0", true}, {"md127", true},
		{"sr0", true}, {"fd0", true}, {"nbd0", true}, {"", true}, {"..", true}, {"a/b", true},
	}
	for _, tt := range tests {
		if got := skipBlockDevice(tt.name); got != tt.want {
			t.Errorf("skipBlockDevice(%q) = %t, want %t", tt.name, got, tt.want)
		}
	}
}

func TestCleanSerial(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"   \n", ""},
		{"  S3Z1NB0K123456  \n", "S3Z1NB0K123456"},
		{"QEMU HARDDISK   \n_QM00001\n", "QEMU HARDDISK _QM00001"},
		{"abc\x00\x00", "abc"},
	}
	for _, tt := range tests {
		if got := cleanSerial(tt.in); got != tt.want {
			t.Errorf("cleanSerial(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestJoinVirtualization(t *testing.T) {
	tests := []struct{ system, role, want string }{
		{"kvm", "guest", "kvm/guest"},
		{"docker", "guest", "docker/guest"},
		{"kvm", "", "kvm"},
		{"", "guest", ""},
		{"", "", ""},
	}
	for _, tt := range tests {
		if got := joinVirtualization(tt.system, tt.role); got != tt.want {
			t.Errorf("joinVirtualization(%q, %q) = %q, want %q", tt.system, tt.role, got, tt.want)
		}
	}
}

func TestParseOSRelease(t *testing.T) {
	tests := []struct {
		name, in      string
		id, versionID string
	}{
		{"debian", "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nID=debian\n", "debian", "12"},
		{"ubuntu", "NAME=\"Ubuntu\"\nVERSION_ID=\"24.04\"\nID=ubuntu\nID_LIKE=debian\n", "ubuntu", "24.04"},
		{"single quotes", "ID='rhel'\nVERSION_ID='9.4'\n", "rhel", "9.4"},
		{"escapes", "ID=\"a\\\"b\"\n", "a\"b", ""},
		{"no version (arch)", "NAME=\"Arch Linux\"\nID=arch\nBUILD_ID=rolling\n", "arch", ""},
		{"comments and blanks", "# ID=fake\n\n  ID=alpine  \nVERSION_ID=3.20.1\n", "alpine", "3.20.1"},
		{"empty", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, v, err := parseOSRelease(strings.NewReader(tt.in))
			if err != nil || id != tt.id || v != tt.versionID {
				t.Errorf("parseOSRelease(%q) = %q, %q, %v, want %q, %q", tt.in, id, v, err, tt.id, tt.versionID)
			}
		})
	}
}

func TestOSReleasePlatform(t *testing.T) {
	tests := []struct {
		name              string
		fsys              fstest.MapFS
		platform, version string
		ok                bool
	}{
		{"etc", fstest.MapFS{"etc/os-release": {Data: []byte("ID=debian\nVERSION_ID=\"12\"\n")}}, "debian", "12", true},
		{"usr/lib", fstest.MapFS{"usr/lib/os-release": {Data: []byte("ID=fedora\nVERSION_ID=40\n")}}, "fedora", "40", true},
		{"no id", fstest.MapFS{"etc/os-release": {Data: []byte("NAME=x\n")}}, "", "", false},
		{"none", fstest.MapFS{}, "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, v, ok := fakeCollector(tt.fsys).osReleasePlatform()
			if p != tt.platform || v != tt.version || ok != tt.ok {
				t.Errorf("osReleasePlatform() = %q, %q, %t, want %q, %q, %t", p, v, ok, tt.platform, tt.version, tt.ok)
			}
		})
	}
}

func TestCollectLinux(t *testing.T) {
	c := fakeCollector(linuxFS())
	var r report.Report
	if err := c.Collect(context.Background(), &r); err != nil {
		t.Fatalf("Collect: %v", err)
	}
	want := &report.Device{
		HostID:         AppSpecificID(testMachineID),
		MachineID:      AppSpecificID(testMachineID),
		ProductUUID:    AppSpecificID(testProductUUID),
		Hostname:       "shop-a-1",
		OS:             "linux",
		Platform:       "debian 12",
		Virtualization: "kvm/guest",
		MACs:           []string{"52:54:00:12:34:56", "a0:36:9f:12:34:56"},
		Interfaces: []report.Interface{
			{Name: "eth0", MAC: "52:54:00:12:34:56", LocallyAdministered: true},
			{Name: "eth1", MAC: "a0:36:9f:12:34:56"},
			{Name: "wlan0", MAC: "a0:36:9f:12:34:56"},
		},
		DiskSerials: hashAll([]string{
			"Samsung_SSD_860_EVO_500GB_S3Z1NB0K123456", // sda, from gopsutil
			"eui.0025388b71b0b2a5",                     // nvme0n1, from the wwid
			"overlayblk",                               // vda, from virtio's serial
		}),
	}
	if diff := cmp.Diff(want, r.Device); diff != "" {
		t.Errorf("Collect mismatch (-want +got):\n%s", diff)
	}
	if len(r.Device.DiskSerials) != 3 {
		t.Errorf("got %d disk serials, want 3", len(r.Device.DiskSerials))
	}
	if r.Device.HostID != "87af4f5d6b0a4259ad3a2a430f7907f9" {
		t.Errorf("HostID = %q, want the fixed test vector", r.Device.HostID)
	}
}

func TestCollectDegraded(t *testing.T) {
	permission := func(name string) error { return &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission} }
	tests := []struct {
		name    string
		fsys    fstest.MapFS
		setup   func(c *Collector)
		check   func(t *testing.T, d *report.Device)
		wantErr []string // substrings of the error; nil: no error
	}{
		{
			name: "container without dmi and machine-id",
			fsys: fstest.MapFS{"sys/block/vda/serial": {Data: []byte("overlayblk")}},
			setup: func(c *Collector) {
				c.hostID = func(context.Context) (string, error) { return "c0ffee00-0000-4000-8000-000000000001", nil } // boot_id
				c.virtualization = func(context.Context) (string, string, error) { return "docker", "guest", nil }
			},
			check: func(t *testing.T, d *report.Device) {
				if d.MachineID != "" || d.ProductUUID != "" {
					t.Errorf("MachineID, ProductUUID = %q, %q, want empty", d.MachineID, d.ProductUUID)
				}
				if d.HostID != AppSpecificID("c0ffee00000040008000000000000001") {
					t.Errorf("HostID = %q, want the hash of the boot id", d.HostID)
				}
				if d.Virtualization != "docker/guest" || len(d.DiskSerials) != 1 {
					t.Errorf("Virtualization, DiskSerials = %q, %q", d.Virtualization, d.DiskSerials)
				}
			},
		},
		{
			name: "machine-id uninitialized falls back to dbus",
			fsys: fstest.MapFS{
				"etc/machine-id":          {Data: []byte("uninitialized\n")},
				"var/lib/dbus/machine-id": {Data: []byte(testMachineID + "\n")},
				"sys/block":               {Mode: fs.ModeDir},
			},
			check: func(t *testing.T, d *report.Device) {
				if d.MachineID != AppSpecificID(testMachineID) {
					t.Errorf("MachineID = %q, want the dbus machine id's", d.MachineID)
				}
			},
		},
		{
			name: "bogus product uuid and host id dropped",
			fsys: fstest.MapFS{
				"sys/class/dmi/id/product_uuid": {Data: []byte("03000200-0400-0500-0006-000700080009\n")},
				"sys/block":                     {Mode: fs.ModeDir},
			},
			setup: func(c *Collector) {
				c.hostID = func(context.Context) (string, error) { return "03000200-0400-0500-0006-000700080009", nil }
			},
			check: func(t *testing.T, d *report.Device) {
				if d.ProductUUID != "" || d.HostID != "" {
					t.Errorf("ProductUUID, HostID = %q, %q, want empty", d.ProductUUID, d.HostID)
				}
			},
		},
		{
			name: "product uuid not readable by non-root",
			fsys: linuxFS(),
			setup: func(c *Collector) {
				read := c.readFile
				c.readFile = func(name string) ([]byte, error) {
					if name == "/sys/class/dmi/id/product_uuid" {
						return nil, permission(name)
					}
					return read(name)
				}
			},
			check: func(t *testing.T, d *report.Device) {
				if d.ProductUUID != "" || d.MachineID == "" {
					t.Errorf("ProductUUID, MachineID = %q, %q", d.ProductUUID, d.MachineID)
				}
			},
		},
		{
			name: "disk serials unreadable",
			fsys: linuxFS(),
			setup: func(c *Collector) {
				c.readDir = func(name string) ([]fs.DirEntry, error) { return nil, permission(name) }
			},
			check: func(t *testing.T, d *report.Device) {
				if d.DiskSerials != nil || d.MachineID == "" || len(d.MACs) != 2 {
					t.Errorf("DiskSerials, MachineID, MACs = %q, %q, %q", d.DiskSerials, d.MachineID, d.MACs)
				}
			},
			wantErr: []string{"device: disk serials: open /sys/block: permission denied"},
		},
		{
			name: "one disk's serial unreadable",
			fsys: linuxFS(),
			setup: func(c *Collector) {
				read := c.readFile
				c.readFile = func(name string) ([]byte, error) {
					if name == "/sys/block/vda/serial" {
						return nil, permission(name)
					}
					return read(name)
				}
			},
			check: func(t *testing.T, d *report.Device) {
				if len(d.DiskSerials) != 2 {
					t.Errorf("got %d disk serials, want 2", len(d.DiskSerials))
				}
			},
			wantErr: []string{"device: disk serials: vda: open /sys/block/vda/serial: permission denied"},
		},
		{
			name: "several failures joined",
			fsys: linuxFS(),
			setup: func(c *Collector) {
				c.hostID = func(context.Context) (string, error) { return "", errors.New("boom") }
				c.interfaces = func(context.Context) (psnet.InterfaceStatList, error) { return nil, errors.New("netlink: bang") }
				c.platform = func(context.Context) (string, string, string, error) { return "", "", "", errors.New("no os-release") }
			},
			check: func(t *testing.T, d *report.Device) {
				if d.HostID != "" || d.MACs != nil || d.Platform != "" || d.MachineID == "" || d.Hostname != "shop-a-1" {
					t.Errorf("got %+v", d)
				}
			},
			wantErr: []string{"device: host id: boom", "device: interfaces: netlink: bang", "device: platform: no os-release"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fakeCollector(tt.fsys)
			if tt.setup != nil {
				tt.setup(c)
			}
			var r report.Report
			err := c.Collect(context.Background(), &r)
			if r.Device == nil {
				t.Fatalf("Collect left r.Device nil, err %v", err)
			}
			tt.check(t, r.Device)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Errorf("Collect: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Collect returned no error, want %q", tt.wantErr)
			}
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("Collect error %q does not contain %q", err, s)
				}
			}
			if errors.Is(err, collector.ErrUnsupported) {
				t.Errorf("partial failure %q wraps ErrUnsupported", err)
			}
			if !errors.Is(err, fs.ErrPermission) && strings.Contains(err.Error(), "permission") {
				t.Errorf("error %q does not wrap fs.ErrPermission", err)
			}
		})
	}
}

func TestCollectNothing(t *testing.T) {
	c := fakeCollector(fstest.MapFS{})
	c.hostID = func(context.Context) (string, error) { return "", nil }
	c.hostname = func() (string, error) { return "", errors.New("no hostname") }
	c.platform = func(context.Context) (string, string, string, error) { return "", "", "", nil }
	c.virtualization = func(context.Context) (string, string, error) { return "", "", nil }
	c.interfaces = func(context.Context) (psnet.InterfaceStatList, error) { return nil, nil }
	c.diskSerials = noSerials
	var r report.Report
	err := c.Collect(context.Background(), &r)
	if !errors.Is(err, collector.ErrUnsupported) {
		t.Errorf("Collect error = %v, want one wrapping collector.ErrUnsupported", err)
	}
	if err == nil || !strings.Contains(err.Error(), "device: hostname: no hostname") {
		t.Errorf("Collect error = %v, want it to carry the hostname failure", err)
	}
	if r.Device != nil {
		t.Errorf("r.Device = %+v, want nil", r.Device)
	}
}

func noSerials(context.Context) ([]string, error) { return nil, nil }

func TestCollectCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c := fakeCollector(linuxFS())
	var r report.Report
	if err := c.Collect(ctx, &r); !errors.Is(err, context.Canceled) {
		t.Errorf("Collect error = %v, want context.Canceled", err)
	}
	if r.Device != nil {
		t.Errorf("r.Device = %+v, want nil", r.Device)
	}
}

func TestSysfsVirtualNet(t *testing.T) {
	c := fakeCollector(linuxFS())
	for name, want := range map[string]bool{"lo": true, "ifb0": true, "eth0": false, "": true, "..": true, "a/b": true} {
		if got := c.sysfsVirtualNet(name); got != want {
			t.Errorf("sysfsVirtualNet(%q) = %t, want %t", name, got, want)
		}
	}
}

func TestName(t *testing.T) {
	var _ collector.Collector = (*Collector)(nil)
	if got := New(zerolog.Nop()).Name(); got != "device" {
		t.Errorf("Name() = %q, want device", got)
	}
}

func FuzzCanonicalID(f *testing.F) {
	for _, s := range []string{"", testMachineID, testHostID, "{" + testProductUUID + "}\r\n", " - x", "\x00\xff-A", "uninitialized"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		canon := canonicalID(raw)
		if again := canonicalID(canon); again != canon {
			t.Fatalf("canonicalID not idempotent: %q -> %q -> %q", raw, canon, again)
		}
		if strings.ContainsAny(canon, "-{}ABCDEFGHIJKLMNOPQRSTUVWXYZ") {
			t.Fatalf("canonicalID(%q) = %q keeps a separator or upper case letter", raw, canon)
		}
		id := AppSpecificID(raw)
		if (id == "") != (canon == "") {
			t.Fatalf("AppSpecificID(%q) = %q for canonical form %q", raw, id, canon)
		}
		if id != "" {
			if !isHex32(id) || id[12] != '4' || !strings.ContainsRune("89ab", rune(id[16])) {
				t.Fatalf("AppSpecificID(%q) = %q, not a v4 variant-1 id in 32 hex digits", raw, id)
			}
			upper := []byte(canon)
			for i, ch := range upper {
				if 'a' <= ch && ch <= 'z' {
					upper[i] = ch - 'a' + 'A'
				}
			}
			if AppSpecificID(canon) != id || AppSpecificID(" {"+string(upper)+"}\n") != id {
				t.Fatalf("AppSpecificID differs between equivalent forms of %q", raw)
			}
		}
	})
}

func FuzzParseID(f *testing.F) {
	for _, s := range []string{testMachineID + "\n", testProductUUID, "uninitialized\n", "", "\n\n", "03000200-0400-0500-0006-000700080009"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		id, ok := parseID(b)
		if ok != (id != "") {
			t.Fatalf("parseID(%q) = %q, %t", b, id, ok)
		}
		if ok && (!isHex32(id) || placeholderID(id)) {
			t.Fatalf("parseID(%q) = %q, not a valid 128-bit id", b, id)
		}
	})
}

func FuzzClassify(f *testing.F) {
	for _, tt := range interfacesFixture() {
		f.Add(tt.Name, tt.HardwareAddr, false)
	}
	f.Add("eth0", "a0-36-9f-12-34-56", true)
	f.Add("en0", "a036.9f12.3456", false)
	f.Fuzz(func(t *testing.T, name, mac string, virtual bool) {
		iface, skip := classify(name, mac, false, virtual)
		if skip != "" {
			if iface != (report.Interface{}) {
				t.Fatalf("classify(%q, %q) skipped (%s) but returned %+v", name, mac, skip, iface)
			}
			return
		}
		hw, err := net.ParseMAC(iface.MAC)
		if err != nil || len(hw) != 6 || hw.String() != iface.MAC || iface.Name != name {
			t.Fatalf("classify(%q, %q) = %+v, not a normalised 48-bit MAC", name, mac, iface)
		}
		if iface.LocallyAdministered != LocallyAdministered(hw) || virtual {
			t.Fatalf("classify(%q, %q, virtual %t) = %+v", name, mac, virtual, iface)
		}
	})
}

func FuzzCleanSerial(f *testing.F) {
	for _, s := range []string{"", "QEMU HARDDISK   \n_QM00001\n", " S3Z1NB0K123456 ", "abc\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := cleanSerial(s)
		if cleanSerial(got) != got || strings.TrimSpace(got) != got || strings.Contains(got, "  ") || strings.ContainsRune(got, 0) {
			t.Fatalf("cleanSerial(%q) = %q, not clean", s, got)
		}
	})
}

func FuzzParseOSRelease(f *testing.F) {
	for _, s := range []string{"ID=debian\nVERSION_ID=\"12\"\n", "ID='x'\n", "ID=\"a\\\"b\"\n", "ID=\"\n", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		id, v, err := parseOSRelease(strings.NewReader(string(in)))
		if err == nil && (strings.ContainsRune(id, '\n') || strings.ContainsRune(v, '\n')) {
			t.Fatalf("parseOSRelease(%q) = %q, %q", in, id, v)
		}
	})
}

func BenchmarkCollect(b *testing.B) {
	c := New(zerolog.Nop())
	ctx := context.Background()
	for b.Loop() {
		var r report.Report
		_ = c.Collect(ctx, &r) // this machine may lack some facts; the cost is what is measured
	}
}
