// Package notifytest provides local receivers that stand in for the chat
// vendors in tests: each verifies what it receives (signatures with its
// own implementation of the vendor's documented algorithm, payload shape,
// size limits), records what it accepted, and answers with the vendor's
// real success and error shapes. A script of faults (outages, rate limits,
// errors inside HTTP 200) can be queued on any receiver.
package notifytest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"
)

// Fault is one scripted answer, used instead of the receiver's normal
// handling for one request.
type Fault struct {
	Status int               // HTTP status
	Header map[string]string // extra headers, e.g. Retry-After
	Body   string            // the body as the vendor would send it
	Hang   time.Duration     // wait this long (or until the client gives up) before answering
}

// Delivery is one request a receiver accepted.
type Delivery struct {
	Header http.Header
	Body   []byte
	Text   string // the message text the receiver extracted from the payload
}

// Receiver is the shared machinery of every fake vendor: an HTTP server,
// its fault script, and the record of accepted and rejected requests.
type Receiver struct {
	Server *httptest.Server

	mu       sync.Mutex
	faults   []Fault
	down     bool
	accepted []Delivery
	rejected []string // why each rejected request was rejected
	requests int
}

// Start starts r's server; handle verifies one request and returns either
// the extracted text of an accepted message or a rejection to answer with.
// The kind-specific constructors (NewDingTalk, ...) call it.
func (r *Receiver) start(handle func(req *http.Request, body []byte) (text string, reject *Fault, why string)) {
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
		r.mu.Lock()
		r.requests++
		var f *Fault
		if r.down {
			f = &Fault{Status: http.StatusServiceUnavailable, Body: "down"}
		} else if len(r.faults) > 0 {
			f = &r.faults[0]
			r.faults = r.faults[1:]
		}
		r.mu.Unlock()
		if f != nil {
			answer(w, req, *f)
			return
		}
		text, reject, why := handle(req, body)
		if reject != nil {
			r.mu.Lock()
			r.rejected = append(r.rejected, why)
			r.mu.Unlock()
			answer(w, req, *reject)
			return
		}
		r.mu.Lock()
		r.accepted = append(r.accepted, Delivery{Header: req.Header.Clone(), Body: body, Text: text})
		r.mu.Unlock()
	}))
}

func answer(w http.ResponseWriter, req *http.Request, f Fault) {
	if f.Hang > 0 {
		select {
		case <-time.After(f.Hang):
		case <-req.Context().Done():
			return
		}
	}
	for k, v := range f.Header {
		w.Header().Set(k, v)
	}
	if f.Status == 0 {
		f.Status = http.StatusOK
	}
	w.WriteHeader(f.Status)
	io.WriteString(w, f.Body)
}

// URL is the receiver's base URL.
func (r *Receiver) URL() string { return r.Server.URL }

// Close stops the receiver.
func (r *Receiver) Close() { r.Server.Close() }

// Script queues faults, answered in order to the next requests.
func (r *Receiver) Script(f ...Fault) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults = append(r.faults, f...)
}

// SetDown makes every request fail with 503 until SetDown(false).
func (r *Receiver) SetDown(down bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.down = down
}

// Accepted returns the deliveries accepted so far.
func (r *Receiver) Accepted() []Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Delivery(nil), r.accepted...)
}

// Rejected returns why each rejected request was rejected.
func (r *Receiver) Rejected() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.rejected...)
}

// Requests returns how many requests arrived, faults included.
func (r *Receiver) Requests() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests
}
