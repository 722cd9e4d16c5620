//go:build !windows

package sessions

import (
	"context"
	"fmt"

	"github.com/storefence/storefence/collector"
	"github.com/storefence/storefence/report"
)

// newWTS returns the Windows session source, which exists only on Windows.
func newWTS() func(context.Context) ([]report.Session, error) {
	return func(context.Context) ([]report.Session, error) {
		return nil, fmt.Errorf("wts: %w", collector.ErrUnsupported)
	}
}
