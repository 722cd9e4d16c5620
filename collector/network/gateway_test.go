package network

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// cmpAddr compares netip.Addr values, whose fields are unexported.
var cmpAddr = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

func testdata(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

// addSeeds adds every testdata file whose name starts with prefix to f's
// corpus.
func addSeeds(f *testing.F, prefix string) {
	f.Helper()
	names, err := filepath.Glob(filepath.Join("testdata", prefix+"*"))
	if err != nil || len(names) == 0 {
		f.Fatalf("no seeds for %s: %v", prefix, err)
	}
	for _, name := range names {
		f.Add(testdata(f, filepath.Base(name)))
	}
	f.Add([]byte{})
}

type routeTest struct {
	name    string
	in      string // file under testdata, or the input itself when it starts with "inline:"
	want    route
	wantErr error
}

func (tt routeTest) input(tb testing.TB) io.Reader {
	if s, ok := strings.CutPrefix(tt.in, "inline:"); ok {
		return strings.NewReader(s)
	}
	return bytes.NewReader(testdata(tb, tt.in))
}

func runRouteTests(t *testing.T, parse func(io.Reader) (route, error), tests []routeTest) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse(tt.input(t))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got, cmpAddr); diff != "" {
				t.Errorf("route of %s mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestParseRoute(t *testing.T) {
	runRouteTests(t, parseRoute, []routeTest{
		{name: "single", in: "route_single", want: route{Gateway: addr("192.0.2.1"), Iface: "eth0"}},
		{name: "multiple: lowest metric, first on a tie, up and gateway flags", in: "route_multiple",
			want: route{Gateway: addr("10.0.0.1"), Iface: "eth0", Metric: 100}},
		{name: "no default route", in: "route_none", wantErr: errNoDefaultRoute},
		{name: "header only", in: "route_header_only", wantErr: errNoDefaultRoute},
		{name: "empty", in: "inline:", wantErr: errNoDefaultRoute},
		{name: "malformed lines skipped", in: "route_malformed", want: route{Gateway: addr("192.168.1.2"), Iface: "eth1", Metric: 200}},
		{name: "no header", in: "inline:eth0\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n",
			want: route{Gateway: addr("192.168.1.1"), Iface: "eth0"}},
		{name: "gateway 0.0.0.0", in: "inline:eth0\t00000000\t00000000\t0003\t0\t0\t0\t00000000\t0\t0\t0\n", wantErr: errNoDefaultRoute},
		{name: "non-zero mask", in: "inline:eth0\t00000000\t0101A8C0\t0003\t0\t0\t0\t000000FF\t0\t0\t0\n", wantErr: errNoDefaultRoute},
	})
}

func TestParseIPv6Route(t *testing.T) {
	runRouteTests(t, parseIPv6Route, []routeTest{
		{name: "container", in: "ipv6_route_container", want: route{Gateway: addr("fd00::1"), Iface: "eth0", Metric: 1024}},
		{name: "multiple: lowest metric", in: "ipv6_route_multiple",
			want: route{Gateway: addr("fe80::a2b1:c2ff:fed3:e4f5"), Iface: "eth0", Metric: 100}},
		{name: "no default route", in: "ipv6_route_none", wantErr: errNoDefaultRoute},
		{name: "empty", in: "inline:", wantErr: errNoDefaultRoute},
		{name: "malformed lines skipped", in: "ipv6_route_malformed", want: route{Gateway: addr("fe80::1"), Iface: "eth1", Metric: 1024}},
	})
}

func TestParseDarwinRoute(t *testing.T) {
	runRouteTests(t, parseDarwinRoute, []routeTest{
		{name: "gateway", in: "darwin_route_get_default", want: route{Gateway: addr("192.168.1.1"), Iface: "en0"}},
		{name: "interface only (VPN)", in: "darwin_route_get_default_utun", wantErr: errNoDefaultRoute},
		{name: "link gateway", in: "darwin_route_get_default_link", wantErr: errNoDefaultRoute},
		{name: "ipv6 with zone", in: "inline:    gateway: fe80::1%en0\n  interface: en0\n", want: route{Gateway: addr("fe80::1"), Iface: "en0"}},
		{name: "empty", in: "inline:", wantErr: errNoDefaultRoute},
	})
}

func TestParseWindowsRoute(t *testing.T) {
	runRouteTests(t, parseWindowsRoute, []routeTest{
		{name: "two active routes, persistent ignored", in: "windows_route_print",
			want: route{Gateway: addr("10.0.0.1"), Iface: "10.0.0.23", Metric: 25}},
		{name: "german", in: "windows_route_print_de", want: route{Gateway: addr("192.168.178.1"), Iface: "192.168.178.20", Metric: 25}},
		{name: "on-link only", in: "windows_route_print_onlink", wantErr: errNoDefaultRoute},
		{name: "empty", in: "inline:", wantErr: errNoDefaultRoute},
	})
}

type arpTest struct {
	name string
	in   string // as in routeTest
	want []arpEntry
}

func runARPTests(t *testing.T, parse func(io.Reader) ([]arpEntry, error), tests []arpTest) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse(routeTest{in: tt.in}.input(t))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmpAddr, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("entries of %s mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestParseARP(t *testing.T) {
	runARPTests(t, parseARP, []arpTest{
		{name: "single", in: "arp_single", want: []arpEntry{{IP: addr("192.0.2.1"), MAC: "02:fc:00:00:00:05", Dev: "eth0"}}},
		{name: "multiple", in: "arp_multiple", want: []arpEntry{
			{IP: addr("192.168.1.1"), MAC: "a0:b1:c2:d3:e4:f5", Dev: "wlan0"},
			{IP: addr("192.168.1.1"), MAC: "00:11:22:33:44:55", Dev: "eth0"},
			{IP: addr("192.168.1.24"), MAC: "3c:22:fb:01:02:03", Dev: "wlan0"},
			{IP: addr("172.17.0.2"), MAC: "02:42:ac:11:00:02", Dev: "docker0"},
		}},
		{name: "incomplete entries", in: "arp_incomplete"},
		{name: "header only", in: "arp_header_only"},
		{name: "empty", in: "inline:"},
		{name: "malformed lines skipped", in: "arp_malformed", want: []arpEntry{{IP: addr("192.168.1.6"), MAC: "a0:b1:c2:d3:e4:f6", Dev: "eth0"}}},
	})
}

func TestParseDarwinARP(t *testing.T) {
	runARPTests(t, parseDarwinARP, []arpTest{
		{name: "unpadded", in: "darwin_arp", want: []arpEntry{{IP: addr("192.168.1.1"), MAC: "00:1a:2b:3c:4d:5e", Dev: "en0"}}},
		{name: "two interfaces", in: "darwin_arp_two", want: []arpEntry{
			{IP: addr("192.168.1.1"), MAC: "a0:b1:c2:d3:e4:f5", Dev: "en7"},
			{IP: addr("192.168.1.1"), MAC: "00:1a:2b:3c:4d:5e", Dev: "en0"},
		}},
		{name: "incomplete", in: "darwin_arp_incomplete"},
		{name: "no entry", in: "darwin_arp_noentry"},
		{name: "no interface", in: "inline:? (10.0.0.1) at 0:1:2:3:4:5\n", want: []arpEntry{{IP: addr("10.0.0.1"), MAC: "00:01:02:03:04:05"}}},
	})
}

func TestParseWindowsARP(t *testing.T) {
	runARPTests(t, parseWindowsARP, []arpTest{
		{name: "single", in: "windows_arp", want: []arpEntry{{IP: addr("192.168.1.1"), MAC: "a0:b1:c2:d3:e4:f5", Dev: "192.168.1.100"}}},
		{name: "two interfaces", in: "windows_arp_two", want: []arpEntry{
			{IP: addr("10.0.0.1"), MAC: "a0:b1:c2:d3:e4:f5", Dev: "192.168.1.100"},
			{IP: addr("10.0.0.1"), MAC: "00:11:22:33:44:55", Dev: "10.0.0.23"},
			{IP: addr("10.0.0.255"), MAC: "ff:ff:ff:ff:ff:ff", Dev: "10.0.0.23"},
		}},
		{name: "german", in: "windows_arp_de", want: []arpEntry{{IP: addr("192.168.178.1"), MAC: "e0:28:6d:01:02:03", Dev: "192.168.178.20"}}},
		{name: "none", in: "windows_arp_none"},
	})
}

func TestParseMAC(t *testing.T) {
	tests := []struct {
		in     string
		want   string
		wantOK bool
	}{
		{"a0:b1:c2:d3:e4:f5", "a0:b1:c2:d3:e4:f5", true},
		{"A0:B1:C2:D3:E4:F5", "a0:b1:c2:d3:e4:f5", true},
		{"a0-b1-c2-d3-e4-f5", "a0:b1:c2:d3:e4:f5", true},
		{"0:1a:2b:3:4:5", "00:1a:2b:03:04:05", true},
		{"00:00:00:00:00:00", "", false},
		{"0-0-0-0-0-0", "", false},
		{"(incomplete)", "", false},
		{"a0:b1:c2:d3:e4", "", false},
		{"a0:b1:c2:d3:e4:f5:00:01", "", false},
		{"a0:b1:c2:d3:e4:f5g", "", false},
		{"a0:b1:c2:d3:e4:", "", false},
		{"a0:b1:c2:d3:e4:+f", "", false},
		{"a0:b1-c2:d3:e4:f5", "", false},
		{"a00:b1:c2:d3:e4:f5", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := parseMAC(tt.in)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("parseMAC(%q) = %q, %t, want %q, %t", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestLookupARP(t *testing.T) {
	entries := []arpEntry{
		{IP: addr("192.168.1.1"), MAC: "a0:b1:c2:d3:e4:f5", Dev: "wlan0"},
		{IP: addr("192.168.1.1"), MAC: "00:11:22:33:44:55", Dev: "eth0"},
		{IP: addr("10.0.0.1"), MAC: "00:1a:2b:3c:4d:5e"},
	}
	tests := []struct {
		ip, dev string
		want    string
		wantOK  bool
	}{
		{"192.168.1.1", "eth0", "00:11:22:33:44:55", true},
		{"192.168.1.1", "wlan0", "a0:b1:c2:d3:e4:f5", true},
		{"192.168.1.1", "", "a0:b1:c2:d3:e4:f5", true},
		{"192.168.1.1", "eth1", "", false},
		{"10.0.0.1", "en0", "00:1a:2b:3c:4d:5e", true}, // entry without interface
		{"10.0.0.2", "", "", false},
	}
	for _, tt := range tests {
		got, ok := lookupARP(entries, addr(tt.ip), tt.dev)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("lookupARP(%s, %q) = %q, %t, want %q, %t", tt.ip, tt.dev, got, ok, tt.want, tt.wantOK)
		}
	}
}

// procFiles maps /proc/net files to testdata files.
func procFiles(route, ipv6Route, arp string) map[string]string {
	m := map[string]string{}
	for name, file := range map[string]string{"/proc/net/route": route, "/proc/net/ipv6_route": ipv6Route, "/proc/net/arp": arp} {
		switch {
		case strings.HasPrefix(file, "inline:"):
			m[name] = file
		case file != "":
			m[name] = "testdata/" + file
		}
	}
	return m
}

func TestLinuxGateway(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		want    gateway
		wantErr string
	}{
		{name: "container", files: procFiles("route_single", "ipv6_route_container", "arp_single"),
			want: gateway{IP: addr("192.0.2.1"), MAC: "02:fc:00:00:00:05"}},
		{name: "arp on the route's interface", files: procFiles("inline:eth0\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n", "", "arp_multiple"),
			want: gateway{IP: addr("192.168.1.1"), MAC: "00:11:22:33:44:55"}},
		{name: "incomplete arp entry", files: procFiles("inline:eth0\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n", "", "arp_incomplete"),
			want: gateway{IP: addr("192.168.1.1")}, wantErr: "mac of 192.168.1.1 on eth0: no complete arp entry"},
		{name: "arp unreadable", files: procFiles("route_single", "", ""),
			want: gateway{IP: addr("192.0.2.1")}, wantErr: "mac of 192.0.2.1: open /proc/net/arp"},
		{name: "ipv6 only", files: procFiles("route_none", "ipv6_route_container", "arp_header_only"),
			want: gateway{IP: addr("fd00::1")}, wantErr: "mac of ipv6 gateway fd00::1 on eth0: ipv6 neighbours are not read"},
		{name: "no default route", files: procFiles("route_none", "ipv6_route_none", "arp_header_only"),
			wantErr: "/proc/net/route: no default route"},
		{name: "no procfs", files: procFiles("", "", ""), wantErr: "open /proc/net/route"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fakeCollector(fakeOS{files: tt.files})
			got, err := c.linuxGateway(context.Background())
			if diff := cmp.Diff(tt.want, got, cmpAddr); diff != "" {
				t.Errorf("linuxGateway mismatch (-want +got):\n%s", diff)
			}
			checkErr(t, err, tt.wantErr)
		})
	}
}

func TestCommandGateways(t *testing.T) {
	type call struct {
		name string
		args []string
	}
	darwin := map[string]string{
		"/sbin/route -n get default":   "darwin_route_get_default",
		"/usr/sbin/arp -n 192.168.1.1": "darwin_arp_two",
	}
	windows := map[string]string{
		"route print -4 0.0.0.0": "windows_route_print",
		"arp -a 10.0.0.1":        "windows_arp_two",
	}
	tests := []struct {
		name      string
		gateway   func(*Collector) func(context.Context) (gateway, error)
		outputs   map[string]string // command line → testdata file; absent: the command fails
		want      gateway
		wantCalls int
		wantErr   string
	}{
		{name: "darwin", gateway: func(c *Collector) func(context.Context) (gateway, error) { return c.darwinGateway },
			outputs: darwin, want: gateway{IP: addr("192.168.1.1"), MAC: "00:1a:2b:3c:4d:5e"}, wantCalls: 2},
		{name: "darwin incomplete", gateway: func(c *Collector) func(context.Context) (gateway, error) { return c.darwinGateway },
			outputs: map[string]string{"/sbin/route -n get default": "darwin_route_get_default", "/usr/sbin/arp -n 192.168.1.1": "darwin_arp_incomplete"},
			want:    gateway{IP: addr("192.168.1.1")}, wantCalls: 2, wantErr: "mac of 192.168.1.1 on en0: no arp entry"},
		{name: "darwin vpn", gateway: func(c *Collector) func(context.Context) (gateway, error) { return c.darwinGateway },
			outputs:   map[string]string{"/sbin/route -n get default": "darwin_route_get_default_utun"},
			wantCalls: 1, wantErr: "/sbin/route -n get default: no default route"},
		{name: "darwin route fails", gateway: func(c *Collector) func(context.Context) (gateway, error) { return c.darwinGateway },
			outputs: map[string]string{}, wantCalls: 1, wantErr: "route: writing to routing socket: not in table"},
		{name: "windows", gateway: func(c *Collector) func(context.Context) (gateway, error) { return c.windowsGateway },
			outputs: windows, want: gateway{IP: addr("10.0.0.1"), MAC: "00:11:22:33:44:55"}, wantCalls: 2},
		{name: "windows arp fails", gateway: func(c *Collector) func(context.Context) (gateway, error) { return c.windowsGateway },
			outputs: map[string]string{"route print -4 0.0.0.0": "windows_route_print"},
			want:    gateway{IP: addr("10.0.0.1")}, wantCalls: 2, wantErr: "mac of 10.0.0.1: route: writing to routing socket: not in table"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fakeCollector(fakeOS{})
			var calls []call
			c.run = func(_ context.Context, name string, args ...string) ([]byte, error) {
				calls = append(calls, call{name, args})
				file, ok := tt.outputs[strings.Join(append([]string{name}, args...), " ")]
				if !ok {
					return nil, errors.New("route: writing to routing socket: not in table")
				}
				return testdata(t, file), nil
			}
			got, err := tt.gateway(c)(context.Background())
			if diff := cmp.Diff(tt.want, got, cmpAddr); diff != "" {
				t.Errorf("gateway mismatch (-want +got):\n%s", diff)
			}
			if len(calls) != tt.wantCalls {
				t.Errorf("ran %d commands %v, want %d", len(calls), calls, tt.wantCalls)
			}
			checkErr(t, err, tt.wantErr)
		})
	}
}

// checkErr fails t unless err contains want, or is nil when want is "".
func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("error = %v, want none", err)
	case want != "" && err == nil:
		t.Errorf("no error, want %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Errorf("error = %q, want it to contain %q", err, want)
	}
}

