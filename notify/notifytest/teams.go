package notifytest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Teams is a fake Microsoft Teams Workflows webhook (protocols.md
// section 2.6): the "When a Teams webhook request is received" trigger of
// a Power Automate flow. It checks the path and the sig parameter (401
// otherwise, as Logic Apps does), the message envelope
// ({"type": "message", "attachments": [...]}) with an
// application/vnd.microsoft.card.adaptive attachment whose content is an
// AdaptiveCard of version 1.0 to 1.5 whose body holds TextBlocks (with
// text), FactSets (with facts) and Containers of them. A body over 28 KB,
// which Teams would fail to post after the flow accepted it, is refused
// with 413 so that tests notice. Errors are Logic Apps' {"error": {"code",
// "message"}}.
//
// It answers 202 Accepted with no body. A Delivery's Text is the card's
// TextBlock texts and "title: value" facts, one per line.
type Teams struct {
	Receiver
}

// The workflow of every fake Teams webhook; TeamsSig is the credential.
const (
	TeamsPath = "/workflows/0a1b2c3d4e5f40718293a4b5c6d7e8f9/triggers/manual/paths/invoke"
	TeamsSig  = "fAkEsIgNaTuRe0123456789abcdefghijklmnopqrs"
)

// TeamsMaxBody is the message size Teams documents, 28 KB.
const TeamsMaxBody = 28 << 10

// NewTeams starts a fake Teams Workflows webhook. Close it when done.
func NewTeams() *Teams {
	t := &Teams{}
	startReplying(&t.Receiver, t.handle, func(*http.Request, string) Fault {
		return Fault{Status: http.StatusAccepted}
	})
	return t
}

// WorkflowURL is the URL a notifier should post to.
func (t *Teams) WorkflowURL() string {
	return t.URL() + TeamsPath + "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=" + TeamsSig
}

type teamsElement struct {
	Type  string          `json:"type"`
	Text  *string         `json:"text"`
	Facts json.RawMessage `json:"facts"`
	Items []teamsElement  `json:"items"`
}

func (t *Teams) handle(req *http.Request, body []byte) (string, *Fault, string) {
	if req.Method != http.MethodPost {
		return "", teamsError(http.StatusMethodNotAllowed, "InvalidHttpMethod", "The HTTP method is not allowed."), "method " + req.Method
	}
	if req.URL.Path != TeamsPath {
		return "", teamsError(http.StatusNotFound, "WorkflowNotFound", "The workflow could not be found."), "path " + req.URL.Path
	}
	if req.URL.Query().Get("sig") != TeamsSig {
		return "", teamsError(http.StatusUnauthorized, "DirectApiInvalidAuthorizationSignature", "The provided authorization signature is invalid."), "bad sig"
	}
	if len(body) > TeamsMaxBody {
		return "", teamsError(http.StatusRequestEntityTooLarge, "MessageTooLarge", "The message exceeds 28 KB."), fmt.Sprintf("%d bytes", len(body))
	}
	bad := func(why string) (string, *Fault, string) {
		return "", teamsError(http.StatusBadRequest, "InvalidRequestContent", "The request content is not valid: "+why), why
	}
	if !strings.HasPrefix(req.Header.Get("Content-Type"), "application/json") {
		return bad("content type " + req.Header.Get("Content-Type"))
	}
	var p struct {
		Type        string `json:"type"`
		Attachments []struct {
			ContentType string          `json:"contentType"`
			ContentURL  json.RawMessage `json:"contentUrl"`
			Content     *struct {
				Type    string         `json:"type"`
				Version string         `json:"version"`
				Body    []teamsElement `json:"body"`
			} `json:"content"`
		} `json:"attachments"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return bad("body is not json: " + err.Error())
	}
	if p.Type != "message" || len(p.Attachments) == 0 {
		return bad(fmt.Sprintf("type %q with %d attachments, want a message with attachments", p.Type, len(p.Attachments)))
	}
	var lines []string
	for i, a := range p.Attachments {
		if a.ContentType != "application/vnd.microsoft.card.adaptive" || a.Content == nil {
			return bad(fmt.Sprintf("attachment %d: content type %q", i, a.ContentType))
		}
		if a.Content.Type != "AdaptiveCard" || !teamsVersion(a.Content.Version) {
			return bad(fmt.Sprintf("attachment %d: %q version %q, want an AdaptiveCard of version 1.0 to 1.5", i, a.Content.Type, a.Content.Version))
		}
		if why := teamsWalk(a.Content.Body, &lines); why != "" {
			return bad(fmt.Sprintf("attachment %d: %s", i, why))
		}
	}
	return strings.Join(lines, "\n"), nil, ""
}

// teamsWalk checks card elements and collects their text.
func teamsWalk(els []teamsElement, lines *[]string) string {
	for i, e := range els {
		switch e.Type {
		case "TextBlock":
			if e.Text == nil {
				return fmt.Sprintf("element %d: TextBlock without text", i)
			}
			*lines = append(*lines, *e.Text)
		case "FactSet":
			var facts []struct {
				Title *string `json:"title"`
				Value *string `json:"value"`
			}
			if json.Unmarshal(e.Facts, &facts) != nil || len(facts) == 0 {
				return fmt.Sprintf("element %d: FactSet without facts", i)
			}
			for j, f := range facts {
				if f.Title == nil || f.Value == nil {
					return fmt.Sprintf("element %d: fact %d without title or value", i, j)
				}
				*lines = append(*lines, *f.Title+": "+*f.Value)
			}
		case "Container":
			if why := teamsWalk(e.Items, lines); why != "" {
				return fmt.Sprintf("element %d: %s", i, why)
			}
		default:
			return fmt.Sprintf("element %d: type %q", i, e.Type)
		}
	}
	return ""
}

// teamsVersion reports whether v is an Adaptive Card version Teams
// renders, 1.0 to 1.5.
func teamsVersion(v string) bool {
	major, minor, ok := strings.Cut(v, ".")
	n, err := strconv.Atoi(minor)
	return ok && major == "1" && err == nil && n >= 0 && n <= 5
}

func teamsError(status int, code, message string) *Fault {
	b, _ := json.Marshal(map[string]any{"error": map[string]string{"code": code, "message": message}})
	return &Fault{Status: status, Header: map[string]string{"Content-Type": "application/json"}, Body: string(b)}
}
