package notify

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func TestFitMessage(t *testing.T) {
	m := &Message{
		Kind:   "alert",
		Title:  "Title",
		Footer: "foot",
		Sections: []Section{
			{Title: "S1", Fields: []Field{{Name: "n1", Value: "v1"}, {Name: "n2", Value: "v2"}}, Text: "text1"},
			{Title: "S2", Text: "text2"},
		},
	}
	size := func(m *Message) int { return Runes(messageText(m)) }
	tests := []struct {
		limit int
		want  *Message
	}{
		{100, m},
		{1, &Message{Kind: "alert", Title: "…"}},
		{4, &Message{Kind: "alert", Title: "Tit…"}},
		{6, &Message{Kind: "alert", Title: "Title", Footer: "…"}},
		{11, &Message{Kind: "alert", Title: "Title", Footer: "foot", Sections: []Section{{Title: "S…"}}}},
		{14, &Message{Kind: "alert", Title: "Title", Footer: "foot", Sections: []Section{{Title: "S1", Fields: []Field{{Name: "n1", Value: "…"}}}}}},
		{20, &Message{Kind: "alert", Title: "Title", Footer: "foot", Sections: []Section{{Title: "S1", Fields: []Field{{Name: "n1", Value: "v1"}, {Name: "n2", Value: "v2"}}, Text: "…"}}}},
		{19, &Message{Kind: "alert", Title: "Title", Footer: "foot", Sections: []Section{{Title: "S1", Fields: []Field{{Name: "n1", Value: "v1"}, {Name: "n2", Value: "v…"}}}}}},
		{26, &Message{Kind: "alert", Title: "Title", Footer: "foot", Sections: []Section{
			{Title: "S1", Fields: []Field{{Name: "n1", Value: "v1"}, {Name: "n2", Value: "v2"}}, Text: "text1"},
			{Title: "S…"},
		}}},
	}
	for _, tt := range tests {
		got, err := FitMessage(m, tt.limit, size)
		if err != nil {
			t.Errorf("FitMessage(%d): %v", tt.limit, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("FitMessage(%d) mismatch (-want +got):\n%s", tt.limit, diff)
		}
		if n := size(got); n > tt.limit {
			t.Errorf("FitMessage(%d) measures %d", tt.limit, n)
		}
	}
	if _, err := FitMessage(m, 0, size); err == nil {
		t.Error("FitMessage(0) succeeded")
	}
}

// TestFitMessageMarkup fits a rendering that escapes and lays out: the
// cut is never inside an escape, and invalid UTF-8 is replaced.
func TestFitMessageMarkup(t *testing.T) {
	m := &Message{Title: "a\xffb", Sections: []Section{{Title: "<<<<", Text: strings.Repeat("<中>", 50)}}}
	render := func(m *Message) string {
		esc := strings.NewReplacer("<", "&lt;", ">", "&gt;").Replace
		s := "*" + esc(m.Title) + "*"
		for _, sec := range m.Sections {
			s += "\n*" + esc(sec.Title) + "*\n" + esc(sec.Text)
		}
		return s
	}
	for limit := 8; limit < 200; limit++ {
		got, err := FitMessage(m, limit, func(m *Message) int { return Runes(render(m)) })
		if err != nil {
			t.Fatalf("FitMessage(%d): %v", limit, err)
		}
		out := render(got)
		if Runes(out) > limit || !utf8.ValidString(out) {
			t.Fatalf("FitMessage(%d) renders %q", limit, out)
		}
		if strings.Contains(strings.NewReplacer("&lt;", "", "&gt;", "").Replace(out), "&") {
			t.Fatalf("FitMessage(%d) cut an escape: %q", limit, out)
		}
	}
}
