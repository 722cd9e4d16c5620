// Package server is the central storefence service: it authenticates
// agents, ingests their reports into the database, evaluates the policy
// after ingest and on a schedule, and serves the audit, the agents, health
// and metrics over HTTP.
package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"golang.org/x/time/rate"

	"github.com/storefence/storefence/config"
	"github.com/storefence/storefence/db"
	"github.com/storefence/storefence/policy"
)

// Inputs is what the server evaluates besides the database: the registry as
// the policy sees it, and the policy. Reloading swaps them whole.
type Inputs struct {
	Registry *policy.Input // Stores, Exemptions, Registration
	Policy   *policy.Policy
}

// Loader loads the Inputs, at start and on every reload (SIGHUP).
type Loader func() (*Inputs, error)

// Options are the server's settings and dependencies.
type Options struct {
	Config *config.Server
	DB     db.DB
	Load   Loader
	Log    zerolog.Logger
	Now    func() time.Time      // the clock; time.Now when nil
	Reg    prometheus.Registerer // where metrics go; a new registry when nil
	// OnEvaluate, when set, is called with every periodic or post-ingest
	// evaluation and when the history it came from was last read whole
	// from the database (the notifier hooks in here). When it returns true
	// the server re-reads the history (at most every minStaleRefresh) and
	// evaluates again.
	OnEvaluate func(ctx context.Context, a *policy.Audit, historyReadAt time.Time) (stale bool)
}

// Server serves the HTTP API. Create it with New.
type Server struct {
	cfg     *config.Server
	db      db.DB
	load    Loader
	log     zerolog.Logger
	now     func() time.Time
	admin   *adminToken
	trusted []netip.Prefix
	inputs  atomic.Pointer[Inputs]
	metrics *metrics
	gather  prometheus.Gatherer
	onEval  func(context.Context, *policy.Audit, time.Time) bool
	hist    *history

	loadMu   sync.Mutex // serialises history loads
	loadedAt time.Time  // when the history was last read from the database
	readAt   time.Time  // when that read started: what it holds is at least as new

	limMu    sync.Mutex
	limiters map[string]*rate.Limiter

	kick chan struct{} // asks the evaluator for an evaluation soon
}

// New builds a server and loads its inputs once.
func New(opt Options) (*Server, error) {
	admin, err := loadAdminToken(opt.Config.AdminTokenFile)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: opt.Config, db: opt.DB, load: opt.Load, log: opt.Log, now: opt.Now, admin: admin,
		trusted: opt.Config.TrustedPrefixes(), onEval: opt.OnEvaluate,
		limiters: map[string]*rate.Limiter{}, kick: make(chan struct{}, 1), hist: newHistory(),
	}
	if s.now == nil {
		s.now = time.Now
	}
	reg := opt.Reg
	if reg == nil {
		r := prometheus.NewRegistry()
		reg, s.gather = r, r
	} else if g, ok := reg.(prometheus.Gatherer); ok {
		s.gather = g
	}
	if s.metrics, err = newMetrics(reg); err != nil {
		return nil, err
	}
	if err := s.Reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Reload loads the registry and policy again. On error the old ones stay.
func (s *Server) Reload() error {
	in, err := s.load()
	if err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	s.inputs.Store(in)
	s.requestEvaluation()
	return nil
}

// Handler returns the HTTP API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/reports", s.handleReport)
	mux.HandleFunc("POST /api/v1/preflight", s.handlePreflight)
	mux.HandleFunc("GET /api/v1/audit", s.requireAdmin(s.handleAudit))
	mux.HandleFunc("GET /api/v1/agents", s.requireAdmin(s.handleAgents))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", s.handleReady)
	mux.Handle("GET /metrics", s.metricsHandler())
	return s.recoverer(mux)
}

// recoverer turns a panic in a handler into a 500 and a log line: a request
// never brings the server down.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error().Str("path", r.URL.Path).Interface("panic", p).Msg("handler panicked")
				writeError(w, http.StatusInternalServerError, "internal error", "")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// Run serves on cfg.Listen until ctx ends, evaluates on the schedule and
// after ingests, then drains in-flight requests. ready, when not nil, is
// called once the listener is open (systemd's READY).
func (s *Server) Run(ctx context.Context, ready func(addr string)) error {
	t := s.cfg.Timeouts
	srv := &http.Server{
		Addr:              s.cfg.Listen,
		Handler:           s.Handler(),
		ReadHeaderTimeout: time.Duration(t.ReadHeader),
		ReadTimeout:       time.Duration(t.Read),
		WriteTimeout:      time.Duration(t.Write),
		IdleTimeout:       time.Duration(t.Idle),
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          nil,
	}
	ln, err := listen(s.cfg.Listen)
	if err != nil {
		return err
	}
	if err := s.refreshHistory(ctx, 0); err != nil {
		ln.Close()
		return err
	}
	evalCtx, stopEval := context.WithCancel(context.Background())
	evalDone := make(chan struct{})
	go func() { defer close(evalDone); s.evaluator(evalCtx) }()
	errc := make(chan error, 1)
	go func() {
		if s.cfg.TLS.CertFile != "" {
			errc <- srv.ServeTLS(ln, s.cfg.TLS.CertFile, s.cfg.TLS.KeyFile)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	s.log.Info().Str("listen", ln.Addr().String()).Bool("tls", s.cfg.TLS.CertFile != "").Msg("serving")
	if ready != nil {
		ready(ln.Addr().String())
	}
	select {
	case err = <-errc:
	case <-ctx.Done():
		s.log.Info().Msg("shutting down: draining requests")
		sctx, cancel := context.WithTimeout(context.Background(), time.Duration(t.Shutdown))
		err = srv.Shutdown(sctx)
		cancel()
	}
	stopEval()
	<-evalDone
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
