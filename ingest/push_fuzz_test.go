package ingest_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/simcore/simcore/ingest"
)

// FuzzPush pushes arbitrary bodies, content types and queries through the
// push handler into the real stores. Whatever the request, the answer is
// below 500; a 200's summary reconciles (read = stored + duplicates +
// rejected), reads one record per record the parser sees, and pushing the
// same body again stores nothing.
func FuzzPush(f *testing.F) {
	env := newTestEnv(f, ingest.Config{MaxWait: 5 * time.Millisecond}, nil)
	h := &ingest.PushHandler{Pipeline: env.p, Log: env.log, Token: pushToken, MaxBody: 1 << 20}
	day := time.Now().UTC().Add(-24 * time.Hour).Format(time.RFC3339)
	f.Add("", "text/csv", []byte("record_id,type,iccid,start_time,bytes_up\nr1,data,8944100000000000018,"+day+",5\n\"r\n2\",sms,8944100000000000018,"+day+",\nr3,data,bad,"+day+",1\n"))
	f.Add("format=ndjson", "", []byte(`{"record_id":"n1","type":"voice","iccid":"8944100000000000018","start_time":"`+day+`","duration_s":60}`+"\n\n{\n"))
	f.Add("", "application/x-ndjson; charset=utf-8", []byte("\ufeff"+`{"record_id":"n2","type":"data","iccid":"8944100000000000018","start_time":"`+day+`"}`))
	f.Add("format=csv", "text/plain", []byte("\ufeffrecord_id,type\n"))
	f.Add("format=xml", "", []byte("<x/>"))
	f.Fuzz(func(t *testing.T, query, ctype string, body []byte) {
		first, ok := pushOnce(t, h, query, ctype, body)
		if !ok {
			return
		}
		// The format the handler took (it answered 200, so one it reads).
		q, _ := url.ParseQuery(query)
		format := q.Get("format")
		if format == "" {
			format = "ndjson"
			if mt, _, _ := mime.ParseMediaType(ctype); mt == "text/csv" {
				format = "csv"
			}
		}
		if want, ok := countRecords(format, body); ok && first.Read != want {
			t.Fatalf("summary %+v reads %d records; the parser sees %d", first, first.Read, want)
		}
		again, ok := pushOnce(t, h, query, ctype, body)
		if !ok {
			t.Fatalf("the same push again was refused")
		}
		if again.Read != first.Read || again.Stored != 0 || again.Rejected != first.Rejected {
			t.Fatalf("pushed twice: %+v, then %+v; want nothing stored the second time", first, again)
		}
	})
}

// pushOnce sends one push and checks its answer; ok is false for a refusal.
func pushOnce(t *testing.T, h http.Handler, query, ctype string, body []byte) (ingest.Summary, bool) {
	t.Helper()
	var sum ingest.Summary
	req, err := http.NewRequest(http.MethodPost, "http://ingest.test/v1/ingest?"+query, bytes.NewReader(body))
	if err != nil {
		t.Skip("not a request a client can send")
	}
	req.Header.Set("Authorization", "Bearer "+pushToken)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req) // a push that never answers ends the run at go test's -timeout
	if rec.Code >= 500 {
		t.Fatalf("?%s %q %q: status %d: %s", query, ctype, body, rec.Code, rec.Body)
	}
	if rec.Code != http.StatusOK {
		return sum, false
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &sum); err != nil {
		t.Fatalf("200 body %q: %v", rec.Body, err)
	}
	if sum.Read != sum.Stored+sum.Duplicates+sum.Rejected {
		t.Fatalf("summary %+v does not reconcile", sum)
	}
	return sum, true
}

// countRecords counts the records the package's parser finds in body.
func countRecords(format string, body []byte) (int64, bool) {
	var p ingest.Parser
	sp := ingest.NewSplitter(bytes.NewReader(body), 0, format == "csv")
	var err error
	if format == "csv" {
		h, herr := sp.ReadHeaderLine()
		if herr != nil {
			return 0, errors.Is(herr, io.EOF)
		}
		p, err = ingest.NewCSVParser(h, ingest.ParserConfig{})
	} else {
		p, err = ingest.NewNDJSONParser(ingest.ParserConfig{})
	}
	if err != nil {
		return 0, false
	}
	var n int64
	for {
		c, err := sp.Next()
		if err != nil {
			return n, errors.Is(err, io.EOF)
		}
		n += int64(len(p.Parse(c, nil)))
	}
}
