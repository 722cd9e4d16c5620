package wecom

import (
	"strings"

	"github.com/storefence/storefence/notify"
)

// render lays m out in WeCom's markdown subset (headings, bold, font
// colours, quotes, links, inline code; no lists):
//
//	### <font color="warning">Title</font>
//
//	**Section**
//	**name**: value
//	paragraph line
//
//	<font color="comment">footer</font>
//
// within MaxMarkdown bytes. The title is coloured by severity: "warning"
// (orange-red) for critical and high, "info" (green) when resolved. When
// the message is too long the body is cut inside a value and the footer
// is kept.
func render(m *notify.Message) string {
	fontOn, fontOff := "", ""
	switch {
	case m.Resolved:
		fontOn, fontOff = `<font color="info">`, "</font>"
	case m.Severity == "critical" || m.Severity == "high":
		fontOn, fontOff = `<font color="warning">`, "</font>"
	}
	head := notify.Piece{Pre: "### " + fontOn, Value: m.TitleWithKeyword(), Post: fontOff, Escape: escape}
	var body []notify.Piece
	for _, s := range m.Sections {
		sep := "\n\n"
		if s.Title != "" {
			body = append(body, notify.Piece{Pre: sep + "**", Value: s.Title, Post: "**", Escape: escape})
			sep = "\n"
		}
		for _, f := range s.Fields {
			body = append(body, notify.Piece{Pre: sep + "**" + escape(f.Name) + "**: ", Value: f.Value, Escape: escape})
			sep = "\n"
		}
		if strings.TrimSpace(s.Text) != "" {
			body = append(body, notify.Piece{Pre: sep, Value: s.Text, Escape: escapeText})
		}
	}
	var foot notify.Piece
	if m.Footer != "" {
		foot = notify.Piece{Pre: "\n\n" + `<font color="comment">`, Value: m.Footer, Post: "</font>", Escape: escape}
	}
	return notify.FitPieces(head, body, foot, MaxMarkdown, notify.Bytes)
}

// lookalike maps the characters WeCom's markdown reads as markup to their
// full-width forms. WeCom documents no escape (a backslash or an HTML
// entity may well be shown as typed), so a value is kept literal by
// showing, say, "＜@all＞" for "<@all>", which a reader still reads
// right and which cannot open a tag, a mention, bold, code or a link.
var lookalike = strings.NewReplacer(
	"<", "＜", ">", "＞", "*", "＊", "`", "｀", "[", "［", "]", "］",
)

// escape makes s one line of literal text.
func escape(s string) string {
	return lookalike.Replace(notify.OneLine(s))
}

// escapeText makes s literal lines; besides escape's replacements, a line
// does not start a heading.
func escapeText(s string) string {
	lines := notify.Lines(s)
	for i, line := range lines {
		line = lookalike.Replace(line)
		if line[0] == '#' {
			line = "＃" + line[1:]
		}
		lines[i] = line
	}
	return strings.Join(lines, "\n")
}
