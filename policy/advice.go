package policy

import "strings"

// Advice is the one action that fixes a finding on signal, for people.
func Advice(signal string) string {
	switch signal {
	case SameMachine:
		return "Operate each store from its own machine or VPS; never reassign a machine from one store to another."
	case PublicIP:
		return "Give each store its own line and egress IP; check proxies and VPNs on every machine."
	case HostID:
		return "One machine or a cloned image serves several stores: use separate machines, or regenerate the id (systemd-machine-id-setup, Sysprep) and keep each store on its own."
	case MAC:
		return "The same network card serves several stores: use separate hardware or VMs."
	case DiskSerial:
		return "The same disk serves several stores: use separate machines or VMs."
	case GatewayMAC:
		return "Several stores sit behind one router: give each store its own line and router."
	case PublicSubnet:
		return "The stores' addresses come from one subnet: take lines or proxies from different ranges or providers."
	case SessionOrigin:
		return "One workstation logs in to several stores' machines: administer each store from its own workstation or jump host."
	case Hostname:
		return "Machines of several stores share a host name: rename them, and check they are not one machine."
	}
	if field, ok := strings.CutPrefix(signal, RegPrefix); ok {
		return "Stores share registration data (" + strings.ReplaceAll(field, "_", " ") + "): change it for all but one store, or record an exemption with the marketplace's approval."
	}
	return ""
}
