package notify

import "strings"

// FitMessage returns m when measure(m) <= limit, and otherwise the longest
// cut of m that fits. measure renders a message the way an integration
// sends it (escaped, laid out, perhaps encoded) and sizes the result, so
// a message is only ever cut in its plain text, never inside an escape or
// a markup construct, and every integration keeps its own layout.
//
// A cut keeps a prefix of m's text in this order: the title, the footer
// (one short line worth keeping), then each section's title, field names
// and values, and text. The piece the cut falls in ends in "…"; the pieces
// after it are dropped (empty strings for the title, footer and section
// text; missing for fields and sections). Invalid UTF-8 in a cut message
// is replaced by U+FFFD. measure should grow with the text kept, as it
// does for every rendering that escapes or lays out text, for the longest
// cut to be found; the result fits whatever measure does. The error says
// that not even the shortest cut fits.
func FitMessage(m *Message, limit int, measure func(*Message) int) (*Message, error) {
	if measure(m) <= limit {
		return m, nil
	}
	c := validMessage(m)
	text := messageText(c)
	cut := func(p string) *Message {
		if p == text {
			return c
		}
		return cutMessage(c, len(p)-len(ellipsis))
	}
	p, err := Fit(text, limit, func(s string) string { return s }, func(p string) int { return measure(cut(p)) })
	if err != nil {
		return nil, err
	}
	return cut(p), nil
}

// ellipsis is the suffix Fit appends to a cut text.
const ellipsis = "…"

// validMessage is a copy of m with invalid UTF-8 replaced, so that the
// runes Fit counts are m's bytes.
func validMessage(m *Message) *Message {
	v := func(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }
	c := *m
	c.Title, c.Footer = v(m.Title), v(m.Footer)
	c.Sections = make([]Section, len(m.Sections))
	for i, s := range m.Sections {
		cs := Section{Title: v(s.Title), Text: v(s.Text), Fields: make([]Field, len(s.Fields))}
		for j, f := range s.Fields {
			cs.Fields[j] = Field{Name: v(f.Name), Value: v(f.Value)}
		}
		c.Sections[i] = cs
	}
	return &c
}

// messageText is m's text pieces in the order a cut keeps them.
func messageText(m *Message) string {
	var b strings.Builder
	b.WriteString(m.Title)
	b.WriteString(m.Footer)
	for _, s := range m.Sections {
		b.WriteString(s.Title)
		for _, f := range s.Fields {
			b.WriteString(f.Name)
			b.WriteString(f.Value)
		}
		b.WriteString(s.Text)
	}
	return b.String()
}

// cutMessage keeps the first n bytes of messageText(m): the piece that
// loses something ends in ellipsis, the pieces after it are dropped.
func cutMessage(m *Message, n int) *Message {
	cut := false
	take := func(s string) string {
		switch {
		case cut:
			return ""
		case len(s) <= n:
			n -= len(s)
			return s
		}
		cut = true
		return s[:n] + ellipsis
	}
	c := *m
	c.Title = take(m.Title)
	c.Footer = take(m.Footer)
	c.Sections = nil
	for _, s := range m.Sections {
		if cut {
			break
		}
		cs := Section{Title: take(s.Title)}
		for _, f := range s.Fields {
			if cut {
				break
			}
			cs.Fields = append(cs.Fields, Field{Name: take(f.Name), Value: take(f.Value)})
		}
		cs.Text = take(s.Text)
		c.Sections = append(c.Sections, cs)
	}
	return &c
}
