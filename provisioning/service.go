package provisioning

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// MaxAttempts is how many times a request is tried against the network
// before it fails.
const MaxAttempts = 8

// Service applies the rules of provisioning: it records requests, and its
// Apply, called by a worker, carries one out on the network and records what
// happened.
type Service struct {
	Store   Store
	Queue   Queue
	Gateway Gateway
	SMS     SMSSender
	// SMSFrom is the sender address of notices and APN messages.
	SMSFrom string
	// VoicemailLanguage checks voicemail languages; nil accepts any.
	VoicemailLanguage VoicemailLanguageCheck
	Now               func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Submit records a request for subscription sub and queues it. Errors:
// ErrInvalid (an *InputError), ErrSubscriptionNotFound, ErrConflict (the
// subscription has ended), ErrSIMNotFound, ErrSIMNotInStock.
func (s *Service) Submit(ctx context.Context, sub int64, kind Kind, params json.RawMessage, by string) (Request, error) {
	if !IsUserKind(kind) {
		return Request{}, inputErr("kind", "unknown kind %q; want one of %v", kind, UserKinds)
	}
	return s.submit(ctx, sub, kind, params, by)
}

// SubmitSystem records and queues a request that only simcore itself makes:
// bar_data, unbar_data, bar_outgoing or unbar_outgoing (SystemKinds), from
// rating when a quota or balance runs out or is restored. by names the
// caller ("rating:..."). Errors are Submit's; any other kind is ErrInvalid
// on "kind".
func (s *Service) SubmitSystem(ctx context.Context, sub int64, kind Kind, params json.RawMessage, by string) (Request, error) {
	if !slices.Contains(SystemKinds, kind) {
		return Request{}, inputErr("kind", "%q is not a system kind; want one of %v", kind, SystemKinds)
	}
	return s.submit(ctx, sub, kind, params, by)
}

func (s *Service) submit(ctx context.Context, sub int64, kind Kind, params json.RawMessage, by string) (Request, error) {
	now := s.now()
	if kind == KindDates && s.keepsLiveStart(ctx, sub, params, now) {
		// Validated as of the start it keeps, which is past; the end
		// must still be to come (a line ends at the start of its end day),
		// or the line would end in the past, its last days unrated.
		var p DatesParams
		_ = json.Unmarshal(params, &p)
		today := now.UTC().Truncate(24 * time.Hour)
		if p.End != nil && !p.End.UTC().Truncate(24*time.Hour).After(today) {
			return Request{}, inputErr("end", "%s is not after today", p.End.Format(time.DateOnly))
		}
		now = p.Start
	}
	if err := ValidateParams(kind, params, now, s.VoicemailLanguage); err != nil {
		return Request{}, err
	}
	if kind == KindForwarding {
		// A line's number does not change, so forwarding to it can be
		// refused now rather than failed by the worker (which checks too).
		var p ForwardingParams
		if json.Unmarshal(params, &p) == nil && p.Number != "" {
			if cur, err := s.Store.Subscription(ctx, sub); err == nil && cur.MSISDN == p.Number {
				return Request{}, inputErr("number", "%s is the line's own number: its calls would forward to itself", p.Number)
			}
		}
	}
	if len(params) == 0 {
		params = json.RawMessage("{}")
	}
	// CreateRequest answers ErrSubscriptionNotFound itself: no lookup here.
	r := Request{SubscriptionID: sub, Kind: kind, Params: params, State: StatePending, RequestedBy: by, NotBefore: s.now()}
	if err := s.Store.CreateRequest(ctx, &r); err != nil {
		return Request{}, err
	}
	if err := s.Queue.EnqueueRequest(ctx, r); err != nil {
		// The request is recorded; the sweeper or a resubmission queues it.
		return r, fmt.Errorf("queue request %s: %w", r.ID, err)
	}
	return r, nil
}

// keepsLiveStart reports whether a dates request for subscription sub
// gives, as its start, the start date the subscription has, in the past,
// on a line that is live. A start must otherwise be today or later; but
// setting a live line's end date should not have to move its start (which
// moves its periods, and rates the usage before the new start as outside
// the line's dates).
func (s *Service) keepsLiveStart(ctx context.Context, sub int64, params json.RawMessage, now time.Time) bool {
	var p DatesParams
	if err := json.Unmarshal(params, &p); err != nil || p.Start.IsZero() {
		return false
	}
	day := func(t time.Time) time.Time { return t.UTC().Truncate(24 * time.Hour) }
	if !day(p.Start).Before(day(now)) {
		return false // not in the past: the usual rule holds
	}
	cur, err := s.Store.Subscription(ctx, sub)
	if err != nil {
		return false // the usual rule answers
	}
	live := cur.Status == StatusActive || cur.Status == StatusSuspended
	return live && day(cur.StartDate).Equal(day(p.Start))
}

// Apply carries out request id. It returns nil when the request is finished
// (done or failed for good), ErrNotReady when an earlier request of the same
// subscription is still open, an error wrapping ErrPermanent when it failed
// for good, and any other error when it should be tried again.
func (s *Service) Apply(ctx context.Context, id string) error {
	r, sub, err := s.Store.StartRequest(ctx, id, s.now())
	if err != nil {
		return err
	}
	if r.State.Terminal() {
		return nil
	}
	res, err := s.carryOut(ctx, r, sub)
	if err != nil && !permanent(err) && r.Attempts >= MaxAttempts && changesNetwork(r.Kind) {
		res, err = s.lastAttempt(ctx, r, sub, err)
	}
	if err != nil {
		if permanent(err) {
			if ferr := s.Store.Fail(ctx, r.ID, err.Error()); ferr != nil {
				return ferr
			}
			return fmt.Errorf("request %s failed for good: %w", r.ID, failedForGood{err})
		}
		var unknown *outcomeUnknownError
		if errors.As(err, &unknown) {
			// Keep it open: failing it (and putting a reserved SIM back
			// in stock) could contradict what the network has.
			if rerr := s.Store.RetryLater(ctx, r.ID, err.Error()); rerr != nil {
				return errors.Join(err, rerr)
			}
			return err
		}
		return s.retry(ctx, r, err)
	}
	outcome, _ := json.Marshal(res.outcome)
	// The notices are stored with the change (the outbox): sent exactly
	// when the request is done, even if this process dies next.
	res.change.Notices = res.notices
	if err := s.Store.Complete(ctx, r.ID, outcome, res.change); err != nil {
		// The network has the change; a retry repeats it under the same
		// idempotency key and completes the record. Counted like any
		// other attempt, so a completion that can never succeed fails the
		// request with its reason instead of holding the line for ever.
		return s.retry(ctx, r, fmt.Errorf("complete request %s: %w", r.ID, err))
	}
	for _, next := range res.change.Schedule {
		// Created with the change; if this enqueue is lost, the sweeper
		// finds the request pending and queues it. No ID: the request was
		// done already, and its completion created them.
		if next.ID == "" {
			continue
		}
		if err := s.Queue.EnqueueRequest(ctx, next); err != nil {
			return fmt.Errorf("queue %s: %w", next.Kind, err)
		}
	}
	return nil
}

// RecordReceipt stores an SMSC's delivery receipt on the message part it
// names. It returns an error wrapping ErrMessageNotFound when no request
// has recorded that message id: the receipt may have overtaken the worker
// that submitted the message, so the caller should have the SMSC deliver
// it again (workers/smpp does).
func (s *Service) RecordReceipt(ctx context.Context, r DeliveryReceipt) error {
	known, err := s.Store.RecordReceipt(ctx, r.MessageID, r.State, r.Done)
	if err != nil {
		return err
	}
	if !known {
		return fmt.Errorf("delivery receipt for message %s: %w", r.MessageID, ErrMessageNotFound)
	}
	return nil
}

// Sweep re-enqueues open requests not updated for olderThan: a task lost
// (Redis flushed, an enqueue that failed after the request was recorded)
// would otherwise leave its request pending for ever, or in progress for
// ever when its worker died too, holding back its line. olderThan must
// exceed the longest attempt (the task timeout). Requests whose task
// is still queued are not run twice (the task id is the request's). It
// returns how many it queued.
func (s *Service) Sweep(ctx context.Context, olderThan time.Duration) (int, error) {
	rs, err := s.Store.Stale(ctx, s.now().Add(-olderThan), 1000)
	if err != nil {
		return 0, err
	}
	for i, r := range rs {
		if err := s.Queue.EnqueueRequest(ctx, r); err != nil {
			return i, fmt.Errorf("re-queue request %s: %w", r.ID, err)
		}
	}
	return len(rs), nil
}

// failedForGood marks err, a permanent failure that may be simcore's own
// refusal (ErrConflict, ErrInvalid) rather than the network's, as
// ErrPermanent for the workers, without adding ErrPermanent's text
// ("permanent network error") to its message.
type failedForGood struct{ error }

func (e failedForGood) Unwrap() error        { return e.error }
func (e failedForGood) Is(target error) bool { return target == ErrPermanent }

func permanent(err error) bool {
	return errors.Is(err, ErrPermanent) || errors.Is(err, ErrConflict) || errors.Is(err, ErrInvalid) || errors.Is(err, ErrSIMNotFound)
}

// changesNetwork reports whether a kind changes the subscriber on the
// network (through the gateway), so that a call whose answer was lost may
// have landed.
func changesNetwork(k Kind) bool {
	switch k {
	case KindSIMSwap, KindVoicemail, KindForwarding, KindActivate, KindDeactivate, KindSuspend, KindResume,
		KindBarData, KindUnbarData, KindBarOutgoing, KindUnbarOutgoing:
		return true
	}
	return false
}

// outcomeUnknownError: every attempt failed, and the network could not be
// read to learn whether one of them landed.
type outcomeUnknownError struct{ attempts, read error }

func (e *outcomeUnknownError) Error() string {
	return fmt.Sprintf("the network cannot be read (%v) to learn whether an attempt landed (last: %v); still trying", e.read, e.attempts)
}

func (e *outcomeUnknownError) Unwrap() error { return e.attempts }

// lastAttempt runs before a request that changes the network gives up
// after MaxAttempts transient failures (cause). A failure may have been an
// answer lost after the change landed (a timeout, a dropped connection):
// failing the request then, and putting its reserved SIM back in stock,
// would contradict the network. So it reads the subscriber: a change that
// is there completes the request (the result of carryOut, the gateway's
// writes skipped); one that is not lets it fail with cause. When the
// network cannot be read, the error is an *outcomeUnknownError and the
// request stays open.
func (s *Service) lastAttempt(ctx context.Context, r Request, sub Subscription, cause error) (result, error) {
	landed, err := s.landed(ctx, r, sub)
	switch {
	case err != nil:
		return result{}, &outcomeUnknownError{attempts: cause, read: err}
	case !landed:
		return result{}, cause
	}
	verified := *s
	verified.Gateway = landedGateway{s.Gateway}
	res, err := verified.carryOut(ctx, r, sub)
	if err != nil {
		return res, err
	}
	if res.outcome == nil {
		res.outcome = map[string]any{}
	}
	res.outcome["found_on_network"] = true
	return res, nil
}

// landed reports whether the network already has r's change.
func (s *Service) landed(ctx context.Context, r Request, sub Subscription) (bool, error) {
	ns, err := s.Gateway.Subscriber(ctx, sub.MSISDN)
	if errors.Is(err, ErrNotProvisioned) {
		return r.Kind == KindDeactivate, nil
	}
	if err != nil {
		return false, err
	}
	switch r.Kind {
	case KindSIMSwap:
		var p SIMSwapParams
		if err := json.Unmarshal(r.Params, &p); err != nil {
			return false, inputErr("params", "%v", err)
		}
		sim, err := s.Store.SIM(ctx, p.NewICCID)
		if err != nil {
			return false, err
		}
		return ns.ICCID == sim.ICCID && ns.IMSI == sim.IMSI, nil
	case KindVoicemail:
		var p VoicemailParams
		if err := json.Unmarshal(r.Params, &p); err != nil {
			return false, inputErr("params", "%v", err)
		}
		return ns.Voicemail == VoicemailSettings(p), nil
	case KindForwarding:
		var p ForwardingParams
		if err := json.Unmarshal(r.Params, &p); err != nil {
			return false, inputErr("params", "%v", err)
		}
		return ns.Forwarding[p.Condition] == p.Number, nil
	case KindActivate:
		return ns.IMSI == sub.IMSI && ns.ICCID == sub.ICCID, nil
	case KindSuspend, KindResume, KindBarData, KindUnbarData, KindBarOutgoing, KindUnbarOutgoing:
		return ns.Barring == barringAfter(r.Kind, sub), nil
	}
	return false, nil // KindDeactivate: still provisioned
}

// barringAfter is the barring the network has once a barring kind (suspend,
// resume, bar_* and unbar_*) is applied to sub: the bar it changes set,
// the others as sub records them.
func barringAfter(k Kind, sub Subscription) Barring {
	b := sub.Barring()
	switch k {
	case KindSuspend, KindResume:
		b.All = k == KindSuspend
	case KindBarData, KindUnbarData:
		b.Data = k == KindBarData
	case KindBarOutgoing, KindUnbarOutgoing:
		b.Outgoing = k == KindBarOutgoing
	}
	return b
}

// landedGateway is a Gateway whose changes are already on the network
// (landed checked them): its writes do nothing.
type landedGateway struct{ Gateway }

func (landedGateway) CreateSubscriber(context.Context, string, string, string, string) error {
	return nil
}
func (landedGateway) SwapSIM(context.Context, string, string, string, string) error { return nil }
func (landedGateway) SetVoicemail(context.Context, string, string, VoicemailSettings) error {
	return nil
}
func (landedGateway) SetForwarding(context.Context, string, string, ForwardingKind, string) error {
	return nil
}
func (landedGateway) SetBarring(context.Context, string, string, Barring) error { return nil }
func (landedGateway) DeleteSubscriber(context.Context, string, string) error    { return nil }

// retry records a transient failure, or the final one after MaxAttempts.
func (s *Service) retry(ctx context.Context, r Request, cause error) error {
	if r.Attempts >= MaxAttempts {
		why := fmt.Sprintf("gave up after %d attempts: %v", r.Attempts, cause)
		if err := s.Store.Fail(ctx, r.ID, why); err != nil {
			return err
		}
		return fmt.Errorf("request %s: %w: %s", r.ID, ErrPermanent, why)
	}
	if err := s.Store.RetryLater(ctx, r.ID, cause.Error()); err != nil {
		return errors.Join(cause, err)
	}
	return cause
}

// result is what carrying out a request produced.
type result struct {
	outcome map[string]any
	change  Change
	notices []Notice
}

func (s *Service) carryOut(ctx context.Context, r Request, sub Subscription) (result, error) {
	var res result
	key := r.ID // the idempotency key of every network change the request makes
	notice := func(noticeKey string, data map[string]any, email bool) {
		res.notices = append(res.notices, Notice{ID: r.ID + ":sms", Channel: "sms", To: sub.MSISDN, Language: sub.Subscriber.Language, Key: noticeKey, Data: data})
		if email && sub.Subscriber.Email != "" {
			res.notices = append(res.notices, Notice{ID: r.ID + ":email", Channel: "email", To: sub.Subscriber.Email, Language: sub.Subscriber.Language, Key: noticeKey, Data: data})
		}
	}
	if r.Kind == KindActivate || r.Kind == KindDeactivate {
		// A schedule that a later dates change replaced has nothing to do,
		// whatever became of the line since (it may have ended).
		var p ScheduleParams
		if err := json.Unmarshal(r.Params, &p); err != nil {
			return res, inputErr("params", "%v", err)
		}
		if p.DatesVersion != sub.DatesVersion {
			res.outcome = map[string]any{"skipped": "superseded by a later dates change"}
			return res, nil
		}
	}
	if sub.Status == StatusEnded {
		return res, fmt.Errorf("%w: subscription %d has ended", ErrConflict, sub.ID)
	}
	switch r.Kind {
	case KindSIMSwap:
		var p SIMSwapParams
		if err := json.Unmarshal(r.Params, &p); err != nil {
			return res, inputErr("params", "%v", err)
		}
		sim, err := s.Store.SIM(ctx, p.NewICCID)
		if err != nil {
			return res, err
		}
		if sim.State != SIMReserved && sim.State != SIMActive {
			return res, fmt.Errorf("%w: SIM %s is %s", ErrConflict, sim.ICCID, sim.State)
		}
		if err := s.Gateway.SwapSIM(ctx, key, sub.MSISDN, sim.IMSI, sim.ICCID); err != nil {
			return res, err
		}
		res.change.SwapTo = &sim
		res.outcome = map[string]any{"msisdn": sub.MSISDN, "old_iccid": sub.ICCID, "new_iccid": sim.ICCID}
		notice("sim_swap_done", map[string]any{"MSISDN": sub.MSISDN, "ICCIDLast4": last4(sim.ICCID), "Name": sub.Subscriber.Name}, true)
	case KindVoicemail:
		var p VoicemailParams
		if err := json.Unmarshal(r.Params, &p); err != nil {
			return res, inputErr("params", "%v", err)
		}
		v := VoicemailSettings(p)
		if err := s.Gateway.SetVoicemail(ctx, key, sub.MSISDN, v); err != nil {
			return res, err
		}
		res.change.Voicemail = &v
		res.outcome = map[string]any{"voicemail": v}
		notice("voicemail_changed", map[string]any{"Enabled": v.Enabled, "Language": v.Language}, false)
	case KindForwarding:
		var p ForwardingParams
		if err := json.Unmarshal(r.Params, &p); err != nil {
			return res, inputErr("params", "%v", err)
		}
		if p.Number != "" && p.Number == sub.MSISDN {
			return res, inputErr("number", "%s is the line's own number: its calls would forward to itself", p.Number)
		}
		if err := s.Gateway.SetForwarding(ctx, key, sub.MSISDN, p.Condition, p.Number); err != nil {
			return res, err
		}
		res.change.Forwarding = &p
		res.outcome = map[string]any{"condition": p.Condition, "number": p.Number}
		notice("forwarding_changed", map[string]any{"Condition": string(p.Condition), "Number": p.Number}, false)
	case KindAPNSMS:
		text, err := RenderSMS(Notification{Key: "apn_settings", Language: sub.Subscriber.Language, Data: map[string]any{
			"APN": sub.Plan.APN, "Username": sub.Plan.APNUsername, "Password": sub.Plan.APNPassword, "Plan": sub.Plan.Name,
		}})
		if err != nil {
			return res, fmt.Errorf("%w: %w", ErrPermanent, err)
		}
		sent, err := s.SMS.SendSMS(ctx, SMS{To: sub.MSISDN, From: s.SMSFrom, Text: text, Ref: r.ID})
		if err != nil {
			return res, err
		}
		if err := s.Store.RecordMessages(ctx, r.ID, sent.MessageIDs); err != nil {
			return res, err
		}
		res.outcome = map[string]any{"message_ids": sent.MessageIDs, "parts": sent.Parts}
	case KindDates:
		var p DatesParams
		if err := json.Unmarshal(r.Params, &p); err != nil {
			return res, inputErr("params", "%v", err)
		}
		res.change.Dates = &p
		version := sub.DatesVersion + 1
		params, _ := json.Marshal(ScheduleParams{DatesVersion: version})
		res.change.Schedule = append(res.change.Schedule, Request{SubscriptionID: sub.ID, Kind: KindActivate, Params: params, State: StatePending, RequestedBy: "schedule:" + r.ID, NotBefore: p.Start})
		if p.End != nil {
			res.change.Schedule = append(res.change.Schedule, Request{SubscriptionID: sub.ID, Kind: KindDeactivate, Params: params, State: StatePending, RequestedBy: "schedule:" + r.ID, NotBefore: *p.End})
		}
		res.outcome = map[string]any{"start": p.Start, "end": p.End, "dates_version": version}
		notice("plan_dates_changed", map[string]any{"Start": p.Start.Format(time.DateOnly), "End": dateOrEmpty(p.End)}, false)
	case KindActivate, KindDeactivate:
		// Superseded schedules were skipped above.
		if r.Kind == KindActivate {
			err := s.Gateway.CreateSubscriber(ctx, key, sub.MSISDN, sub.IMSI, sub.ICCID)
			if errors.Is(err, ErrAlreadyProvisioned) {
				// A dates change on a live line (a new end date)
				// schedules an activation at its start, or an earlier
				// attempt landed under a key the gateway forgot: done if
				// the network has the line on this SIM (docs/network.md).
				err = s.onNetwork(ctx, sub)
				res.outcome = map[string]any{"already_on_network": true}
			}
			if err != nil {
				return res, err
			}
			res.change.Status = StatusActive
			if sub.Status == StatusSuspended {
				res.change.Status = "" // it stays suspended (barred)
			}
		} else {
			err := s.Gateway.DeleteSubscriber(ctx, key, sub.MSISDN)
			if errors.Is(err, ErrNotProvisioned) {
				// Gone already: an earlier attempt landed under a
				// forgotten key, or the line never reached the network.
				err = nil
				res.outcome = map[string]any{"already_off_network": true}
			}
			if err != nil {
				return res, err
			}
			res.change.Status = StatusEnded
		}
		if res.outcome == nil {
			res.outcome = map[string]any{}
		}
		res.outcome["status"] = cmp.Or(res.change.Status, sub.Status)
	case KindSuspend, KindResume:
		suspend := r.Kind == KindSuspend
		if want := map[bool]SubscriptionStatus{true: StatusActive, false: StatusSuspended}[suspend]; sub.Status != want {
			return res, fmt.Errorf("%w: %s of a line that is %s, not %s", ErrConflict, r.Kind, sub.Status, want)
		}
		// The barring is set whole: send rating's bars along, or resuming
		// would lift a bar that rating put on.
		if err := s.Gateway.SetBarring(ctx, key, sub.MSISDN, barringAfter(r.Kind, sub)); err != nil {
			return res, err
		}
		res.change.Status = StatusActive
		noticeKey := "service_resumed"
		if suspend {
			res.change.Status, noticeKey = StatusSuspended, "service_suspended"
		}
		res.outcome = map[string]any{"status": res.change.Status}
		notice(noticeKey, map[string]any{"MSISDN": sub.MSISDN}, true)
	case KindBarData, KindUnbarData, KindBarOutgoing, KindUnbarOutgoing:
		var p BarringParams
		if err := json.Unmarshal(r.Params, &p); err != nil {
			return res, inputErr("params", "%v", err)
		}
		// Sent even when the line already has this bar: the network is
		// the truth, and the call is idempotent. The other bars go as
		// the subscription records them.
		b := barringAfter(r.Kind, sub)
		if err := s.Gateway.SetBarring(ctx, key, sub.MSISDN, b); err != nil {
			return res, err
		}
		if r.Kind == KindBarData || r.Kind == KindUnbarData {
			res.change.DataBarred = &b.Data
			res.outcome = map[string]any{"data_barred": b.Data, "reason": p.Reason}
		} else {
			res.change.OutgoingBarred = &b.Outgoing
			res.outcome = map[string]any{"outgoing_barred": b.Outgoing, "reason": p.Reason}
		}
		if p.Notice != "" {
			notice(p.Notice, map[string]any{}, false)
		}
	default:
		return res, inputErr("kind", "unknown kind %q", r.Kind)
	}
	return res, nil
}

// onNetwork checks that the network has sub's MSISDN on sub's SIM; an error
// wrapping ErrConflict (permanent) when it is on another.
func (s *Service) onNetwork(ctx context.Context, sub Subscription) error {
	ns, err := s.Gateway.Subscriber(ctx, sub.MSISDN)
	if err != nil {
		return err
	}
	if ns.IMSI != sub.IMSI || ns.ICCID != sub.ICCID {
		return fmt.Errorf("%w: %s is on the network with SIM %s (IMSI %s), not %s", ErrConflict, sub.MSISDN, ns.ICCID, ns.IMSI, sub.ICCID)
	}
	return nil
}

// SendNotice renders and sends a notice. Errors wrap ErrPermanent when
// resending cannot help (no such template, a refused address).
func (s *Service) SendNotice(ctx context.Context, n Notice, mail Mailer) error {
	_, err := s.sendNotice(ctx, n, mail)
	return err
}

// sendNotice is SendNotice, returning the message ids of an SMS. An SMS
// asks for delivery receipts only when the notice has a request to record
// its parts on (the outbox's do, see SendNotices).
func (s *Service) sendNotice(ctx context.Context, n Notice, mail Mailer) ([]string, error) {
	note := Notification{Key: n.Key, Language: n.Language, Data: n.Data}
	switch n.Channel {
	case "sms":
		text, err := RenderSMS(note)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrPermanent, err)
		}
		res, err := s.SMS.SendSMS(ctx, SMS{To: n.To, From: s.SMSFrom, Text: text, Ref: n.ID, NoReceipt: n.RequestID == ""})
		return res.MessageIDs, err
	case "email":
		subject, body, err := RenderEmail(note)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrPermanent, err)
		}
		return nil, mail.SendEmail(ctx, Email{To: n.To, Subject: subject, Text: body})
	}
	return nil, fmt.Errorf("%w: unknown notice channel %q", ErrPermanent, n.Channel)
}

func last4(s string) string {
	if len(s) <= 4 {
		return s
	}
	return s[len(s)-4:]
}

func dateOrEmpty(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.Format(time.DateOnly)
}
