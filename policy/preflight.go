package policy

import "time"

// PreflightSchema is the value of Preflight.Schema.
const PreflightSchema = "storefence.preflight/v1"

// Preflight answers "would operating Store from this machine link it to
// another store?".
type Preflight struct {
	Schema      string    `json:"schema"`
	Store       string    `json:"store"`
	Agent       string    `json:"agent"`
	EvaluatedAt time.Time `json:"evaluated_at"`
	WouldLink   bool      `json:"would_link"` // an unexempted finding at or above the policy's fail_on
	FailOn      Severity  `json:"fail_on"`
	Findings    []Finding `json:"findings"` // every finding that would involve Store
}
