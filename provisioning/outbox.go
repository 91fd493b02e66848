package provisioning

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// NoticeOutbox keeps the notices of done requests until they are sent.
// Complete stores them (Change.Notices) with the change; a sender claims due
// ones, sends them and records what happened. Several senders may run at
// once: a claimed notice is not claimed again until its lease runs out, so
// a sender that dies mid-batch only delays its notices.
type NoticeOutbox interface {
	// ClaimNotices returns up to limit notices that are due, oldest first,
	// each claimed for lease and with its Attempts counted.
	ClaimNotices(ctx context.Context, limit int, lease time.Duration) ([]Notice, error)
	// NoticesSent marks notices sent, so they are never claimed again, and
	// records the SMS parts of those with a request on it (as
	// Store.RecordMessages does, with the notice named).
	NoticesSent(ctx context.Context, sent []SentNotice) error
	// RetryNotice makes a claimed notice due again after wait, noting why.
	RetryNotice(ctx context.Context, id, why string, wait time.Duration) error
	// FailNotice gives up on a notice, noting why.
	FailNotice(ctx context.Context, id, why string) error
}

// Sending notices from the outbox.
const (
	// MaxNoticeAttempts is how many times a notice is tried before it
	// fails: with NoticeBackoff, about an hour of SMSC or mail trouble.
	MaxNoticeAttempts = 12
	// NoticeLease is how long a claimed notice is left to its sender.
	NoticeLease = time.Minute
	// NoticeRecordTimeout bounds recording a batch's outcomes after its
	// sends; a sender's batch deadline plus this stays under NoticeLease.
	NoticeRecordTimeout = 10 * time.Second
	// noticeSenders bounds the notices of one batch sent at once.
	noticeSenders = 32
)

// SentNotice is a notice the SMSC or the mail server accepted.
type SentNotice struct {
	ID        string
	RequestID string   // the request it is about; "" for a notice of its own
	Messages  []string // the SMS parts' message ids; none for email
}

// NoticeBackoff is the wait before try attempts+1 of a notice that failed
// attempts times: 1 s doubling up to 5 min, as request tasks back off.
func NoticeBackoff(attempts int) time.Duration {
	return min(time.Second<<min(max(attempts-1, 0), 9), 5*time.Minute)
}

// NoticeRun counts what one SendNotices did.
type NoticeRun struct {
	Claimed, Sent, Retried, Failed int
}

// SendNotices claims up to limit due notices from the outbox, sends them
// (several at once) and records each outcome: sent; failed for good on
// ErrPermanent, an email without mail, or the last of MaxNoticeAttempts;
// otherwise due again after NoticeBackoff. A send that succeeds is never
// repeated unless recording it fails (then the lease runs out and it is
// sent again: at least once, as an Asynq task was). The error is the
// outbox's, not a send's.
func (s *Service) SendNotices(ctx context.Context, mail Mailer, limit int) (NoticeRun, error) {
	ns, err := s.Store.ClaimNotices(ctx, limit, NoticeLease)
	if err != nil {
		return NoticeRun{}, fmt.Errorf("claim notices: %w", err)
	}
	run := NoticeRun{Claimed: len(ns)}
	if len(ns) == 0 {
		return run, nil
	}
	errs := make([]error, len(ns))
	parts := make([][]string, len(ns))
	sem := make(chan struct{}, noticeSenders)
	var wg sync.WaitGroup
	for i, n := range ns {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if n.Channel == "email" && mail == nil {
				errs[i] = fmt.Errorf("%w: no mailer configured", ErrPermanent)
				return
			}
			parts[i], errs[i] = s.sendNotice(ctx, n, mail)
		})
	}
	wg.Wait()
	// Record with a context of its own: ctx may have run out on a slow
	// send, and then the notices already sent would stay pending and go
	// out again when their lease ends.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), NoticeRecordTimeout)
	defer cancel()
	var sent []SentNotice
	var record []error
	for i, n := range ns {
		switch err := errs[i]; {
		case err == nil:
			sent = append(sent, SentNotice{ID: n.ID, RequestID: n.RequestID, Messages: parts[i]})
		case errors.Is(err, ErrPermanent) || n.Attempts >= MaxNoticeAttempts:
			run.Failed++
			why := err.Error()
			if !errors.Is(err, ErrPermanent) {
				why = fmt.Sprintf("gave up after %d attempts: %v", n.Attempts, err)
			}
			if ferr := s.Store.FailNotice(ctx, n.ID, why); ferr != nil {
				record = append(record, fmt.Errorf("fail notice %s: %w", n.ID, ferr))
			}
		default:
			run.Retried++
			if rerr := s.Store.RetryNotice(ctx, n.ID, err.Error(), NoticeBackoff(n.Attempts)); rerr != nil {
				record = append(record, fmt.Errorf("retry notice %s: %w", n.ID, rerr))
			}
		}
	}
	if len(sent) > 0 {
		if err := s.Store.NoticesSent(ctx, sent); err != nil {
			record = append(record, fmt.Errorf("mark %d notices sent: %w", len(sent), err))
		} else {
			run.Sent = len(sent)
		}
	}
	return run, errors.Join(record...)
}
