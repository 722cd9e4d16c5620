package server

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
)

// FuzzIngest sends arbitrary bodies with a valid token: the server answers
// each with a status of the contract and never panics or fails with 5xx.
func FuzzIngest(f *testing.F) {
	f.Add([]byte(`{"schema":"storefence.report/v1","id":"r1","agent":"vps-a","stores":["shop-a"],"collected_at":"2026-11-22T09:59:00Z"}`), false)
	f.Add(gz([]byte(`{"schema":"storefence.report/v1","id":"r2","agent":"vps-a","collected_at":"2026-11-22T09:59:00Z","public_ip":{"v4":"203.0.113.7"}}`)), true)
	f.Add([]byte(`{"schema":`), false)
	fx := newFixture(f, nil, "vps-a")
	h := fx.srv.Handler()
	f.Fuzz(func(t *testing.T, body []byte, gzipped bool) {
		req := httptest.NewRequest(http.MethodPost, "/api/v1/reports", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+fx.tokens["vps-a"])
		if gzipped {
			req.Header.Set("Content-Encoding", "gzip")
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch w.Code {
		case 200, 202, 400, 403, 413, 429:
		default:
			t.Fatalf("status %d for %q: %s", w.Code, body, w.Body)
		}
	})
}
