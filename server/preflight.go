package server

import (
	"net/http"
	"slices"

	"github.com/storefence/storefence/policy"
	"github.com/storefence/storefence/report"
)

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
	input, pol, err := s.input(r.Context(), nil)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "database unavailable", "")
		return
	}
	at := in.Report.CollectedAt.UTC()
	for _, o := range in.Observed {
		input.Sightings = append(input.Sightings, policy.Sighting{Agent: in.Report.Agent, Stores: []string{store}, Signal: o.Signal, Value: o.Value, FirstSeen: at, LastSeen: at, Count: 1})
	}
	now := s.now()
	if at.After(now) {
		now = at
	}
	a := policy.Evaluate(input, pol, now)
	out := policy.Preflight{Schema: policy.PreflightSchema, Store: store, Agent: in.Report.Agent, EvaluatedAt: a.EvaluatedAt,
		FailOn: pol.FailOn, Findings: []policy.Finding{}}
	for _, f := range a.Findings {
		if !slices.Contains(f.Stores, store) {
			continue
		}
		out.Findings = append(out.Findings, f)
		if !f.Exempted && pol.FailOn != policy.None && f.Severity >= pol.FailOn {
			out.WouldLink = true
		}
	}
	writeJSON(w, http.StatusOK, out)
}
