package http_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	phttp "github.com/simcore/simcore/portal/http"
	"github.com/simcore/simcore/provisioning"
	provpg "github.com/simcore/simcore/provisioning/postgres"
)

// faultyLines is the real store with faults injected into the SIM list's
// read: an error, or a panic.
type faultyLines struct {
	*provpg.Store
	onList func() error
}

func (f faultyLines) SubscriptionsOnSIMs(ctx context.Context, iccids []string) ([]provisioning.Subscription, error) {
	if err := f.onList(); err != nil {
		return nil, err
	}
	return f.Store.SubscriptionsOnSIMs(ctx, iccids)
}

// TestInternalErrorsShowNothing: a store failure and a panic are answered
// as a 500 problem with the request id and a generic title; the cause goes
// to the log with the same request id, and the server keeps serving.
func TestInternalErrorsShowNothing(t *testing.T) {
	t.Parallel()
	mode := make(chan string, 1)
	mode <- ""
	e := newEnv(t, withLines(func(s *provpg.Store) phttp.Lines {
		return faultyLines{Store: s, onList: func() error {
			m := <-mode
			mode <- m
			switch m {
			case "error":
				return errors.New("connection to db-7.internal refused")
			case "panic":
				panic("nil map in the SIM list")
			}
			return nil
		}}
	}))
	c := e.user()
	c.must(http.StatusOK, "GET", "/v1/sims", nil)

	for _, m := range []string{"error", "panic"} {
		t.Run(m, func(t *testing.T) {
			<-mode
			mode <- m
			r := c.must(http.StatusInternalServerError, "GET", "/v1/sims", nil)
			p := r.problem(t)
			if p.Code != "internal" || p.RequestID == "" || strings.Contains(string(r.body), "db-7") || strings.Contains(string(r.body), "nil map") {
				t.Fatalf("problem %s: want code internal, the request id and no cause", r.body)
			}
			logs := e.logs.String()
			found := false
			for _, line := range strings.Split(logs, "\n") {
				if strings.Contains(line, `"request_id":"`+p.RequestID+`"`) && strings.Contains(line, `"level":"ERROR"`) &&
					(strings.Contains(line, "db-7.internal") || strings.Contains(line, "nil map")) {
					found = true
				}
			}
			if !found {
				t.Fatalf("no error log line with request id %s and the cause:\n%s", p.RequestID, logs)
			}
		})
	}
	<-mode
	mode <- ""
	c.must(http.StatusOK, "GET", "/v1/sims", nil)
}

// TestStoreUnavailableIs503: while PostgreSQL cannot be reached (refused
// connections during a restart or failover) or drops the connection (a
// server shutting down terminates every backend), a route that needs it
// answers 503 with code unavailable and a Retry-After, not a 500 (a bug to
// report) and not a hang; the cause is logged with the request id. Once the
// store answers, so does the route.
func TestStoreUnavailableIs503(t *testing.T) {
	t.Parallel()
	// A pool on a port where nothing listens: PostgreSQL down.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "postgres://postgres@" + ln.Addr().String() + "/simcore?sslmode=disable&connect_timeout=5"
	ln.Close()
	deadPool, err := pgxpool.New(context.Background(), down)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(deadPool.Close)

	mode := make(chan string, 1)
	mode <- ""
	var e *env
	e = newEnv(t, withLines(func(s *provpg.Store) phttp.Lines {
		return faultyLines{Store: s, onList: func() error {
			m := <-mode
			mode <- m
			ctx := context.Background()
			switch m {
			case "refused":
				return deadPool.Ping(ctx)
			case "terminated":
				// What every open connection gets when PostgreSQL stops.
				conn, err := e.pool.Acquire(ctx)
				if err != nil {
					return err
				}
				defer conn.Release()
				_, err = conn.Exec(ctx, "SELECT pg_terminate_backend(pg_backend_pid())")
				return err
			}
			return nil
		}}
	}))
	c := e.user()
	c.must(http.StatusOK, "GET", "/v1/sims", nil)

	for _, m := range []string{"refused", "terminated"} {
		t.Run(m, func(t *testing.T) {
			<-mode
			mode <- m
			r := c.do("GET", "/v1/sims", nil)
			p := r.problem(t)
			if r.status != http.StatusServiceUnavailable || p.Code != "unavailable" || p.RequestID == "" || r.header.Get("Retry-After") == "" {
				t.Fatalf("store %s: %d %s (Retry-After %q); want 503 unavailable with the request id and a Retry-After",
					m, r.status, r.body, r.header.Get("Retry-After"))
			}
			if strings.Contains(string(r.body), "127.0.0.1") || strings.Contains(string(r.body), "SQLSTATE") {
				t.Fatalf("problem %s shows the cause", r.body)
			}
			found := false
			for _, line := range strings.Split(e.logs.String(), "\n") {
				if strings.Contains(line, `"request_id":"`+p.RequestID+`"`) && strings.Contains(line, `"level":"ERROR"`) {
					found = true
				}
			}
			if !found {
				t.Fatalf("no error log line with request id %s:\n%s", p.RequestID, e.logs.String())
			}
		})
	}
	<-mode
	mode <- ""
	c.must(http.StatusOK, "GET", "/v1/sims", nil)
}