// checkRoute fails t if a parser returned an impossible route.
func checkRoute(t *testing.T, in []byte, rt route, err error) {
	t.Helper()
	if err != nil {
		if rt != (route{}) {
			t.Fatalf("parse(%q) = %+v with error %v", in, rt, err)
		}
		return
	}
	if !rt.Gateway.IsValid() || rt.Gateway.IsUnspecified() {
		t.Fatalf("parse(%q) = %+v, without a gateway", in, rt)
	}
}

// checkEntries fails t if a parser returned an impossible ARP entry.
func checkEntries(t *testing.T, in []byte, entries []arpEntry) {
	t.Helper()
	for _, e := range entries {
		if mac, ok := parseMAC(e.MAC); !ok || mac != e.MAC || !e.IP.IsValid() {
			t.Fatalf("parse(%q) gave entry %+v", in, e)
		}
	}
}

func FuzzParseRoute(f *testing.F) {
	addSeeds(f, "route_")
	f.Fuzz(func(t *testing.T, in []byte) {
		rt, err := parseRoute(bytes.NewReader(in))
		checkRoute(t, in, rt, err)
		if err == nil && !rt.Gateway.Is4() {
			t.Fatalf("parseRoute(%q) = %+v, not IPv4", in, rt)
		}
	})
}

