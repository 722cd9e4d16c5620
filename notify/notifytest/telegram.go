package notifytest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf16"
)

// Telegram is a fake Telegram Bot API (protocols.md section 2.7) that
// serves sendMessage for one bot and one chat. It checks the token in the
// path (401 "Unauthorized" otherwise, 404 "Not Found" for another
// method), chat_id (400 "Bad Request: chat not found"), parse_mode
// (MarkdownV2 or none), parses MarkdownV2 as the Bot API does
// (ParseMarkdownV2: 400 "Bad Request: can't parse entities: ..."), and
// checks the visible text: 1 to 4096 UTF-16 code units (400 "Bad Request:
// message text is empty", "Bad Request: message is too long").
//
// It answers {"ok": true, "result": <the Message>}, errors as {"ok":
// false, "error_code", "description"} with the same HTTP status. A
// Delivery's Text is the visible text.
type Telegram struct {
	Receiver
}

// The bot and chat of every fake Telegram; the token is the credential.
const (
	TelegramToken  = "123456789:AAFakeTelegramTokenForTests_0123456789"
	TelegramChatID = "-1001234567890"
)

// TelegramMaxText is the most visible UTF-16 code units in a message.
const TelegramMaxText = 4096

// NewTelegram starts a fake Telegram Bot API. Close it when done.
func NewTelegram() *Telegram {
	t := &Telegram{}
	startReplying(&t.Receiver, t.handle, func(_ *http.Request, text string) Fault {
		chat, _ := strconv.ParseInt(TelegramChatID, 10, 64)
		return *telegramAnswer(http.StatusOK, map[string]any{"ok": true, "result": map[string]any{
			"message_id": 42,
			"date":       1748768400,
			"chat":       map[string]any{"id": chat, "title": "storefence ops", "type": "supergroup"},
			"text":       text,
		}})
	})
	return t
}

// BaseURL is the Bot API base, with the token, that a notifier is
// configured with; it posts to BaseURL() + "/sendMessage".
func (t *Telegram) BaseURL() string { return t.URL() + "/bot" + TelegramToken }

