package server

import (
	"net/http"
	"slices"
	"time"

	"github.com/storefence/storefence/policy"
	"github.com/storefence/storefence/report"
)

// PreflightSchema is the value of Preflight.Schema.
const PreflightSchema = "storefence.preflight/v1"

// Preflight answers "would operating Store from this machine link it to
// another store?".
type Preflight struct {
	Schema      string           `json:"schema"`
	Store       string           `json:"store"`
	Agent       string           `json:"agent"`
	EvaluatedAt time.Time        `json:"evaluated_at"`
	WouldLink   bool             `json:"would_link"` // an unexempted finding at or above the policy's fail_on
	FailOn      policy.Severity  `json:"fail_on"`
	Findings    []policy.Finding `json:"findings"` // every finding that would involve Store
}

// handlePreflight is POST /api/v1/preflight?store=ID with the agent token
// and a fresh report as body: the report is evaluated as if its machine
// served store ID now, beside the whole history, and nothing is stored.
func (s *Server) handlePreflight(w http.ResponseWriter, r *http.Request) {
	store := r.URL.Query().Get("store")
	if !report.ValidID(store) {
		writeError(w, http.StatusBadRequest, "store: want a store id", "store")
		return
	}
	in, code, _ := s.readReport(w, r)
	if code != 0 {
		return
	}
	ctx := r.Context()
	ss, err := s.db.Sightings(ctx)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "database unavailable", "")
		return
	}
	agents, err := s.db.Agents(ctx)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "database unavailable", "")
		return
	}
	at := in.Report.CollectedAt.UTC()
	for _, o := range in.Observed {
		ss = append(ss, policy.Sighting{Agent: in.Report.Agent, Stores: []string{store}, Signal: o.Signal, Value: o.Value, FirstSeen: at, LastSeen: at, Count: 1})
	}
	inputs := s.inputs.Load()
	input := *inputs.Registry
	input.Sightings, input.Agents = ss, agents
	now := s.now()
	if at.After(now) {
		now = at
	}
	a := policy.Evaluate(&input, inputs.Policy, now)
	out := Preflight{Schema: PreflightSchema, Store: store, Agent: in.Report.Agent, EvaluatedAt: a.EvaluatedAt,
		FailOn: inputs.Policy.FailOn, Findings: []policy.Finding{}}
	for _, f := range a.Findings {
		if !slices.Contains(f.Stores, store) {
			continue
		}
		out.Findings = append(out.Findings, f)
		if !f.Exempted && inputs.Policy.FailOn != policy.None && f.Severity >= inputs.Policy.FailOn {
			out.WouldLink = true
		}
	}
	writeJSON(w, http.StatusOK, out)
}
