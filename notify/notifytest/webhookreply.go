package notifytest

import (
	"context"
	"net/http"
	"net/http/httptest"
)

// replyKey keys the replyNote of one request in its context.
type replyKey struct{}

// replyNote carries what the handler accepted to the reply.
type replyNote struct {
	accepted bool
	text     string
}

// startReplying starts r with handle, like Receiver.start, and answers an
// accepted request with reply(text), text being what handle extracted:
// Slack answers 200 "ok", Discord 204, Teams 202 and Telegram a JSON
// object holding the message, where start answers 200 with no body. It
// serves start's handler from a second server rather than swapping the
// running server's handler, which would race with it.
func startReplying(r *Receiver, handle func(*http.Request, []byte) (string, *Fault, string), reply func(req *http.Request, text string) Fault) {
	r.start(func(req *http.Request, body []byte) (string, *Fault, string) {
		text, f, why := handle(req, body)
		if n, ok := req.Context().Value(replyKey{}).(*replyNote); ok && f == nil {
			n.accepted, n.text = true, text
		}
		return text, f, why
	})
	inner := r.Server.Config.Handler
	r.Server.Close()
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		n := new(replyNote)
		req = req.WithContext(context.WithValue(req.Context(), replyKey{}, n))
		inner.ServeHTTP(w, req)
		if n.accepted { // start wrote nothing for it
			answer(w, req, reply(req, n.text))
		}
	}))
}
