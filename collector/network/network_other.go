//go:build !linux && !windows && !darwin

package network

import (
	"context"

	"github.com/storefence/storefence/collector"
)

// setOS wires the sources of other systems: no gateway, the /etc/localtime
// symlink for the time zone, and the environment for the locale.
func (c *Collector) setOS() {
	c.gateway = unsupportedGateway
	c.systemTimezone = c.symlinkTimezone
	c.systemLocale = noLocale
}

// unsupportedGateway is the gateway source of systems whose routing table is
// not read.
func unsupportedGateway(context.Context) (gateway, error) {
	return gateway{}, collector.ErrUnsupported
}

// noLocale is the system locale source of systems where none is read.
func noLocale(context.Context) (string, error) { return "", nil }
