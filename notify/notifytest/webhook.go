package notifytest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/storefence/storefence/notify"
)

// Webhook is a fake receiver of storefence's generic webhook, written as
// a user would write one from the notify/webhook package documentation.
// When it has a secret it requires X-Storefence-Timestamp within five
// minutes of its clock and X-Storefence-Signature equal to "sha256=" +
// hex(HMAC-SHA256(secret, timestamp + "." + body)), answering 401
// otherwise. It checks the body's schema ("storefence.notification/v1")
// and that its id is X-Storefence-Delivery (400 otherwise), and counts
// the deliveries it had already accepted (a repeat is still answered 200,
// as a receiver that drops it would).
//
// It answers 200 with no body. A Delivery's Text is the message laid out
// by notify.Message.Plain.
type Webhook struct {
	Receiver

	secret string
	now    func() time.Time

	mu      sync.Mutex
	seen    map[string]bool
	repeats int
}

// WebhookPath is the path of every fake webhook receiver.
const WebhookPath = "/hooks/storefence"

// WebhookMaxSkew is how far from its clock the fake accepts a timestamp.
const WebhookMaxSkew = 5 * time.Minute

// NewWebhook starts a fake webhook receiver that requires signatures
// under secret when it is set, with now as its clock (time.Now when nil).
// Close it when done.
func NewWebhook(secret string, now func() time.Time) *Webhook {
	if now == nil {
		now = time.Now
	}
	w := &Webhook{secret: secret, now: now, seen: map[string]bool{}}
	w.start(w.handle)
	return w
}

// WebhookURL is the URL a notifier should post to.
func (w *Webhook) WebhookURL() string { return w.URL() + WebhookPath }

// Repeats returns how many accepted deliveries repeated an id accepted
// before.
func (w *Webhook) Repeats() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.repeats
}

func (w *Webhook) handle(req *http.Request, body []byte) (string, *Fault, string) {
	refuse := func(status int, why string) (string, *Fault, string) {
		b, _ := json.Marshal(map[string]string{"error": why})
		return "", &Fault{Status: status, Header: map[string]string{"Content-Type": "application/json"}, Body: string(b)}, why
	}
	if req.Method != http.MethodPost {
		return refuse(http.StatusMethodNotAllowed, "method "+req.Method)
	}
	if req.URL.Path != WebhookPath {
		return refuse(http.StatusNotFound, "not found")
	}
	if w.secret != "" {
		ts, sig := req.Header.Get("X-Storefence-Timestamp"), req.Header.Get("X-Storefence-Signature")
		if ts == "" || sig == "" {
			return refuse(http.StatusUnauthorized, "unsigned")
		}
		sec, err := strconv.ParseInt(ts, 10, 64)
		if err != nil {
			return refuse(http.StatusUnauthorized, "bad timestamp")
		}
		if d := w.now().Sub(time.Unix(sec, 0)); d > WebhookMaxSkew || d < -WebhookMaxSkew {
			return refuse(http.StatusUnauthorized, "stale timestamp")
		}
		mac := hmac.New(sha256.New, []byte(w.secret))
		mac.Write([]byte(ts + "." + string(body)))
		want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
		if !hmac.Equal([]byte(sig), []byte(want)) {
			return refuse(http.StatusUnauthorized, "bad signature")
		}
	}
	if !strings.HasPrefix(req.Header.Get("Content-Type"), "application/json") {
		return refuse(http.StatusUnsupportedMediaType, "content type "+req.Header.Get("Content-Type"))
	}
	var p struct {
		Schema string `json:"schema"`
		notify.Message
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return refuse(http.StatusBadRequest, "body is not json: "+err.Error())
	}
	switch {
	case p.Schema != "storefence.notification/v1":
		return refuse(http.StatusBadRequest, "schema "+strconv.Quote(p.Schema))
	case p.ID == "" || p.ID != req.Header.Get("X-Storefence-Delivery"):
		return refuse(http.StatusBadRequest, "id does not match X-Storefence-Delivery")
	case p.Title == "":
		return refuse(http.StatusBadRequest, "no title")
	}
	w.mu.Lock()
	if w.seen[p.ID] {
		w.repeats++
	}
	w.seen[p.ID] = true
	w.mu.Unlock()
	return p.Plain(), nil, ""
}
