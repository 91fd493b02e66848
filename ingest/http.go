package ingest

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"time"

	"github.com/simcore/simcore/internal/httpauth"
	"github.com/simcore/simcore/internal/httpproblem"
)

// PushHandler serves POST /v1/ingest: a CSV or NDJSON body of usage records,
// stored exactly once by record identity, answered with the Summary once
// every record is stored. A pushed batch that is retried counts its records
// as duplicates, never twice.
type PushHandler struct {
	Pipeline *Pipeline
	Log      *slog.Logger
	// Token is the bearer token feeds must present; it must not be empty.
	Token string
	// MaxBody bounds a request body; default 64 MiB.
	MaxBody int64
	// IdleTimeout ends a push whose body makes no progress for that long;
	// default DefaultPushIdleTimeout. The server has no overall read
	// timeout (a large body on a slow link takes long), so without it a
	// client that stops sending held its connection and buffers for ever.
	IdleTimeout time.Duration
}

// DefaultPushIdleTimeout is PushHandler.IdleTimeout when zero.
const DefaultPushIdleTimeout = 15 * time.Second

// idleReader moves the connection's read deadline IdleTimeout ahead of
// every read of the body.
type idleReader struct {
	r    io.Reader
	rc   *http.ResponseController
	idle time.Duration
}

func (r *idleReader) Read(p []byte) (int, error) {
	_ = r.rc.SetReadDeadline(time.Now().Add(r.idle)) // unsupported: no idle limit
	return r.r.Read(p)
}

// problem is an RFC 9457 problem details body.
func (h *PushHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		httpproblem.Write(w, http.StatusMethodNotAllowed, "method_not_allowed", "use POST")
		return
	}
	if !httpauth.Bearer(r, h.Token) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="simcore-ingest"`)
		httpproblem.Write(w, http.StatusUnauthorized, "unauthorized", "a valid bearer token is required")
		return
	}
	format := r.URL.Query().Get("format")
	if format == "" {
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil && r.Header.Get("Content-Type") != "" {
			httpproblem.Write(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type: "+err.Error())
			return
		}
		switch mt {
		case "text/csv":
			format = FormatCSV
		case "application/x-ndjson", "application/ndjson", "application/jsonl":
			format = FormatNDJSON
		default:
			httpproblem.Write(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "send text/csv or application/x-ndjson (or ?format=csv|ndjson)")
			return
		}
	}
	if format != FormatCSV && format != FormatNDJSON {
		httpproblem.Write(w, http.StatusBadRequest, "bad_format", "format must be csv or ndjson")
		return
	}
	max := h.MaxBody
	if max <= 0 {
		max = 64 << 20
	}
	idle := h.IdleTimeout
	if idle <= 0 {
		idle = DefaultPushIdleTimeout
	}
	rc := http.NewResponseController(w)
	body := &idleReader{r: http.MaxBytesReader(w, r.Body, max), rc: rc, idle: idle}
	sum, err := h.Pipeline.Ingest(r.Context(), Source{Kind: "http", Name: "http", Format: format, R: body, Linger: true})
	// The body is read: waiting for the store is not the client's delay.
	_ = rc.SetReadDeadline(time.Time{})
	if err != nil {
		var mbe *http.MaxBytesError
		var fe *FileError
		switch {
		case errors.As(err, &mbe):
			httpproblem.Write(w, http.StatusRequestEntityTooLarge, "body_too_large", "the body exceeds the limit; split it")
		case errors.As(err, &fe):
			httpproblem.Write(w, http.StatusBadRequest, "unreadable_body", fe.Error())
		case errors.Is(err, ErrStopped):
			httpproblem.Write(w, http.StatusServiceUnavailable, "shutting_down", "the ingest is stopping; retry")
		case r.Context().Err() != nil:
			// The client went away, or its body ended before its length
			// (a failed body read cancels the context too). Nobody may
			// read this, but writing nothing would send 200 OK, which
			// says every record was stored.
			httpproblem.Write(w, http.StatusBadRequest, "incomplete_body", "the body ended early or the client left; push the same body again")
		default:
			h.Log.Error("push ingest", "err", err)
			httpproblem.Write(w, http.StatusServiceUnavailable, "store_unavailable", "the records were not all stored; retry the same body")
		}
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(sum)
}
