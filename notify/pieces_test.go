package notify

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFitPieces(t *testing.T) {
	star := func(s string) string { return strings.ReplaceAll(s, "*", `\*`) }
	head := Piece{Pre: "# ", Value: "T", Escape: star}
	body := []Piece{
		{Pre: "\n- a: ", Value: "1*2*3", Escape: star},
		{Pre: "\n- b: ", Value: "中文中文", Post: ";"},
		{Pre: "\n- c: ", Value: "never"},
	}
	foot := Piece{Pre: "\n> ", Value: "f"}
	tests := []struct {
		name    string
		limit   int
		measure func(string) int
		want    string
	}{
		{"everything fits", 100, Bytes, "# T\n- a: 1\\*2\\*3\n- b: 中文中文;\n- c: never\n> f"},
		{"cut inside a value at a rune boundary, footer kept", 35, Bytes, "# T\n- a: 1\\*2\\*3\n- b: 中…;\n> f"},
		{"no cut inside an escape", 19, Bytes, "# T\n- a: 1\\*…\n> f"},
		{"a piece whose markup does not fit is left out", 28, Bytes, "# T\n- a: 1\\*2\\*3\n> f"},
		{"runes", 30, Runes, "# T\n- a: 1\\*2\\*3\n- b: 中文…;\n> f"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FitPieces(head, body, foot, tt.limit, tt.measure)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("FitPieces(limit %d) mismatch (-want +got):\n%s", tt.limit, diff)
			}
			if tt.measure(got) > tt.limit {
				t.Errorf("result measures %d, over %d", tt.measure(got), tt.limit)
			}
		})
	}
}
