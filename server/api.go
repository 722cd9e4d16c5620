package server

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/storefence/storefence/policy"
	"github.com/storefence/storefence/render"
)

// requireAdmin lets a request through only with the admin token.
func (s *Server) requireAdmin(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := bearer(r.Header.Get("Authorization"))
		if !ok || !s.admin.ok(tok) {
			writeError(w, http.StatusUnauthorized, "admin token required", "")
			return
		}
		next(w, r)
	}
}

// Evaluate evaluates the policy over the whole history as of now.
func (s *Server) Evaluate(ctx context.Context, now time.Time) (*policy.Audit, error) {
	a, _, err := s.evaluate(ctx, now, nil)
	return a, err
}

// evaluate is Evaluate, copying the history into buf when it is large
// enough (see history.fill). It returns the buffer it used for the next
// call: the audit keeps no reference to it.
func (s *Server) evaluate(ctx context.Context, now time.Time, buf []policy.Sighting) (*policy.Audit, []policy.Sighting, error) {
	input, pol, err := s.input(ctx, buf)
	if err != nil {
		return nil, buf, fmt.Errorf("evaluate: %w", err)
	}
	return policy.Evaluate(input, pol, now), input.Sightings, nil
}

// input returns what an evaluation needs: the registry and policy, and a
// copy of the history (read from the database first if it never was).
func (s *Server) input(ctx context.Context, buf []policy.Sighting) (*policy.Input, *policy.Policy, error) {
	if !s.hist.isLoaded() {
		if err := s.refreshHistory(ctx, 0); err != nil {
			return nil, nil, err
		}
	}
	in := s.inputs.Load()
	input := *in.Registry
	s.hist.fill(&input, buf)
	return &input, in.Policy, nil
}

// refreshHistory re-reads the history from the database unless it was read
// less than maxAge ago (0: read it only if it never was).
func (s *Server) refreshHistory(ctx context.Context, maxAge time.Duration) error {
	_, err := s.refreshHistoryIf(ctx, maxAge)
	return err
}

// refreshHistoryIf is refreshHistory, also reporting whether it read.
func (s *Server) refreshHistoryIf(ctx context.Context, maxAge time.Duration) (bool, error) {
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	if !s.loadedAt.IsZero() && (maxAge == 0 || time.Since(s.loadedAt) < maxAge) {
		return false, nil
	}
	start := time.Now()
	if err := s.hist.load(ctx, s.db); err != nil {
		return false, err
	}
	s.loadedAt, s.readAt = time.Now(), start
	s.log.Debug().Dur("took", s.loadedAt.Sub(start)).Msg("history read from the database")
	return true, nil
}

// historyReadAt is when the last whole read of the history started.
func (s *Server) historyReadAt() time.Time {
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	return s.readAt
}

// handleAudit is GET /api/v1/audit[?now=RFC3339]: storefence.audit/v1.
func (s *Server) handleAudit(w http.ResponseWriter, r *http.Request) {
	now := s.now()
	if q := r.URL.Query().Get("now"); q != "" {
		t, err := time.Parse(time.RFC3339, q)
		if err != nil {
			writeError(w, http.StatusBadRequest, "now: want RFC3339", "now")
			return
		}
		now = t
	}
	a, err := s.Evaluate(r.Context(), now)
	if err != nil {
		s.log.Error().Err(err).Msg("audit failed")
		writeError(w, http.StatusServiceUnavailable, "database unavailable", "")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	render.JSON(w, a)
}

// AgentInfo is one agent in GET /api/v1/agents.
type AgentInfo struct {
	Agent    string    `json:"agent"`
	LastSeen time.Time `json:"last_seen"`
	Stores   []string  `json:"stores"`
	PublicIP []string  `json:"public_ip"` // egress addresses seen in the last day, latest first
	Version  string    `json:"version"`
	Conflict bool      `json:"egress_conflict"`
	Stale    bool      `json:"stale"`
}

// handleAgents is GET /api/v1/agents.
func (s *Server) handleAgents(w http.ResponseWriter, r *http.Request) {
	input, pol, err := s.input(r.Context(), nil)
	if err != nil {
		s.log.Error().Err(err).Msg("listing agents failed")
		writeError(w, http.StatusServiceUnavailable, "database unavailable", "")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"agents": s.agentInfos(input.Sightings, input.Agents, pol.StaleAfter)})
}

func (s *Server) agentInfos(ss []policy.Sighting, agents []policy.AgentState, stale time.Duration) []AgentInfo {
	slices.SortFunc(agents, func(a, b policy.AgentState) int { return strings.Compare(a.Agent, b.Agent) })
	now := s.now()
	type seen struct {
		ip   string
		last time.Time
	}
	ips := map[string][]seen{}
	for _, x := range ss {
		if x.Signal == policy.PublicIP && now.Sub(x.LastSeen) < 24*time.Hour {
			ips[x.Agent] = append(ips[x.Agent], seen{x.Value, x.LastSeen})
		}
	}
	out := make([]AgentInfo, 0, len(agents))
	for _, a := range agents {
		list := ips[a.Agent]
		sort.Slice(list, func(i, j int) bool { return list[i].last.After(list[j].last) })
		info := AgentInfo{Agent: a.Agent, LastSeen: a.LastSeen, Stores: a.Stores, Version: a.Version,
			Conflict: a.Conflict, Stale: now.Sub(a.LastSeen) > stale, PublicIP: []string{}}
		for _, x := range list {
			info.PublicIP = append(info.PublicIP, x.ip)
		}
		if info.Stores == nil {
			info.Stores = []string{}
		}
		out = append(out, info)
	}
	return out
}

// handleReady is GET /readyz: 200 when the database answers.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.db.Ping(ctx); err != nil {
		writeError(w, http.StatusServiceUnavailable, "database unavailable", "")
		return
	}
	w.Write([]byte("ok\n"))
}
