package ingest_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/simcore/simcore/ingest"
)

// TestPushTruncatedBodyIsNotOK: a push whose body ends before its
// Content-Length (a feed that crashed mid-upload, a proxy that cut it) was
// answered 200 with an empty body: reading the body failed, which also
// cancels the request's context, and the handler then wrote nothing, so
// net/http sent 200 OK. A client that half-closes after sending (or a
// proxy in front) reads that 200 as "every record stored" although the
// batch was cut short. It must be a 4xx problem.
func TestPushTruncatedBodyIsNotOK(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, ingest.Config{ChunkSize: 4 << 10}, nil)
	url := newPushServer(t, env, 0)
	host := strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/v1/ingest")
	f := genFeed(t, 51, 50, "truncated")

	c, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(c, "POST /v1/ingest HTTP/1.1\r\nHost: ingest\r\nAuthorization: Bearer %s\r\nContent-Type: text/csv\r\nContent-Length: %d\r\n\r\n%s",
		pushToken, len(f.text)+10000, f.text)
	_ = c.(*net.TCPConn).CloseWrite() // the body stops 10000 bytes short
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return // no answer at all is fine: nobody is told "stored"
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 == 2 {
		t.Fatalf("truncated body answered %d %q, want a 4xx problem", resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode/100 != 4 || ct != "application/problem+json" {
		t.Fatalf("truncated body answered %d %s %q, want a 4xx problem", resp.StatusCode, ct, b)
	}
}
