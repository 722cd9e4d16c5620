//go:build !agentonly

package main

// centralCommands are the commands of the central side: the server, the
// audit and what manages them. An agent-only build (-tags agentonly, for
// the operator machines) leaves them and their dependencies (SQLite,
// PostgreSQL, Prometheus, the registry's phone metadata) out.
func centralCommands() []command {
	return []command{
		{"audit", "--stores F --reports PATH... [--policy F] [--now T] [--format table|json|markdown|html] [--output F] [--fail-on S]", "evaluate policy now and print findings, clusters and warnings", runAudit},
		{"server", "--config server.yaml", "the central service: receive reports, keep history, evaluate policy", runServer},
		{"token", "create|list|revoke --config server.yaml [--agent ID] [TOKEN-ID]", "manage agent tokens (a new token is printed once)", runToken},
		{"notify", "test --config server.yaml [--channel NAME]", "send a test message to each configured chat channel", runNotify},
		{"ack", "FINDING --for 24h --reason R [--by NAME] --config server.yaml | --list", "mute one finding's chat notifications until the ack expires", runAck},
		{"hash", "--field F [--region CC] VALUE", "print the keyed digest of a registration value, so raw numbers need not be stored", runHash},
	}
}
