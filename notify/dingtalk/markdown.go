package dingtalk

import (
	"strings"

	"github.com/storefence/storefence/notify"
)

// maxTitle caps markdown.title, which DingTalk shows in the conversation
// list; the text's heading is capped at a quarter of MaxText.
const maxTitle = 256

// render lays m out as DingTalk markdown: the title for the conversation
// list, and the text
//
//	### Title
//
//	#### Section
//	- **name**: value
//
//	paragraph line
//
//	> footer
//
// within MaxText bytes. Values are escaped (escape, escapeText); when the
// message is too long the body is cut inside a value, never inside an
// escape, and the footer is kept. When the robot has a keyword and the
// text would not contain it literally, the heading starts with
// "[keyword] ", as m.TitleWithKeyword does.
func render(m *notify.Message) (title, text string) {
	prefix := ""
	if t := m.TitleWithKeyword(); t != m.Title {
		prefix = "[" + m.Keyword + "] "
	}
	text = layout(m, prefix)
	if m.Keyword != "" && prefix == "" && !strings.Contains(text, m.Keyword) {
		// The keyword was only in the part cut off, or escaping changed it.
		prefix = "[" + m.Keyword + "] "
		text = layout(m, prefix)
	}
	title = notify.OneLine(prefix + m.Title)
	if strings.TrimSpace(title) == "" {
		title = "storefence"
	}
	return notify.TruncateBytes(title, maxTitle, "…"), text
}

func layout(m *notify.Message, prefix string) string {
	head := notify.Piece{Pre: "### " + prefix, Value: m.Title, Escape: escape}
	var body []notify.Piece
	for _, s := range m.Sections {
		sep := "\n\n"
		if s.Title != "" {
			body = append(body, notify.Piece{Pre: sep + "#### ", Value: s.Title, Escape: escape})
			sep = "\n"
		}
		for _, f := range s.Fields {
			body = append(body, notify.Piece{Pre: sep + "- **" + escape(f.Name) + "**: ", Value: f.Value, Escape: escape})
			sep = "\n"
		}
		if strings.TrimSpace(s.Text) != "" {
			body = append(body, notify.Piece{Pre: "\n\n", Value: s.Text, Escape: escapeText})
		}
	}
	var foot notify.Piece
	if m.Footer != "" {
		foot = notify.Piece{Pre: "\n\n> ", Value: m.Footer, Escape: escape}
	}
	return notify.FitPieces(head, body, foot, MaxText, notify.Bytes)
}

// special are the characters escape puts a backslash before: those that
// open emphasis, code, links, strike-through or HTML inline. CommonMark
// allows a backslash before any ASCII punctuation, and DingTalk's
// renderer follows it.
const special = "\\*_`[]~<>&"

// escape makes s one line of literal text.
func escape(s string) string {
	return escapeLine(notify.OneLine(s))
}

func escapeLine(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(special, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// escapeText makes s literal paragraphs, one per line of s: besides the
// inline escapes, a line does not start a heading, quote, list, rule or
// code block.
func escapeText(s string) string {
	lines := notify.Lines(s)
	for i, line := range lines {
		line = escapeLine(line)
		switch {
		case strings.ContainsRune("#-+=|", rune(line[0])):
			line = "\\" + line
		case line[0] >= '0' && line[0] <= '9':
			j := strings.IndexFunc(line, func(r rune) bool { return r < '0' || r > '9' })
			if j > 0 && (line[j] == '.' || line[j] == ')') {
				line = line[:j] + "\\" + line[j:]
			}
		}
		lines[i] = line
	}
	return strings.Join(lines, "\n\n")
}
