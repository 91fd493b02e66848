package hlr

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
)

// FuzzHandler feeds arbitrary bodies, paths and content types to the handler
// of every change route: it must never panic or answer 5xx, and every
// refusal must be a problem document with its status.
func FuzzHandler(f *testing.F) {
	for _, seed := range []struct {
		route       uint8
		path, ctype string
		body        []byte
	}{
		{0, "", "application/json", []byte(`{"msisdn":"447700900001","imsi":"234150000000001","iccid":"8944100000000000018"}`)},
		{1, "447700900001", "application/json", []byte(`{"imsi":"234150000000002","iccid":"8944100000000000026"}`)},
		{2, "447700900001", "application/json; charset=utf-8", []byte(`{"enabled":true,"language":"en"}`)},
		{3, "447700900001/forwarding/busy", "application/json", []byte(`{"number":"447700900123"}`)},
		{4, "447700900001", "application/json", []byte(`{"all":true,"data":false}`)},
		{5, "447700900001/forwarding/busy", "", nil},
		{0, "", "application/json", []byte(`{"msisdn":1e999}`)},
		{2, "447700900001", "application/json", []byte(`{"enabled":true,"language":"\ud800"}`)},
		{4, "x%2F..", "text/plain", []byte("\x00\xff[")},
	} {
		f.Add(seed.route, seed.path, seed.ctype, seed.body)
	}
	s, err := New(Config{Token: "t", Log: slog.New(slog.DiscardHandler), MaxKeys: 1000})
	if err != nil {
		f.Fatal(err)
	}
	h := s.Handler()
	routes := []struct{ method, prefix, suffix string }{
		{"POST", "/v1/subscribers", ""},
		{"PUT", "/v1/subscribers/", "/sim"},
		{"PUT", "/v1/subscribers/", "/voicemail"},
		{"PUT", "/v1/subscribers/", ""},
		{"PUT", "/v1/subscribers/", "/barring"},
		{"DELETE", "/v1/subscribers/", ""},
	}
	key := 0
	f.Fuzz(func(t *testing.T, route uint8, path, ctype string, body []byte) {
		rt := routes[int(route)%len(routes)]
		target := rt.prefix
		if rt.prefix != "/v1/subscribers" {
			target += path + rt.suffix
		}
		req, err := http.NewRequest(rt.method, "http://hlr.test/", bytes.NewReader(body))
		if err != nil {
			t.Skip()
		}
		req.URL.Path, req.URL.RawPath = "", ""
		req.URL.Opaque = target // the path exactly as fuzzed, escapes and all
		req.RequestURI = target
		req.Header.Set("Authorization", "Bearer t")
		req.Header.Set("Content-Type", ctype)
		key++
		req.Header.Set("Idempotency-Key", "k"+strconv.Itoa(key))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code >= 500 || w.Code < 200 {
			t.Fatalf("%s %q: %d %s", rt.method, target, w.Code, w.Body)
		}
		if w.Code >= 400 {
			var p problem
			if ct := w.Header().Get("Content-Type"); ct != contentTypeProblem {
				t.Fatalf("%d with Content-Type %q", w.Code, ct)
			}
			if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Status != w.Code || p.Code == "" {
				t.Fatalf("%d with problem %s (%v)", w.Code, w.Body, err)
			}
		}
	})
}

// TestDecodeJSON pins the decoder's refusals, which callers see as details.
func TestDecodeJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, wantErr string
	}{
		{"ok", `{"all":true,"data":false}`, ""},
		{"ok with space", " \n{\"all\":true} \n", ""},
		{"empty", "", "the body is empty; want a JSON object"},
		{"spaces", "  \n", "the body is empty; want a JSON object"},
		{"array", "[]", "the body is not a JSON object"},
		{"null", "null", "the body is not a JSON object"},
		{"cut", `{"all":`, "the JSON object is cut short"},
		{"syntax", `{"all":tru}`, "invalid JSON at byte 11: invalid character '}' in literal true (expecting 'e')"},
		{"type", `{"all":"yes"}`, `member "all": want a boolean, got string`},
		{"unknown", `{"al":true}`, `unknown member "al"`},
		{"trailing", `{"all":true} x`, "data after the JSON object"},
		{"trailing object", `{"all":true}{}`, "data after the JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var b barringRequest
			err := decodeJSON([]byte(tt.body), &b)
			if got := errString(err); got != tt.wantErr {
				t.Errorf("decodeJSON(%q) = %q, want %q", tt.body, got, tt.wantErr)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
