package asynq

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	hq "github.com/hibiken/asynq"

	"github.com/simcore/simcore/internal/testenv"
	"github.com/simcore/simcore/provisioning"
)

func TestTailPages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		total, n    int
		first, last int
	}{
		{"fewer than asked", 3, 10, 1, 1},
		{"exactly one page", 10, 10, 1, 1},
		{"one more than a page", 11, 10, 1, 2},
		{"aligned to pages", 20, 10, 2, 2},
		{"spans two pages", 25, 10, 2, 3},
		{"one at a time", 7, 1, 7, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			first, last := tailPages(tt.total, tt.n)
			if first != tt.first || last != tt.last {
				t.Fatalf("tailPages(%d, %d) = %d, %d; want %d, %d", tt.total, tt.n, first, last, tt.first, tt.last)
			}
			// The pages hold the last n items (all of them when fewer).
			lo, hi := (first-1)*tt.n, last*tt.n-1
			if lo > max(tt.total-tt.n, 0) || hi < tt.total-1 {
				t.Fatalf("pages %d..%d hold items %d..%d, not the last %d of %d", first, last, lo, hi, tt.n, tt.total)
			}
		})
	}
}

// missingStore knows no request: every request task fails for good. Its
// notice outbox is empty.
type missingStore struct{ provisioning.Store }

func (missingStore) ClaimNotices(context.Context, int, time.Duration) ([]provisioning.Notice, error) {
	return nil, nil
}

func (missingStore) StartRequest(_ context.Context, id string, _ time.Time) (provisioning.Request, provisioning.Subscription, error) {
	return provisioning.Request{}, provisioning.Subscription{}, fmt.Errorf("start request %s: %w", id, provisioning.ErrRequestNotFound)
}

