package asynq

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// quietEvery is how often one message of Asynq's is logged at most.
const quietEvery = time.Minute

// quietMax bounds the distinct messages remembered.
const quietMax = 256

// quietLog routes Asynq's logs to slog, each distinct warning or error at
// most once per quietEvery: with Redis down, every server's processor,
// heartbeater, forwarder and recoverer log the same failure every second
// or so, a flood that hides everything else. The next line of a message
// says how many were left out ("left_out").
type quietLog struct {
	l   *slog.Logger
	now func() time.Time

	mu   sync.Mutex
	seen map[string]*quietEntry
}

type quietEntry struct {
	at   time.Time // when last logged
	left int       // left out since
}

func newQuietLog(l *slog.Logger) *quietLog {
	return &quietLog{l: l, now: time.Now, seen: map[string]*quietEntry{}}
}

func (q *quietLog) Debug(args ...any) { q.l.Debug(fmt.Sprint(args...), "component", "asynq") }
func (q *quietLog) Info(args ...any)  { q.l.Info(fmt.Sprint(args...), "component", "asynq") }
func (q *quietLog) Warn(args ...any)  { q.log(slog.LevelWarn, fmt.Sprint(args...)) }
func (q *quietLog) Error(args ...any) { q.log(slog.LevelError, fmt.Sprint(args...)) }
func (q *quietLog) Fatal(args ...any) {
	q.l.Error(fmt.Sprint(args...), "component", "asynq", "fatal", true)
}

func (q *quietLog) log(level slog.Level, msg string) {
	q.mu.Lock()
	t := q.now()
	e := q.seen[msg]
	if e != nil && t.Sub(e.at) < quietEvery {
		e.left++
		q.mu.Unlock()
		return
	}
	if e == nil {
		if len(q.seen) >= quietMax {
			for m, old := range q.seen {
				if t.Sub(old.at) >= quietEvery {
					delete(q.seen, m)
				}
			}
		}
		e = &quietEntry{}
		if len(q.seen) < quietMax {
			q.seen[msg] = e
		}
	}
	left := e.left
	e.at, e.left = t, 0
	q.mu.Unlock()
	attrs := []any{"component", "asynq"}
	if left > 0 {
		attrs = append(attrs, "left_out", left)
	}
	q.l.Log(context.Background(), level, msg, attrs...)
}
