//go:build !unix

package publicip

// systemServers returns no nameserver: this system keeps no resolv.conf, so
// the resolver egress probe asks the operating system's resolver instead.
func systemServers(string) ([]string, error) { return nil, nil }