func FuzzParseIPv6Route(f *testing.F) {
	addSeeds(f, "ipv6_route_")
	f.Fuzz(func(t *testing.T, in []byte) {
		rt, err := parseIPv6Route(bytes.NewReader(in))
		checkRoute(t, in, rt, err)
	})
}

func FuzzParseARP(f *testing.F) {
	addSeeds(f, "arp_")
	f.Fuzz(func(t *testing.T, in []byte) {
		entries, _ := parseARP(bytes.NewReader(in))
		checkEntries(t, in, entries)
	})
}

func FuzzParseDarwinRoute(f *testing.F) {
	addSeeds(f, "darwin_route_")
	f.Fuzz(func(t *testing.T, in []byte) {
		rt, err := parseDarwinRoute(bytes.NewReader(in))
		checkRoute(t, in, rt, err)
	})
}

func FuzzParseDarwinARP(f *testing.F) {
	addSeeds(f, "darwin_arp")
	f.Fuzz(func(t *testing.T, in []byte) {
		entries, _ := parseDarwinARP(bytes.NewReader(in))
		checkEntries(t, in, entries)
	})
}

func FuzzParseWindowsRoute(f *testing.F) {
	addSeeds(f, "windows_route_")
	f.Fuzz(func(t *testing.T, in []byte) {
		rt, err := parseWindowsRoute(bytes.NewReader(in))
		checkRoute(t, in, rt, err)
		if err == nil && (!rt.Gateway.Is4() || rt.Iface == "") {
			t.Fatalf("parseWindowsRoute(%q) = %+v", in, rt)
		}
	})
}

