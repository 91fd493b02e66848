package http_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

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
