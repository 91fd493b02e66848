package asynq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	hq "github.com/hibiken/asynq"

	"github.com/simcore/simcore/provisioning"
)

// Inspector reads the state of the provisioning queue for operators: how
// many tasks are in each state, and the archived ones (failed for good or out
// of retries) with the error that stopped them.
type Inspector struct {
	insp *hq.Inspector
}

// NewInspector returns an inspector of the provisioning queue on Redis at opt.
func NewInspector(opt hq.RedisClientOpt) *Inspector { return &Inspector{insp: hq.NewInspector(opt)} }

// Close closes the Redis connection.
func (i *Inspector) Close() error { return i.insp.Close() }

// QueueCounts is how many provisioning tasks are in each state. Completed
// tasks are kept for Retention; the daily counters reset at midnight UTC.
type QueueCounts struct {
	Queue     string `json:"queue"`
	Pending   int    `json:"pending"`
	Active    int    `json:"active"`
	Scheduled int    `json:"scheduled"`
	Retry     int    `json:"retry"`
	Archived  int    `json:"archived"`
	Completed int    `json:"completed"`
	// ProcessedToday counts tasks run today, failed runs included.
	ProcessedToday int `json:"processed_today"`
	FailedToday    int `json:"failed_today"`
}

// TaskInfo describes an archived provisioning task. RequestID or NoticeID,
// taken from the payload, says what it was for; the payload itself (a
// notice's addressee) is not shown.
type TaskInfo struct {
	ID           string    `json:"id"` // "req:<request id>" or "notice:<notice id>"
	Type         string    `json:"type"`
	RequestID    string    `json:"request_id,omitempty"`
	NoticeID     string    `json:"notice_id,omitempty"`
	LastError    string    `json:"last_error"`
	LastFailedAt time.Time `json:"last_failed_at,omitzero"` // zero for a task archived by hand
	Retried      int       `json:"retried"`
}

// Counts returns the number of tasks in each state. A queue that has never
// had a task counts zero everywhere. Errors are Redis errors; ctx is only
// checked before the call, as Asynq's inspector takes no context (the Redis
// client's timeouts bound it).
func (i *Inspector) Counts(ctx context.Context) (QueueCounts, error) {
	if err := ctx.Err(); err != nil {
		return QueueCounts{}, err
	}
	qi, err := i.insp.GetQueueInfo(QueueName)
	if err != nil {
		// Asynq reports an unknown queue with an error of an internal
		// package; the list of queues tells it apart from a Redis failure.
		if queues, qerr := i.insp.Queues(); qerr == nil && !slices.Contains(queues, QueueName) {
			return QueueCounts{Queue: QueueName}, nil
		}
		return QueueCounts{}, fmt.Errorf("inspect queue %s: %w", QueueName, err)
	}
	return QueueCounts{
		Queue:          QueueName,
		Pending:        qi.Pending,
		Active:         qi.Active,
		Scheduled:      qi.Scheduled,
		Retry:          qi.Retry,
		Archived:       qi.Archived,
		Completed:      qi.Completed,
		ProcessedToday: qi.Processed,
		FailedToday:    qi.Failed,
	}, nil
}

// Archived returns the last limit archived tasks, the most recently archived
// first; none for a limit below 1. Asynq records when a task was archived to
// the second, so tasks archived within one second come in task-id order.
// Errors as for Counts.
func (i *Inspector) Archived(ctx context.Context, limit int) ([]TaskInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit < 1 {
		return nil, nil
	}
	c, err := i.Counts(ctx)
	if err != nil || c.Archived == 0 {
		return nil, err
	}
	// Asynq lists archived tasks oldest archived first (whatever its doc
	// says), a page at a time; the newest limit span at most the last two
	// pages of that size.
	first, last := tailPages(c.Archived, limit)
	var tasks []*hq.TaskInfo
	for p := first; p <= last; p++ {
		page, err := i.insp.ListArchivedTasks(QueueName, hq.PageSize(limit), hq.Page(p))
		if errors.Is(err, hq.ErrQueueNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list archived tasks: %w", err)
		}
		tasks = append(tasks, page...)
	}
	out := make([]TaskInfo, 0, len(tasks))
	for _, t := range tasks {
		out = append(out, taskInfo(t))
	}
	slices.Reverse(out)
	return out[:min(limit, len(out))], nil
}

// tailPages returns the 1-based pages of size n that hold the last n of
// total items.
func tailPages(total, n int) (first, last int) {
	start := max(total-n, 0)
	return start/n + 1, (total-1)/n + 1
}

func taskInfo(t *hq.TaskInfo) TaskInfo {
	ti := TaskInfo{ID: t.ID, Type: t.Type, LastError: t.LastErr, LastFailedAt: t.LastFailedAt.UTC(), Retried: t.Retried}
	switch t.Type {
	case TypeRequest:
		var p requestPayload
		if json.Unmarshal(t.Payload, &p) == nil {
			ti.RequestID = p.ID
		}
	case TypeNotice:
		var n provisioning.Notice
		if json.Unmarshal(t.Payload, &n) == nil {
			ti.NoticeID = n.ID
		}
	}
	return ti
}