func FuzzParseWindowsARP(f *testing.F) {
	addSeeds(f, "windows_arp")
	f.Fuzz(func(t *testing.T, in []byte) {
		entries, _ := parseWindowsARP(bytes.NewReader(in))
		checkEntries(t, in, entries)
	})
}

func FuzzParseMAC(f *testing.F) {
	for _, s := range []string{"a0:b1:c2:d3:e4:f5", "0:1a:2b:3:4:5", "a0-b1-c2-d3-e4-f5", "00:00:00:00:00:00", "(incomplete)", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		mac, ok := parseMAC(s)
		if !ok {
			if mac != "" {
				t.Fatalf("parseMAC(%q) = %q, false", s, mac)
			}
			return
		}
		if len(mac) != 17 || strings.ToLower(mac) != mac || mac == "00:00:00:00:00:00" {
			t.Fatalf("parseMAC(%q) = %q, not normalised", s, mac)
		}
		if again, ok := parseMAC(mac); !ok || again != mac {
			t.Fatalf("parseMAC(%q) = %q, %t: not idempotent", mac, again, ok)
		}
	})
}

// errReader fails after its data, to check that parsers return read errors.
type errReader struct{ data io.Reader }

func (r errReader) Read(p []byte) (int, error) {
	n, err := r.data.Read(p)
	if err == io.EOF {
		return n, fs.ErrClosed
	}
	return n, err
}

func TestParsersReturnReadErrors(t *testing.T) {
	in := func() io.Reader { return errReader{strings.NewReader("x\n")} }
	if _, err := parseRoute(in()); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("parseRoute error = %v", err)
	}
	if _, err := parseIPv6Route(in()); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("parseIPv6Route error = %v", err)
	}
	if _, err := parseARP(in()); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("parseARP error = %v", err)
	}
	if _, err := parseDarwinRoute(in()); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("parseDarwinRoute error = %v", err)
	}
	if _, err := parseWindowsRoute(in()); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("parseWindowsRoute error = %v", err)
	}
	if _, err := parseLocaleConf(in()); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("parseLocaleConf error = %v", err)
	}
}
