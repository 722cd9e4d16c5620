package notify

import "strings"

// A Piece is one run of a rendered message: vendor markup around a plain
// value. Only the value is escaped, and only the value may be cut, so a
// cut never splits an escape or leaves markup unclosed.
type Piece struct {
	Pre, Value, Post string
	Escape           func(string) string // nil uses the value as is
}

// Render returns p with v as its value: Pre + Escape(v) + Post.
func (p Piece) Render(v string) string {
	if p.Escape == nil {
		return p.Pre + v + p.Post
	}
	return p.Pre + p.Escape(v) + p.Post
}

// FitPieces renders head, as many of body's pieces as fit, and foot, so
// that measure of the result is at most limit. Head and foot get at most
// a quarter of limit each (they are a title and a footer line); the first
// body piece that does not fit whole is cut with Fit and ends the body. A
// piece whose markup alone does not fit is left out. measure must add up
// over concatenation, as Bytes and Runes do.
func FitPieces(head Piece, body []Piece, foot Piece, limit int, measure func(string) int) string {
	h, _ := Fit(head.Value, limit/4, head.Render, measure)
	f, _ := Fit(foot.Value, limit/4, foot.Render, measure)
	budget := limit - measure(h) - measure(f)
	var b strings.Builder
	b.WriteString(h)
	for _, p := range body {
		s := p.Render(p.Value)
		if n := measure(s); n <= budget {
			b.WriteString(s)
			budget -= n
			continue
		}
		if s, err := Fit(p.Value, budget, p.Render, measure); err == nil {
			b.WriteString(s)
		}
		break
	}
	b.WriteString(f)
	return b.String()
}
