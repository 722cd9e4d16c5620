package feishu

import (
	"strings"

	"github.com/storefence/storefence/notify"
)

// maxTitle caps the card's title, one line of plain text.
const maxTitle = 1024

// build returns p carrying m as a card, as JSON of at most MaxBody bytes.
// The title is m.TitleWithKeyword(); should the keyword still be missing
// from both title and text (it was only in the part of the body cut off,
// or escaping changed it), the title is prefixed with it after all.
func build(p payload, m *notify.Message) ([]byte, error) {
	body, content, title, err := buildTitled(p, m, m.TitleWithKeyword())
	if err == nil && m.Keyword != "" && !strings.Contains(title, m.Keyword) && !strings.Contains(content, m.Keyword) {
		body, _, _, err = buildTitled(p, m, "["+m.Keyword+"] "+m.Title)
	}
	return body, err
}

func buildTitled(p payload, m *notify.Message, title string) (body []byte, content, t string, err error) {
	t = notify.TruncateBytes(notify.OneLine(title), maxTitle, "…")
	if strings.TrimSpace(t) == "" {
		t = "storefence"
	}
	div := &text{Tag: "lark_md"}
	p.Card = card{
		Header:   header{Title: text{Tag: "plain_text", Content: t}, Template: template(m)},
		Elements: []element{{Tag: "div", Text: div}},
	}
	empty, err := encode(p)
	if err != nil {
		return nil, "", "", notify.Permanent(kind, 0, "encode message: %v", err)
	}
	div.Content = layout(m, MaxBody-len(empty))
	if strings.TrimSpace(div.Content) == "" { // a card needs some text
		div.Content = escape(t)
	}
	if body, err = encode(p); err != nil {
		return nil, "", "", notify.Permanent(kind, 0, "encode message: %v", err)
	}
	if len(body) > MaxBody {
		return nil, "", "", notify.Permanent(kind, 0, "message is %d bytes, over feishu's %d", len(body), MaxBody)
	}
	return body, div.Content, t, nil
}

// template is the header colour for m.
func template(m *notify.Message) string {
	switch {
	case m.Resolved:
		return "green"
	case m.Severity == "critical":
		return "red"
	case m.Severity == "high":
		return "orange"
	case m.Severity == "medium":
		return "yellow"
	default: // low, info, a test
		return "blue"
	}
}

// layout renders m's body as lark_md,
//
//	**Section**
//	**name**: value
//	paragraph line
//
//	<font color='grey'>footer</font>
//
// whose JSON encoding (the measure of the body's size) is at most limit
// bytes. When the body is too long it is cut inside a value and the
// footer is kept.
func layout(m *notify.Message, limit int) string {
	var body []notify.Piece
	sep := ""
	for _, s := range m.Sections {
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
			sep = "\n"
		}
		if sep != "" {
			sep = "\n\n"
		}
	}
	var foot notify.Piece
	if m.Footer != "" {
		foot = notify.Piece{Pre: sep + "<font color='grey'>", Value: m.Footer, Post: "</font>", Escape: escape}
	}
	return notify.FitPieces(notify.Piece{}, body, foot, limit, jsonLen)
}

// entities maps the characters lark_md reads as markup to the HTML
// entities Feishu's card documentation lists for showing them
// ("需要对特殊字符进行 HTML 转义"): emphasis, strike-through, code,
// links, tags (<at>, <font>) and the escape character itself.
var entities = strings.NewReplacer(
	"&", "&#38;", "<", "&#60;", ">", "&#62;", "*", "&#42;", "~", "&#126;",
	"_", "&#95;", "`", "&#96;", "[", "&#91;", "]", "&#93;", "\\", "&#92;",
)

// escape makes s one line of literal text.
func escape(s string) string {
	return entities.Replace(notify.OneLine(s))
}

// escapeText makes s literal lines.
func escapeText(s string) string {
	lines := notify.Lines(s)
	for i, line := range lines {
		lines[i] = entities.Replace(line)
	}
	return strings.Join(lines, "\n")
}

// jsonLen is how many bytes s takes inside a JSON string as encode writes
// it. It adds up over concatenation of valid UTF-8, as FitPieces needs.
func jsonLen(s string) int {
	b, _ := encode(s)
	return len(b) - 2
}
