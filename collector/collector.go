// Package collector defines the contract every fact-gathering collector
// meets, and runs a list of them into one report. The collectors themselves
// live in the sub-packages publicip, device, network and sessions.
package collector

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/storefence/storefence/report"
)

// A Collector fills one section of a report. It must honour ctx. It may fill
// part of its section and still return an error for the part it could not
// see; the error is then recorded in the report beside the data.
type Collector interface {
	Name() string // "publicip", "device", "network", "sessions": used in config and logs
	Collect(ctx context.Context, r *report.Report) error
}

// ErrUnsupported reports that a fact is unavailable on this platform.
var ErrUnsupported = errors.New("unsupported on this platform")

// Run runs each collector in order into r, recording every failure (and
// recovered panic) in r.Errors, and returns how many collectors succeeded.
func Run(ctx context.Context, cs []Collector, r *report.Report, log zerolog.Logger) int {
	ok := 0
	for _, c := range cs {
		start := time.Now()
		err := runOne(ctx, c, r)
		l := log.With().Str("collector", c.Name()).Dur("duration", time.Since(start)).Logger()
		if err != nil {
			r.Errors = append(r.Errors, report.CollectorError{Collector: c.Name(), Error: err.Error()})
			if errors.Is(err, ErrUnsupported) {
				l.Debug().Err(err).Msg("collector unsupported")
			} else {
				l.Warn().Err(err).Msg("collector failed")
			}
			continue
		}
		ok++
		l.Debug().Msg("collector done")
	}
	return ok
}

func runOne(ctx context.Context, c Collector, r *report.Report) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return c.Collect(ctx, r)
}
