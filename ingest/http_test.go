package ingest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/simcore/simcore/ingest"
	"github.com/simcore/simcore/internal/testenv"
)

const pushToken = "s3cret-feed-token"

// newPushServer serves a PushHandler on 127.0.0.1 in front of env's pipeline.
func newPushServer(t *testing.T, env *testEnv, maxBody int64) string {
	t.Helper()
	srv := httptest.NewServer(&ingest.PushHandler{Pipeline: env.p, Log: env.log, Token: pushToken, MaxBody: maxBody})
	t.Cleanup(srv.Close)
	return srv.URL + "/v1/ingest"
}

type pushReply struct {
	status  int
	header  http.Header
	summary ingest.Summary
	problem struct {
		Type   string `json:"type"`
		Title  string `json:"title"`
		Status int    `json:"status"`
		Code   string `json:"code"`
		Detail string `json:"detail"`
	}
}

// push sends a request and decodes the summary (200) or problem (others).
func push(t *testing.T, method, url, auth, contentType, body string) pushReply {
	t.Helper()
	req, err := http.NewRequestWithContext(testenv.Context(t, time.Minute), method, url, bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := pushReply{status: resp.StatusCode, header: resp.Header}
	wantCT := "application/problem+json"
	dest := any(&r.problem)
	if resp.StatusCode == http.StatusOK {
		wantCT, dest = "application/json", &r.summary
	}
	if ct := resp.Header.Get("Content-Type"); ct != wantCT {
		t.Errorf("status %d with Content-Type %q, want %q; body %s", resp.StatusCode, ct, wantCT, b)
	}
	if err := json.Unmarshal(b, dest); err != nil {
		t.Fatalf("status %d body %q: %v", resp.StatusCode, b, err)
	}
	if resp.StatusCode != http.StatusOK && r.problem.Status != resp.StatusCode {
		t.Errorf("problem status %d in a %d reply", r.problem.Status, resp.StatusCode)
	}
	return r
}

func TestPushRefusals(t *testing.T) {
	t.Parallel()
	const maxBody = 32 << 10
	env := newTestEnv(t, ingest.Config{ChunkSize: 4 << 10}, nil)
	url := newPushServer(t, env, maxBody)
	f := genFeed(t, 21, 100, "refused")
	big := genFeed(t, 22, 1500, "refused-big") // about 200 KiB
	if len(big.text) <= 4*maxBody {
		t.Fatalf("the big body is only %d bytes", len(big.text))
	}
	bearer := "Bearer " + pushToken

	tests := []struct {
		name        string
		method      string
		query       string
		auth        string
		contentType string
		body        string
		status      int
		code        string
	}{
		{name: "GET", method: http.MethodGet, auth: bearer, status: http.StatusMethodNotAllowed, code: "method_not_allowed"},
		{name: "no token", contentType: "text/csv", body: f.text, status: http.StatusUnauthorized, code: "unauthorized"},
		{name: "wrong token", auth: "Bearer nope", contentType: "text/csv", body: f.text, status: http.StatusUnauthorized, code: "unauthorized"},
		{name: "token as basic auth", auth: "Basic " + pushToken, contentType: "text/csv", body: f.text, status: http.StatusUnauthorized, code: "unauthorized"},
		{name: "JSON content type", auth: bearer, contentType: "application/json", body: f.text, status: http.StatusUnsupportedMediaType, code: "unsupported_media_type"},
		{name: "no content type", auth: bearer, body: f.text, status: http.StatusUnsupportedMediaType, code: "unsupported_media_type"},
		{name: "malformed content type", auth: bearer, contentType: "text/csv; charset", body: f.text, status: http.StatusUnsupportedMediaType, code: "unsupported_media_type"},
		{name: "unknown format parameter", query: "?format=xml", auth: bearer, contentType: "text/csv", body: f.text, status: http.StatusBadRequest, code: "bad_format"},
		{name: "header without iccid", auth: bearer, contentType: "text/csv",
			body: "record_id,node_id,type,start_time\nr1,n,data,2024-01-01T00:00:00Z\n", status: http.StatusBadRequest, code: "unreadable_body"},
		{name: "empty CSV body", auth: bearer, contentType: "text/csv", status: http.StatusBadRequest, code: "unreadable_body"},
		{name: "body over MaxBody", auth: bearer, contentType: "text/csv", body: big.text, status: http.StatusRequestEntityTooLarge, code: "body_too_large"},
		{name: "header over MaxBody", auth: bearer, contentType: "text/csv",
			body: strings.Repeat("x", 2*maxBody) + "\n", status: http.StatusRequestEntityTooLarge, code: "body_too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			r := push(t, method, url+tt.query, tt.auth, tt.contentType, tt.body)
			if r.status != tt.status || r.problem.Code != tt.code {
				t.Errorf("got %d %q (%s), want %d %q", r.status, r.problem.Code, r.problem.Detail, tt.status, tt.code)
			}
			switch tt.status {
			case http.StatusUnauthorized:
				if r.header.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
			case http.StatusMethodNotAllowed:
				if got := r.header.Get("Allow"); got != http.MethodPost {
					t.Errorf("Allow = %q, want POST", got)
				}
			}
		})
	}
}

