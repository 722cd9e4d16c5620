package collector

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"

	"github.com/storefence/storefence/report"
)

// fake is a Collector that runs fn.
type fake struct {
	name string
	fn   func(*report.Report) error
}

func (f fake) Name() string                                      { return f.name }
func (f fake) Collect(_ context.Context, r *report.Report) error { return f.fn(r) }

func TestRun(t *testing.T) {
	cs := []Collector{
		fake{"ok", func(r *report.Report) error { r.Network = &report.Network{Timezone: "UTC"}; return nil }},
		fake{"broken", func(*report.Report) error { return errors.New("broken: no such file") }},
		fake{"elsewhere", func(*report.Report) error { return fmt.Errorf("elsewhere: %w", ErrUnsupported) }},
		fake{"panics", func(*report.Report) error { panic("index out of range") }},
		fake{"after", func(r *report.Report) error { r.Device = &report.Device{OS: "linux"}; return nil }},
	}
	var r report.Report
	if got := Run(context.Background(), cs, &r, zerolog.Nop()); got != 2 {
		t.Errorf("Run = %d succeeded, want 2", got)
	}
	want := []report.CollectorError{
		{Collector: "broken", Error: "broken: no such file"},
		{Collector: "elsewhere", Error: "elsewhere: unsupported on this platform"},
		{Collector: "panics", Error: "panic: index out of range"},
	}
	if diff := cmp.Diff(want, r.Errors); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	if r.Network == nil || r.Device == nil {
		t.Errorf("a failing collector stopped the ones after it")
	}
}
