package network

import "context"

// setOS wires the macOS sources: the route and arp commands for the gateway
// and the /etc/localtime symlink for the time zone. The locale comes from the
// environment only.
func (c *Collector) setOS() {
	c.gateway = c.darwinGateway
	c.systemTimezone = c.symlinkTimezone
	c.systemLocale = noLocale
}

// noLocale is the system locale source of systems where none is read.
func noLocale(context.Context) (string, error) { return "", nil }