func TestPushStoresOnce(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, ingest.Config{ChunkSize: 8 << 10}, nil)
	url := newPushServer(t, env, 0)
	csvFeed := genFeed(t, 31, 2500, "push-csv")
	jsonFeed := genFeed(t, 32, 2500, "push-json").ndjson(t)
	bearer := "Bearer " + pushToken

	tests := []struct {
		name        string
		query       string
		contentType string
		feed        feed
	}{
		{name: "CSV", contentType: "text/csv; charset=utf-8", feed: csvFeed},
		{name: "NDJSON", contentType: "application/x-ndjson", feed: jsonFeed},
		{name: "CSV named by the format parameter", query: "?format=csv", contentType: "application/octet-stream", feed: csvFeed},
	}
	// Not parallel: each push builds on what the previous ones stored.
	seen := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.feed.want()
			if seen[tt.feed.text] {
				want = tt.feed.again()
			}
			seen[tt.feed.text] = true
			r := push(t, http.MethodPost, url+tt.query, bearer, tt.contentType, tt.feed.text)
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %+v", r.status, r.problem)
			}
			checkSummary(t, "first push", r.summary, want)

			// A client that retries the same body stores nothing twice.
			r = push(t, http.MethodPost, url+tt.query, bearer, tt.contentType, tt.feed.text)
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %+v", r.status, r.problem)
			}
			checkSummary(t, "second push", r.summary, tt.feed.again())
		})
	}
	if diff := cmp.Diff(wantTotals(t, csvFeed, jsonFeed), env.totals(t)); diff != "" {
		t.Errorf("stored totals (-want +got):\n%s", diff)
	}
	// CSV and NDJSON rejects share line numbers under the source "http";
	// they differ in their raw text.
	var rejected uint64
	if err := env.ch.QueryRow(testenv.Context(t, 30*time.Second), "SELECT count() FROM rejected_records FINAL WHERE source = 'http'").Scan(&rejected); err != nil {
		t.Fatal(err)
	}
	if want := csvFeed.want().Rejected + jsonFeed.want().Rejected; int64(rejected) != want {
		t.Errorf("rejected_records FINAL of http: %d rows, want %d", rejected, want)
	}
}

func TestPushAfterStop(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, ingest.Config{}, nil)
	url := newPushServer(t, env, 0)
	if err := env.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	f := genFeed(t, 41, 300, "push-late")
	r := push(t, http.MethodPost, url, "Bearer "+pushToken, "text/csv", f.text)
	if r.status != http.StatusServiceUnavailable || r.problem.Code != "shutting_down" {
		t.Errorf("got %d %q, want 503 shutting_down", r.status, r.problem.Code)
	}
	if n := env.storedCount(t); n != 0 {
		t.Errorf("a stopped pipeline stored %d records", n)
	}
}
