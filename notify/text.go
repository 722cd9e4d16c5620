package notify

import "strings"

// Plain is m laid out as plain text: the title, each section (its title,
// "name: value" lines, its text) and the footer, separated by blank lines.
// Integrations without rich layout send it; the others use it as the
// notification fallback.
func (m *Message) Plain() string {
	var b strings.Builder
	b.WriteString(m.Title)
	for _, s := range m.Sections {
		b.WriteString("\n\n")
		b.WriteString(s.Title)
		for _, f := range s.Fields {
			b.WriteString("\n")
			b.WriteString(f.Name)
			b.WriteString(": ")
			b.WriteString(f.Value)
		}
		if s.Text != "" {
			b.WriteString("\n")
			b.WriteString(s.Text)
		}
	}
	if m.Footer != "" {
		b.WriteString("\n\n")
		b.WriteString(m.Footer)
	}
	return b.String()
}

// TitleWithKeyword returns m's title, prefixed with "[keyword] " when the
// keyword is set and appears nowhere in the message: DingTalk and Feishu
// reject a message without one of the robot's keywords, recoveries
// included.
func (m *Message) TitleWithKeyword() string {
	if m.Keyword == "" || strings.Contains(m.Plain(), m.Keyword) {
		return m.Title
	}
	return "[" + m.Keyword + "] " + m.Title
}

// OneLine is s as one line of valid UTF-8, for a title or a value: invalid
// bytes become U+FFFD, and line breaks and tabs spaces.
func OneLine(s string) string {
	return oneLiner.Replace(strings.ToValidUTF8(s, "\uFFFD"))
}

var oneLiner = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ", "\t", " ")

// Lines is s's lines as valid UTF-8, for a paragraph: invalid bytes
// become U+FFFD, tabs spaces, each line is trimmed and blank lines are
// left out.
func Lines(s string) []string {
	var out []string
	for _, line := range strings.Split(strings.ToValidUTF8(s, "\uFFFD"), "\n") {
		if line = strings.TrimSpace(strings.ReplaceAll(line, "\t", " ")); line != "" {
			out = append(out, line)
		}
	}
	return out
}