func (t *Telegram) handle(req *http.Request, body []byte) (string, *Fault, string) {
	bad := func(description string) (string, *Fault, string) {
		return "", telegramError(http.StatusBadRequest, description), description
	}
	method, ok := strings.CutPrefix(req.URL.Path, "/bot"+TelegramToken+"/")
	switch {
	case !ok:
		return "", telegramError(http.StatusUnauthorized, "Unauthorized"), "unknown token"
	case !strings.EqualFold(method, "sendMessage"):
		return "", telegramError(http.StatusNotFound, "Not Found"), "method " + method
	}
	if !strings.HasPrefix(req.Header.Get("Content-Type"), "application/json") {
		return bad("Bad Request: message text is empty")
	}
	var p struct {
		ChatID    json.RawMessage `json:"chat_id"`
		Text      string          `json:"text"`
		ParseMode string          `json:"parse_mode"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return bad("Bad Request: invalid JSON: " + err.Error())
	}
	var chat string
	if json.Unmarshal(p.ChatID, &chat) != nil {
		chat = string(p.ChatID) // a number
	}
	if chat != TelegramChatID {
		return bad("Bad Request: chat not found")
	}
	text := p.Text
	switch p.ParseMode {
	case "MarkdownV2":
		visible, err := ParseMarkdownV2(p.Text)
		if err != nil {
			return bad("Bad Request: can't parse entities: " + err.Error())
		}
		text = visible
	case "":
	default:
		return bad("Bad Request: unsupported parse_mode")
	}
	if strings.TrimSpace(text) == "" {
		return bad("Bad Request: message text is empty")
	}
	if n := len(utf16.Encode([]rune(text))); n > TelegramMaxText {
		return bad("Bad Request: message is too long")
	}
	return text, nil, ""
}

func telegramError(status int, description string) *Fault {
	return telegramAnswer(status, map[string]any{"ok": false, "error_code": status, "description": description})
}

func telegramAnswer(status int, v map[string]any) *Fault {
	b, _ := json.Marshal(v)
	return &Fault{Status: status, Header: map[string]string{"Content-Type": "application/json"}, Body: string(b)}
}

// ParseMarkdownV2 parses s as the Bot API parses a MarkdownV2 message
// and returns its visible text, or the error the Bot API describes after
// "can't parse entities: ". It follows the documented rules (and tdlib's
// parse_markdown_v2): a backslash before a character of code 1 to 126
// makes it literal; elsewhere a backslash is literal; outside code every
// one of _ * [ ] ( ) ~ ` > # + - = | { } . ! either opens or closes an
// entity (*bold*, _italic_, __underline__, ~strikethrough~, ||spoiler||,
// `code`, ```pre```, [text](url), ![emoji](url), > a quote at the start
// of a line) or is an error; inside code and pre only ` is reserved;
// only the innermost open entity can close; every entity must close.
func ParseMarkdownV2(s string) (string, error) {
	at := func(i int) byte { // 0 past the end, like the C string tdlib reads
		if i < len(s) {
			return s[i]
		}
		return 0
	}
	type open struct {
		kind string
		at   int
	}
	var stack []open
	var out strings.Builder
	reserved := func(c byte) error {
		return markdownV2Error(fmt.Sprintf("Character '%c' is reserved and must be escaped with the preceding '\\'", c))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && at(i+1) >= 1 && at(i+1) <= 126 {
			i++
			out.WriteByte(s[i])
			continue
		}
		top := ""
		if len(stack) > 0 {
			top = stack[len(stack)-1].kind
		}
		inCode := top == "Code" || top == "Pre"
		if c == '>' && !inCode && (i == 0 || s[i-1] == '\n') {
			continue // a quote: the mark is not shown
		}
		if inCode && c != '`' || !inCode && !strings.ContainsRune("_*[]()~`>#+-=|{}.!", rune(c)) {
			out.WriteByte(c)
			continue
		}
		// The end of the innermost entity?
		end := false
		switch top {
		case "Bold":
			end = c == '*'
		case "Italic":
			end = c == '_' && at(i+1) != '_'
		case "Underline":
			end = c == '_' && at(i+1) == '_'
		case "Strikethrough":
			end = c == '~'
		case "Spoiler":
			end = c == '|' && at(i+1) == '|'
		case "Code":
			end = c == '`'
		case "Pre":
			end = c == '`' && at(i+1) == '`' && at(i+2) == '`'
			if !end {
				return "", reserved(c)
			}
		case "TextUrl", "CustomEmoji":
			end = c == ']'
		}
		if end {
			switch top {
			case "Underline", "Spoiler":
				i++
			case "Pre":
				i += 2
			case "TextUrl", "CustomEmoji":
				if at(i+1) == '(' {
					begin := i + 2
					i += 2
					for i < len(s) && s[i] != ')' {
						if s[i] == '\\' && at(i+1) >= 1 && at(i+1) <= 126 {
							i++
						}
						i++
					}
					if i >= len(s) {
						return "", markdownV2Error(fmt.Sprintf("Can't find end of a URL at byte offset %d", begin))
					}
				} else if top == "CustomEmoji" {
					return "", markdownV2Error("Custom emoji entity must contain a tg://emoji URL")
				}
			}
			stack = stack[:len(stack)-1]
			continue
		}
		// The start of an entity.
		o := open{at: i}
		switch c {
		case '_':
			o.kind = "Italic"
			if at(i+1) == '_' {
				o.kind = "Underline"
				i++
			}
		case '*':
			o.kind = "Bold"
		case '~':
			o.kind = "Strikethrough"
		case '|':
			if at(i+1) != '|' {
				return "", reserved(c)
			}
			o.kind = "Spoiler"
			i++
		case '[':
			o.kind = "TextUrl"
		case '!':
			if at(i+1) != '[' {
				return "", reserved(c)
			}
			o.kind = "CustomEmoji"
			i++
		case '`':
			o.kind = "Code"
			if at(i+1) == '`' && at(i+2) == '`' {
				o.kind = "Pre"
				i += 2
				// An optional language, up to the first line break.
				if j := strings.IndexAny(s[i+1:], " \t\n`"); j > 0 && s[i+1+j] == '\n' {
					i += j + 1
				} else if at(i+1) == '\n' {
					i++
				}
			}
		default:
			return "", reserved(c)
		}
		stack = append(stack, o)
	}
	if len(stack) > 0 {
		o := stack[len(stack)-1]
		return "", markdownV2Error(fmt.Sprintf("Can't find end of %s entity at byte offset %d", o.kind, o.at))
	}
	return out.String(), nil
}

// markdownV2Error is a parse error in the Bot API's words, capitalised as
// it writes them.
type markdownV2Error string

func (e markdownV2Error) Error() string { return string(e) }
