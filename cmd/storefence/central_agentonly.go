//go:build agentonly

package main

// centralCommands is empty in the agent-only build (-tags agentonly): it
// carries only what runs on an operator's machine. See central.go.
func centralCommands() []command { return nil }
