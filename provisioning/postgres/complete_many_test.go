package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/simcore/simcore/provisioning"
	"github.com/simcore/simcore/provisioning/postgres"
)

// startedLines makes n lines, each with a request of kind in progress.
func (e *env) startedLines(t *testing.T, n int, kind provisioning.Kind) ([]line, []provisioning.Request) {
	t.Helper()
	lines := make([]line, n)
	reqs := make([]provisioning.Request, n)
	for i := range lines {
		lines[i] = e.line(t)
		reqs[i] = e.request(t, lines[i].id, kind, nil, time.Time{})
		e.start(t, reqs[i].ID)
	}
	return lines, reqs
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !ok(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestCompleteGroups: completions that queue while the runners are held
// are applied as one group, and each gets what it would get alone: its own
// outcome and change, its notice stored, ErrConflict for a failed request,
// ErrRequestNotFound for an unknown one, nil and no change for a request
// already done; a repeat of a completion (its id spelt in capitals) is
// kept out of the group and applies once in all.
func TestCompleteGroups(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	type member struct {
		l    line
		r    provisioning.Request
		lang string
	}
	members := make([]member, 6)
	for i := range members {
		l := e.line(t)
		r := e.request(t, l.id, provisioning.KindVoicemail, nil, time.Time{})
		e.start(t, r.ID)
		members[i] = member{l: l, r: r, lang: fmt.Sprintf("l%d", i)}
	}
	failedLine := e.line(t)
	failed := e.request(t, failedLine.id, provisioning.KindVoicemail, nil, time.Time{})
	e.start(t, failed.ID)
	wantErr(t, "Fail", e.store.Fail(e.ctx, failed.ID, "gateway said no"), nil)
	doneLine := e.line(t)
	done := e.request(t, doneLine.id, provisioning.KindVoicemail, nil, time.Time{})
	e.start(t, done.ID)
	e.complete(t, done.ID, provisioning.Change{Voicemail: &provisioning.VoicemailSettings{Enabled: true, Language: "first"}})
	doneBefore, _ := e.store.Request(e.ctx, done.ID)
	groupsBefore := postgres.GroupsApplied(e.store)

	release := postgres.PauseGroups(e.store)
	type call struct {
		id   string
		out  json.RawMessage
		ch   provisioning.Change
		want error
	}
	var calls []call
	for i, m := range members {
		calls = append(calls, call{
			id:  m.r.ID,
			out: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i)),
			ch: provisioning.Change{
				Voicemail: &provisioning.VoicemailSettings{Enabled: true, Language: m.lang},
				Notices:   []provisioning.Notice{{ID: m.r.ID + ":sms", Channel: "sms", To: m.l.msisdn, Language: "en", Key: "voicemail"}},
			},
		})
	}
	calls = append(calls,
		call{id: failed.ID, ch: provisioning.Change{Voicemail: &provisioning.VoicemailSettings{Enabled: true, Language: "late"}}, want: provisioning.ErrConflict},
		call{id: done.ID, ch: provisioning.Change{Voicemail: &provisioning.VoicemailSettings{Enabled: true, Language: "again"}}},
		call{id: "0b0b0b0b-0000-4000-8000-000000000000", ch: provisioning.Change{Voicemail: &provisioning.VoicemailSettings{}}, want: provisioning.ErrRequestNotFound},
	)
	// A repeat of the first completion, as from a worker that retried it:
	// it runs in another group, before or after the first, and whichever
	// runs second changes nothing.
	repeat := calls[0]
	repeat.id = strings.ToUpper(repeat.id)
	calls = append(calls, repeat)
	results := make([]chan error, len(calls))
	for i, c := range calls {
		results[i] = make(chan error, 1)
		go func() { results[i] <- e.store.Complete(e.ctx, c.id, c.out, c.ch) }()
		// In order, so the repeat queues after the first completion.
		waitFor(t, "the completion to queue", func() bool { return postgres.QueuedCompletions(e.store) == i+1 })
	}
	release()
	for i, c := range calls {
		wantErr(t, fmt.Sprintf("Complete %s", c.id), <-results[i], c.want)
	}
	if n := postgres.GroupsApplied(e.store) - groupsBefore; n != 1 {
		t.Errorf("%d groups applied as one, want 1 (the repeat runs alone)", n)
	}

	for i, m := range members {
		got, err := e.store.Request(e.ctx, m.r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != provisioning.StateDone || !jsonEqual(got.Outcome, calls[i].out) {
			t.Errorf("request %d: state %s, outcome %s; want done, %s", i, got.State, got.Outcome, calls[i].out)
		}
		if s := e.subscription(t, m.l.id); !s.Voicemail.Enabled || s.Voicemail.Language != m.lang {
			t.Errorf("line %d: voicemail %+v, want on in %s", i, s.Voicemail, m.lang)
		}
		var req string
		if err := e.pool.QueryRow(e.ctx, `SELECT request_id::text FROM notice_outbox WHERE id = $1`, m.r.ID+":sms").Scan(&req); err != nil || req != m.r.ID {
			t.Errorf("notice of request %d: request %q (%v), want %s", i, req, err, m.r.ID)
		}
	}
	if got, _ := e.store.Request(e.ctx, failed.ID); got.State != provisioning.StateFailed {
		t.Errorf("failed request is %s after completing it", got.State)
	}
	if s := e.subscription(t, failedLine.id); s.Voicemail.Language == "late" {
		t.Error("completing a failed request changed its line")
	}
	if got, _ := e.store.Request(e.ctx, done.ID); !jsonEqual(got.Outcome, doneBefore.Outcome) || got.UpdatedAt != doneBefore.UpdatedAt {
		t.Errorf("done request changed: outcome %s, updated %v; was %s, %v", got.Outcome, got.UpdatedAt, doneBefore.Outcome, doneBefore.UpdatedAt)
	}
	if s := e.subscription(t, doneLine.id); s.Voicemail.Language != "first" {
		t.Errorf("completing a done request again set its voicemail to %q", s.Voicemail.Language)
	}
}

// TestCompleteGroupFallsBack: when one completion's statement fails, the
// group's transaction fails as a whole, and each completion then runs on
// its own: the others are applied, and only the bad one gets the error.
func TestCompleteGroupFallsBack(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	lines, reqs := e.startedLines(t, 4, provisioning.KindForwarding)
	groupsBefore := postgres.GroupsApplied(e.store)
	release := postgres.PauseGroups(e.store)
	results := make([]chan error, len(reqs))
	for i, r := range reqs {
		number := fmt.Sprintf("44200000%02d", i)
		if i == 2 {
			number = "0044" // the table's check wants E.164 digits
		}
		results[i] = make(chan error, 1)
		go func() {
			results[i] <- e.store.Complete(e.ctx, r.ID, nil, provisioning.Change{Forwarding: &provisioning.ForwardingParams{Condition: provisioning.ForwardBusy, Number: number}})
		}()
		waitFor(t, "the completion to queue", func() bool { return postgres.QueuedCompletions(e.store) == i+1 })
	}
	release()
	for i, r := range reqs {
		err := <-results[i]
		got, _ := e.store.Request(e.ctx, r.ID)
		if i == 2 {
			if err == nil || got.State != provisioning.StateInProgress {
				t.Errorf("bad completion: %v, request %s; want an error and the request still in progress", err, got.State)
			}
			continue
		}
		if err != nil || got.State != provisioning.StateDone {
			t.Errorf("completion %d: %v, request %s; want done", i, err, got.State)
		}
		if s := e.subscription(t, lines[i].id); len(s.Forwarding) != 1 {
			t.Errorf("line %d forwarding %+v, want one condition", i, s.Forwarding)
		}
	}
	if n := postgres.GroupsApplied(e.store) - groupsBefore; n != 0 {
		t.Errorf("%d groups applied as one; the group with the bad statement should have fallen back", n)
	}
}

// TestCompleteGroupDoesNotWaitForOneLine: a group that cannot have one
// line's lock gives up after its lock timeout, and its completions run on
// their own: the others are done while that line is still locked, and it
// completes once the lock is released. The timeout does not outlive the
// group's transaction.
func TestCompleteGroupDoesNotWaitForOneLine(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	lines, reqs := e.startedLines(t, 3, provisioning.KindVoicemail)
	groupsBefore := postgres.GroupsApplied(e.store)
	release := postgres.PauseGroups(e.store)
	held, err := e.pool.Begin(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = held.Rollback(context.Background()) }) // a no-op once committed
	if _, err := held.Exec(e.ctx, `SELECT 1 FROM subscriptions WHERE id = $1 FOR UPDATE`, lines[1].id); err != nil {
		t.Fatal(err)
	}
	results := make([]chan error, len(reqs))
	for i, r := range reqs {
		results[i] = make(chan error, 1)
		go func() {
			results[i] <- e.store.Complete(e.ctx, r.ID, nil, provisioning.Change{Voicemail: &provisioning.VoicemailSettings{Enabled: true, Language: "da"}})
		}()
		waitFor(t, "the completion to queue", func() bool { return postgres.QueuedCompletions(e.store) == i+1 })
	}
	release()
	for _, i := range []int{0, 2} {
		select {
		case err := <-results[i]:
			wantErr(t, fmt.Sprintf("completion %d", i), err, nil)
		case <-time.After(30 * time.Second):
			t.Fatalf("completion %d waits for another line's lock", i)
		}
		if got, _ := e.store.Request(e.ctx, reqs[i].ID); got.State != provisioning.StateDone {
			t.Errorf("request %d is %s, want done", i, got.State)
		}
	}
	select {
	case err := <-results[1]:
		t.Fatalf("the locked line's completion returned %v while its line was locked", err)
	default:
	}
	if err := held.Commit(e.ctx); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "completion of the locked line", <-results[1], nil)
	if got, _ := e.store.Request(e.ctx, reqs[1].ID); got.State != provisioning.StateDone {
		t.Errorf("request 1 is %s, want done", got.State)
	}
	if n := postgres.GroupsApplied(e.store) - groupsBefore; n != 0 {
		t.Errorf("%d groups applied as one, want 0", n)
	}
	// Every connection of the pool is back to no lock timeout.
	var conns []*pgxpool.Conn
	defer func() {
		for _, c := range conns {
			c.Release()
		}
	}()
	for range e.pool.Stat().TotalConns() {
		c, err := e.pool.Acquire(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		var v string
		if err := c.QueryRow(e.ctx, `SHOW lock_timeout`).Scan(&v); err != nil || v != "0" {
			t.Errorf("a pool connection's lock_timeout is %q (%v), want 0", v, err)
		}
	}
}
