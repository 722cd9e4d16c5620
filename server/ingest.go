package server

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/storefence/storefence/db"
	"github.com/storefence/storefence/policy"
	"github.com/storefence/storefence/report"
)

// MaxBody bounds a report, compressed and decompressed alike.
const MaxBody = 1 << 20

// apiError is the JSON body of every error answer.
type apiError struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

func writeError(w http.ResponseWriter, code int, msg, field string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(apiError{Error: msg, Field: field})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// handleReport is POST /api/v1/reports: 202 stored, 200 already had it,
// 400 invalid, 401 bad token, 403 another agent's report, 413 too large,
// 429 slow down, 503 the database failed (retry later).
func (s *Server) handleReport(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	code, reason := s.ingest(w, r)
	s.metrics.ingest(code, reason, time.Since(start))
}

func (s *Server) ingest(w http.ResponseWriter, r *http.Request) (int, string) {
	in, code, reason := s.readReport(w, r)
	if code != 0 {
		return code, reason
	}
	// Not cancelled with the request: a batch may commit the report after
	// the client gave up, and then it must reach the history too.
	inserted, err := s.db.PutReport(context.WithoutCancel(r.Context()), in)
	if err != nil {
		s.log.Error().Err(err).Str("agent", in.Report.Agent).Msg("storing a report failed")
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "database unavailable", "")
		return http.StatusServiceUnavailable, "database"
	}
	if !inserted {
		writeJSON(w, http.StatusOK, map[string]string{"status": "duplicate", "id": in.Report.ID})
		return http.StatusOK, "duplicate"
	}
	s.hist.fold(in)
	s.requestEvaluation()
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "accepted", "id": in.Report.ID})
	return http.StatusAccepted, "accepted"
}

// readReport authenticates the agent, rate-limits it, reads and validates
// its report and derives the observations. On failure it has answered and
// returns the status and a reason for the metrics.
func (s *Server) readReport(w http.ResponseWriter, r *http.Request) (*db.Ingest, int, string) {
	ctx := r.Context()
	fail := func(code int, reason string) (*db.Ingest, int, string) { return nil, code, reason }
	tok, ok := bearer(r.Header.Get("Authorization"))
	if !ok {
		writeError(w, http.StatusUnauthorized, "missing bearer token", "")
		return fail(http.StatusUnauthorized, "no_token")
	}
	agent, err := s.db.TokenAgent(ctx, HashToken(tok))
	switch {
	case errors.Is(err, db.ErrNotFound):
		writeError(w, http.StatusUnauthorized, "unknown or revoked token", "")
		return fail(http.StatusUnauthorized, "bad_token")
	case err != nil:
		s.log.Error().Err(err).Msg("token lookup failed")
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "database unavailable", "")
		return fail(http.StatusServiceUnavailable, "database")
	}
	if wait := s.limiter(agent).Reserve(); !wait.OK() || wait.Delay() > 0 {
		delay := time.Second
		if wait.OK() {
			delay = wait.Delay()
			wait.Cancel()
		}
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(delay.Seconds()))))
		writeError(w, http.StatusTooManyRequests, "too many reports from this agent", "")
		return fail(http.StatusTooManyRequests, "rate_limited")
	}
	data, code, msg := readBody(w, r)
	if code != 0 {
		writeError(w, code, msg, "")
		return fail(code, "body")
	}
	rep, err := report.Decode(data)
	if err != nil {
		var fe *report.FieldError
		field := ""
		if errors.As(err, &fe) {
			field = fe.Field
		}
		writeError(w, http.StatusBadRequest, err.Error(), field)
		return fail(http.StatusBadRequest, "invalid")
	}
	if rep.Agent != agent {
		writeError(w, http.StatusForbidden, "the report names another agent than its token's", "agent")
		return fail(http.StatusForbidden, "other_agent")
	}
	now := s.now()
	switch {
	case rep.CollectedAt.After(now.Add(time.Duration(s.cfg.MaxSkew))):
		writeError(w, http.StatusBadRequest, "collected_at is in the future: check the agent's clock", "collected_at")
		return fail(http.StatusBadRequest, "skew")
	case rep.CollectedAt.Before(now.Add(-time.Duration(s.cfg.MaxAge))):
		writeError(w, http.StatusBadRequest, "collected_at is older than the server keeps (max_age)", "collected_at")
		return fail(http.StatusBadRequest, "too_old")
	}
	obs := policy.Observe(rep)
	if src := s.clientIP(r); src.IsValid() && src.IsGlobalUnicast() && !src.IsPrivate() {
		// What the server sees is an egress of the agent too.
		obs = appendObserved(obs, policy.Observed{Signal: policy.PublicIP, Value: src.String()})
	}
	return &db.Ingest{Report: rep, Raw: data, Observed: obs, ReceivedAt: now}, 0, ""
}

// readBody reads at most MaxBody bytes, gunzipping when the agent says so.
// It returns a non-zero status and message when the body is unusable.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, int, string) {
	body := io.Reader(http.MaxBytesReader(w, r.Body, MaxBody))
	switch enc := strings.ToLower(r.Header.Get("Content-Encoding")); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			return nil, http.StatusBadRequest, "body is not gzip"
		}
		body = io.LimitReader(zr, MaxBody+1) // a zip bomb stops here
	default:
		return nil, http.StatusUnsupportedMediaType, "unsupported Content-Encoding " + strconv.Quote(enc)
	}
	data, err := io.ReadAll(body)
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe) || len(data) > MaxBody:
		return nil, http.StatusRequestEntityTooLarge, "report larger than 1 MiB"
	case err != nil:
		return nil, http.StatusBadRequest, "reading the body failed"
	}
	return data, 0, ""
}

func appendObserved(obs []policy.Observed, o policy.Observed) []policy.Observed {
	for _, x := range obs {
		if x == o {
			return obs
		}
	}
	return append(obs, o)
}

// clientIP is the address the request came from: the peer, or, when the
// peer is a trusted proxy, the nearest untrusted address of X-Forwarded-For.
func (s *Server) clientIP(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	addr := ap.Addr().Unmap()
	if !s.isTrusted(addr) {
		return addr
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return netip.Addr{} // a forged or broken header: believe nothing
		}
		if a = a.Unmap(); !s.isTrusted(a) {
			return a
		}
	}
	return netip.Addr{}
}

func (s *Server) isTrusted(a netip.Addr) bool {
	for _, p := range s.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// limiter returns agent's token bucket.
func (s *Server) limiter(agent string) *rate.Limiter {
	s.limMu.Lock()
	defer s.limMu.Unlock()
	l := s.limiters[agent]
	if l == nil {
		l = rate.NewLimiter(rate.Limit(s.cfg.AgentRate), s.cfg.AgentBurst)
		s.limiters[agent] = l
	}
	return l
}
