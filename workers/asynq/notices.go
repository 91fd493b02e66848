package asynq

import (
	"context"
	"time"
)

// Sending the notice outbox (provisioning.Service.SendNotices).
const (
	// noticeBatch is how many notices one claim takes.
	noticeBatch = 200
	// noticePoll is how long the sender waits when the outbox had no more
	// due notices than it took: the most a notice waits before it is sent.
	noticePoll = 100 * time.Millisecond
	// noticeBatchTimeout bounds one batch's claim and sends; with
	// provisioning.NoticeRecordTimeout for recording them it stays under
	// provisioning.NoticeLease, so a batch is recorded before its notices
	// could be claimed again.
	noticeBatchTimeout = 45 * time.Second
)

// sendNotices sends the notice outbox until stop is closed: batch after
// batch while notices are due, then every noticePoll. A batch that has
// begun is finished (within noticeBatchTimeout) even after stop, so the
// notices it sent are recorded as sent.
func (w *Worker) sendNotices(stop <-chan struct{}) {
	for {
		ctx, cancel := context.WithTimeout(context.Background(), noticeBatchTimeout)
		run, err := w.cfg.Service.SendNotices(ctx, w.cfg.Mailer, noticeBatch)
		cancel()
		w.m.tasks.WithLabelValues("notice", "done").Add(float64(run.Sent))
		w.m.tasks.WithLabelValues("notice", "retry").Add(float64(run.Retried))
		w.m.tasks.WithLabelValues("notice", "failed").Add(float64(run.Failed))
		if err != nil {
			w.cfg.Log.Warn("send notices", "err", err)
		}
		if run.Failed > 0 {
			w.cfg.Log.Warn("notices failed for good", "notices", run.Failed)
		}
		wait := noticePoll
		switch {
		case err != nil:
			wait = time.Second // the database is in trouble: do not add to it
		case run.Claimed == noticeBatch:
			wait = 0 // more are due
		}
		select {
		case <-stop:
			return
		case <-time.After(wait):
		}
	}
}
