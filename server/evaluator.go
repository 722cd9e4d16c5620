package server

import (
	"context"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/storefence/storefence/policy"
)

// minEvalGap bounds how often ingests can trigger an evaluation, and
// evalShare the CPU it may take under steady ingest: the next one waits at
// least (1/evalShare - 1) times as long as the last one took, counted from
// its end. A large history is thus re-evaluated less often, and ingest keeps
// its latency.
const (
	minStaleRefresh = 30 * time.Second // the most often a stale view makes the history be re-read
	minEvalGap      = 5 * time.Second
	evalShare       = 0.2
)

// requestEvaluation asks for an evaluation soon; requests coalesce.
func (s *Server) requestEvaluation() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// evaluator evaluates on the configured schedule and after ingests (at most
// every minEvalGap), re-reads the history from the database on the schedule
// once history_refresh has passed, and prunes raw reports past the
// retention hourly.
func (s *Server) evaluator(ctx context.Context) {
	sched, err := cron.ParseStandard(s.cfg.Evaluate)
	if err != nil {
		s.log.Error().Err(err).Msg("evaluate schedule") // Validate prevents this
		return
	}
	next := sched.Next(time.Now()) // the schedule runs on the wall clock; s.now is the evaluation's "as of"
	var lastEnd, lastPrune time.Time
	var buf []policy.Sighting // reused by every evaluation
	var lastTook time.Duration
	for {
		timer := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
			next = sched.Next(time.Now())
			if r := time.Duration(s.cfg.HistoryRefresh); r > 0 {
				if err := s.refreshHistory(ctx, r); err != nil && ctx.Err() == nil {
					s.log.Error().Err(err).Msg("re-reading the history failed; evaluating what is in memory")
				}
			}
		case <-s.kick:
			timer.Stop()
			gap := max(minEvalGap, time.Duration(float64(lastTook)*(1/evalShare-1)))
			if wait := gap - time.Since(lastEnd); wait > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
			}
		}
		start := time.Now()
		buf = s.evaluateOnce(ctx, buf)
		lastEnd = time.Now()
		lastTook = lastEnd.Sub(start)
		if time.Since(lastPrune) > time.Hour {
			lastPrune = time.Now()
			s.prune(ctx)
		}
	}
}

// evaluateOnce evaluates, using buf for the copy of the history, and
// returns the buffer to reuse next time.
func (s *Server) evaluateOnce(ctx context.Context, buf []policy.Sighting) []policy.Sighting {
	start := time.Now()
	asOf := s.historyReadAt() // before the copy: the view is at least this new
	a, buf, err := s.evaluate(ctx, s.now(), buf)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error().Err(err).Msg("evaluation failed")
		}
		return buf
	}
	s.metrics.evaluated(a, time.Since(start))
	if s.onEval != nil && s.onEval(ctx, a, asOf) {
		// The notifier saw a finding gone that changed after this history
		// was read: it may only be missing from an old view. Read again
		// and evaluate again.
		if read, err := s.refreshHistoryIf(ctx, minStaleRefresh); err != nil {
			s.log.Error().Err(err).Msg("re-reading the history failed")
		} else if read {
			s.requestEvaluation()
		}
	}
	return buf
}

func (s *Server) prune(ctx context.Context) {
	n, err := s.db.PruneReports(ctx, s.now().Add(-time.Duration(s.cfg.Retention)))
	if err != nil {
		s.log.Error().Err(err).Msg("pruning raw reports failed")
		return
	}
	if n > 0 {
		s.log.Info().Int64("reports", n).Msg("pruned raw reports past retention")
	}
}
