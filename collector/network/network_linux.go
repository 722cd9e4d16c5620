package network

// setOS wires the Linux sources: procfs for the gateway, /etc/localtime and
// /etc/timezone for the time zone, /etc/default/locale and /etc/locale.conf
// for the locale.
func (c *Collector) setOS() {
	c.gateway = c.linuxGateway
	c.systemTimezone = c.linuxTimezone
	c.systemLocale = c.linuxLocale
}
