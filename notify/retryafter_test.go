package notify

import (
	"math"
	"net/http"
	"testing"
	"time"
)

func TestSeconds(t *testing.T) {
	inf := math.Inf(1)
	tests := []struct {
		in   float64
		want string
	}{
		{1.337, "1.337s"},
		{64.57, "1m4.57s"},
		{0, "0s"},
		{-3, "0s"},
		{inf - inf, "0s"}, // NaN
		{1e300, "24h0m0s"},
		{inf, "24h0m0s"},
	}
	for _, tt := range tests {
		if got := Seconds(tt.in).String(); got != tt.want {
			t.Errorf("Seconds(%v) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestRetryAfterBounds(t *testing.T) {
	now := time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"30", 30 * time.Second},
		{"1.5", 1500 * time.Millisecond},
		{"1e300", 24 * time.Hour},
		{"-1e300", 0},
		{"NaN", 0},
		{"Inf", 24 * time.Hour},
		{"Sun, 01 Jun 2025 09:01:00 GMT", time.Minute},
		{"Sat, 01 Jun 2024 09:01:00 GMT", 0},
		{"soon", 0},
	}
	for _, tt := range tests {
		if got := RetryAfter(http.Header{"Retry-After": {tt.in}}, now); got != tt.want {
			t.Errorf("RetryAfter(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
