package server

import (
	"context"
	"fmt"
	"net/http"
	"sort"
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

// Evaluate evaluates the policy over everything in the database as of now.
func (s *Server) Evaluate(ctx context.Context, now time.Time) (*policy.Audit, error) {
	ss, err := s.db.Sightings(ctx)
	if err != nil {
		return nil, fmt.Errorf("evaluate: %w", err)
	}
	agents, err := s.db.Agents(ctx)
	if err != nil {
		return nil, fmt.Errorf("evaluate: %w", err)
	}
	in := s.inputs.Load()
	input := *in.Registry
	input.Sightings, input.Agents = ss, agents
	return policy.Evaluate(&input, in.Policy, now), nil
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
	agents, err := s.db.Agents(r.Context())
	if err == nil {
		var infos []AgentInfo
		infos, err = s.agentInfos(r.Context(), agents)
		if err == nil {
			writeJSON(w, http.StatusOK, map[string]any{"agents": infos})
			return
		}
	}
	s.log.Error().Err(err).Msg("listing agents failed")
	writeError(w, http.StatusServiceUnavailable, "database unavailable", "")
}

func (s *Server) agentInfos(ctx context.Context, agents []policy.AgentState) ([]AgentInfo, error) {
	ss, err := s.db.Sightings(ctx)
	if err != nil {
		return nil, err
	}
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
	stale := s.inputs.Load().Policy.StaleAfter
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
	return out, nil
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
