package config

import (
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"180d", 180 * 24 * time.Hour, true},
		{"1d12h", 36 * time.Hour, true},
		{"90m", 90 * time.Minute, true},
		{"0s", 0, true},
		{"d", 0, false},
		{"-3h", 0, false},
		{"3x", 0, false},
		{"99999999d", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if (err == nil) != tt.ok || time.Duration(got) != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, ok=%v", tt.in, time.Duration(got), err, tt.want, tt.ok)
		}
		if tt.ok {
			back, err := ParseDuration(got.String())
			if err != nil || back != got {
				t.Errorf("ParseDuration(%q.String() = %q) = %v, %v", tt.in, got.String(), back, err)
			}
		}
	}
}
