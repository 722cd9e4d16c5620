// Package e2e is storefence's end-to-end test: a server, a DNS echo service
// standing in for the Internet's IP-echo resolvers, and agents on separate
// network namespaces joined by a router, so that two stores really share one
// egress address and a third does not. It needs root and `ip netns`; it is
// built only with the e2e tag and run by `make e2e`, which skips it
// elsewhere. See e2e_test.go for the topology and what is asserted.
//
// Environment: STOREFENCE_E2E_BIN names a directory holding the storefence
// and dnsecho binaries (make e2e sets it to bin/; unset, the test builds
// them); STOREFENCE_E2E_ONCE=1 drives the outage phase with `agent --once`
// once a tick instead of the daemon.
package e2e
