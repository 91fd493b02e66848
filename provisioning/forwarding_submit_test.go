package provisioning

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// TestSubmitRefusesForwardingToOwnNumber: forwarding a line to its own
// number is refused when it is asked for, as an invalid number, and not
// recorded. It used to be accepted (`provision forwarding` printed a
// pending request, the portal answered 202) and failed a moment later in
// the worker, so the operator or subscriber had to poll to learn of a
// mistake the submission could see.
func TestSubmitRefusesForwardingToOwnNumber(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sub := Subscription{ID: 7, MSISDN: "447700900007", Status: StatusActive}
	store, queue := newMemStore(sub), &memQueue{}
	svc := &Service{Store: store, Queue: queue}
	params, _ := json.Marshal(ForwardingParams{Condition: "busy", Number: sub.MSISDN})
	_, err := svc.Submit(ctx, sub.ID, KindForwarding, params, "test")
	var ie *InputError
	if !errors.Is(err, ErrInvalid) || !errors.As(err, &ie) || ie.Field != "number" {
		t.Fatalf("Submit: %v, want an invalid number", err)
	}
	if len(queue.requests) != 0 {
		t.Fatalf("queued %+v, want nothing", queue.requests)
	}
	// Another number, and cancelling, are taken.
	for _, number := range []string{"447700900123", ""} {
		params, _ := json.Marshal(ForwardingParams{Condition: "busy", Number: number})
		if _, err := svc.Submit(ctx, sub.ID, KindForwarding, params, "test"); err != nil {
			t.Fatalf("Submit forwarding to %q: %v", number, err)
		}
	}
}

// TestApplyFailureNotCalledNetworkError: a request refused by simcore's own
// rules (here a suspend of a suspended line, which never reaches the
// network) fails for good, but its error, which the worker logs and the
// task queue keeps (`provision queue --archived`), must not call it a
// "permanent network error": that sent operators to look at the HLR.
func TestApplyFailureNotCalledNetworkError(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sub := Subscription{ID: 9, MSISDN: "447700900009", Status: StatusSuspended}
	store, queue := newMemStore(sub), &memQueue{}
	svc := &Service{Store: store, Queue: queue}
	r, err := svc.Submit(ctx, sub.ID, KindSuspend, nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	err = svc.Apply(ctx, r.ID)
	if !errors.Is(err, ErrPermanent) || !errors.Is(err, ErrConflict) {
		t.Fatalf("Apply: %v, want a permanent failure wrapping ErrConflict", err)
	}
	if strings.Contains(err.Error(), "network") {
		t.Errorf("Apply's error %q calls a refusal by simcore a network error", err)
	}
}
