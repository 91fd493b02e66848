package http

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestClientClosedIsNotAnInternalError: an error caused by the client
// hanging up is logged at info and answered 499, not logged as an internal
// error and counted as a 500; the same error with the client still there
// is a 500.
func TestClientClosedIsNotAnInternalError(t *testing.T) {
	for _, gone := range []bool{true, false} {
		var logs bytes.Buffer
		ctx, cancel := context.WithCancel(context.WithValue(context.Background(), keyLog, slog.New(slog.NewTextHandler(&logs, nil))))
		if gone {
			cancel()
		}
		r := httptest.NewRequest(http.MethodGet, "/v1/sims/x/usage", nil).WithContext(ctx)
		w := httptest.NewRecorder()
		writeProblem(w, r, fmt.Errorf("usage query: %w", context.Canceled))
		cancel()
		wantStatus, wantLog := statusClientClosed, "client closed the request"
		if !gone {
			wantStatus, wantLog = http.StatusInternalServerError, "internal error"
		}
		if w.Code != wantStatus || !strings.Contains(logs.String(), wantLog) {
			t.Errorf("client gone %v: status %d, log %q; want %d and %q", gone, w.Code, logs.String(), wantStatus, wantLog)
		}
		if gone && strings.Contains(logs.String(), "level=ERROR") {
			t.Errorf("a client hang-up logged as an error: %s", logs.String())
		}
	}
}