// TestInspectorArchived runs a worker on real Redis: a request task for an
// unknown request and an email notice without a mailer both fail for good
// (asynq.SkipRetry) and show up archived with their errors, newest first.
func TestInspectorArchived(t *testing.T) {
	t.Parallel()
	ctx := testenv.Context(t, time.Minute)
	addr, db := testenv.RedisDB(t)
	opt := hq.RedisClientOpt{Addr: addr, DB: db}
	insp := NewInspector(opt)
	t.Cleanup(func() { insp.Close() })

	// A queue that has never had a task is empty, not an error.
	if c, err := insp.Counts(ctx); err != nil || c != (QueueCounts{Queue: QueueName}) {
		t.Fatalf("counts of a new queue: %+v, %v", c, err)
	}
	if a, err := insp.Archived(ctx, 5); err != nil || len(a) != 0 {
		t.Fatalf("archived of a new queue: %+v, %v", a, err)
	}

	q := NewQueue(opt)
	t.Cleanup(func() { q.Close() })
	log := slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	w, err := NewWorker(Config{Redis: opt, Service: &provisioning.Service{Store: missingStore{}, Queue: q}, Concurrency: 2, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Shutdown)

	waitArchived := func(n int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			c, err := insp.Counts(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if c.Archived == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d archived tasks, want %d: %+v", c.Archived, n, c)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	const reqID = "0b7e3f3c-56f4-4bd4-9d1e-8f0f2a6f1c11"
	firstDay := time.Now().UTC().Format(time.DateOnly)
	if err := q.EnqueueRequest(ctx, provisioning.Request{ID: reqID, NotBefore: time.Now()}); err != nil {
		t.Fatal(err)
	}
	waitArchived(1)
	// Asynq records archive times in whole seconds: archive the notice in
	// the next one so that the order is certain.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	notice := provisioning.Notice{ID: reqID + ":email", Channel: "email", To: "dana@example.com", Language: "en", Key: "sim_swap_done"}
	if err := q.EnqueueNotice(ctx, notice); err != nil {
		t.Fatal(err)
	}
	waitArchived(2)
	later := provisioning.Request{ID: "5d1c2a8e-9a55-4f0e-b7c3-2f4d6e8a9b01", NotBefore: time.Now().Add(time.Hour)}
	if err := q.EnqueueRequest(ctx, later); err != nil {
		t.Fatal(err)
	}

	c, err := insp.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := QueueCounts{Queue: QueueName, Scheduled: 1, Archived: 2, ProcessedToday: 2, FailedToday: 2}
	if day := time.Now().UTC().Format(time.DateOnly); day != firstDay {
		// Asynq counts the day's runs by UTC day: across midnight the
		// runs are split between the two days.
		t.Logf("the UTC day changed from %s to %s: today's counts not checked", firstDay, day)
		want.ProcessedToday, want.FailedToday = c.ProcessedToday, c.FailedToday
	}
	if d := cmp.Diff(want, c); d != "" {
		t.Errorf("counts (-want +got):\n%s", d)
	}

	got, err := insp.Archived(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	wantTasks := []TaskInfo{
		{ID: "notice:" + notice.ID, Type: TypeNotice, NoticeID: notice.ID},
		{ID: "req:" + reqID, Type: TypeRequest, RequestID: reqID},
	}
	if d := cmp.Diff(wantTasks, got, cmpopts.IgnoreFields(TaskInfo{}, "LastError", "LastFailedAt")); d != "" {
		t.Fatalf("archived tasks (-want +got):\n%s", d)
	}
	for i, wantErr := range []string{"no mailer configured", "request not found"} {
		if !strings.Contains(got[i].LastError, wantErr) {
			t.Errorf("task %s: last error %q, want it to say %q", got[i].ID, got[i].LastError, wantErr)
		}
		if since := time.Since(got[i].LastFailedAt); since < 0 || since > time.Minute {
			t.Errorf("task %s: last failed at %s", got[i].ID, got[i].LastFailedAt)
		}
	}
	if !got[0].LastFailedAt.After(got[1].LastFailedAt) {
		t.Errorf("notice failed at %s, not after the request (%s)", got[0].LastFailedAt, got[1].LastFailedAt)
	}

	newest, err := insp.Archived(ctx, 1)
	if err != nil || len(newest) != 1 || newest[0].ID != "notice:"+notice.ID {
		t.Fatalf("Archived(1) = %+v, %v; want the notice only", newest, err)
	}
	if none, err := insp.Archived(ctx, 0); err != nil || len(none) != 0 {
		t.Fatalf("Archived(0) = %+v, %v; want none", none, err)
	}
}

type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// TestQueueDepth: the depth gauge counts waiting tasks, reads 0 before the
// queue exists, and NaN (a gap, not an empty queue) when Redis is down.
func TestQueueDepth(t *testing.T) {
	addr, db := testenv.RedisDB(t)
	opt := hq.RedisClientOpt{Addr: addr, DB: db}
	insp := hq.NewInspector(opt)
	t.Cleanup(func() { insp.Close() })
	if got := queueDepth(insp); got != 0 {
		t.Fatalf("depth before any task: %v, want 0", got)
	}
	client := hq.NewClient(opt)
	t.Cleanup(func() { client.Close() })
	for i, when := range []time.Duration{0, 0, time.Hour} {
		task := hq.NewTask(TypeRequest, []byte(`{}`))
		if _, err := client.Enqueue(task, hq.Queue(QueueName), hq.TaskID(fmt.Sprint("depth-", i)), hq.ProcessIn(when)); err != nil {
			t.Fatal(err)
		}
	}
	if got := queueDepth(insp); got != 3 {
		t.Fatalf("depth with 2 pending and 1 scheduled: %v, want 3", got)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	down := hq.NewInspector(hq.RedisClientOpt{Addr: closed, DialTimeout: time.Second})
	t.Cleanup(func() { down.Close() })
	if got := queueDepth(down); !math.IsNaN(got) {
		t.Fatalf("depth with Redis down: %v, want NaN", got)
	}
}
