package policy

import "time"

// AuditSchema is the value of Audit.Schema.
const AuditSchema = "storefence.audit/v1"

// Audit is the result of one evaluation, storefence.audit/v1.
type Audit struct {
	Schema      string    `json:"schema"`
	EvaluatedAt time.Time `json:"evaluated_at"`
	Findings    []Finding `json:"findings"`
	Clusters    []Cluster `json:"clusters"`
	Warnings    []Warning `json:"warnings"`
}

// Finding is one value of one signal shared by two or more stores.
type Finding struct {
	ID        string     `json:"id"` // stable: derived from signal and value only
	Signal    string     `json:"signal"`
	Severity  Severity   `json:"severity"`
	Value     string     `json:"value"` // the masked hint for reg.* signals
	Stores    []string   `json:"stores"`
	Evidence  []Evidence `json:"evidence"`
	Exempted  bool       `json:"exempted"`
	Exemption string     `json:"exemption"` // the reason of the exemption that covers it
	// Escalated is set when a suspended or closed store raised the severity.
	Escalated bool `json:"escalated,omitempty"`
}

// Evidence is where one store met the value: through which agent, from when
// to when. Registration evidence has neither agent nor times.
type Evidence struct {
	Store     string    `json:"store"`
	Agent     string    `json:"agent,omitempty"`
	FirstSeen time.Time `json:"first_seen,omitzero"`
	LastSeen  time.Time `json:"last_seen,omitzero"`
	Count     int64     `json:"count,omitempty"` // reports that saw it
}

// Cluster is a set of stores joined, transitively, by unexempted findings at
// or above the policy's cluster_min_severity.
type Cluster struct {
	Stores   []string `json:"stores"`
	Severity Severity `json:"severity"`
	Signals  []string `json:"signals"`
	// JoinedBy names the findings that join the cluster, most-shared values
	// first: enough of them to connect every store, at most MaxJoinedBy.
	JoinedBy     []Link `json:"joined_by"`
	JoinedByMore int    `json:"joined_by_more,omitempty"` // further joining findings left out
}

// Link is one finding that joins a cluster, in short.
type Link struct {
	Finding  string   `json:"finding"`
	Signal   string   `json:"signal"`
	Value    string   `json:"value"`
	Severity Severity `json:"severity"`
	Stores   int      `json:"stores"` // how many stores share it
}

// MaxJoinedBy bounds a cluster's explanation, however many stores it holds.
const MaxJoinedBy = 10

// Warning is something wrong that is not a shared value.
type Warning struct {
	Kind   string `json:"kind"` // stale_agent, egress_conflict, store_without_agent, collector_error, unknown_store
	Agent  string `json:"agent,omitempty"`
	Store  string `json:"store,omitempty"`
	Detail string `json:"detail"`
}

// Warning kinds.
const (
	StaleAgent        = "stale_agent"
	EgressConflict    = "egress_conflict"
	StoreWithoutAgent = "store_without_agent"
	CollectorErr      = "collector_error"
	UnknownStore      = "unknown_store"
)

// Fails reports whether a has an unexempted finding at or above threshold
// (None never fails).
func (a *Audit) Fails(threshold Severity) bool {
	if threshold == None {
		return false
	}
	for _, f := range a.Findings {
		if !f.Exempted && f.Severity >= threshold {
			return true
		}
	}
	return false
}
