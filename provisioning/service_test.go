package provisioning

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestApplyDatesSchedulesAndStoresNotice: a dates change is completed with
// its notice in the outbox (Change.Notices, not a task) and its activation
// queued under the ID the store gave it.
func TestApplyDatesSchedulesAndStoresNotice(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sub := Subscription{ID: 4, MSISDN: "447700900004", Status: StatusActive, Subscriber: Subscriber{Language: "da"}}
	store, queue := newMemStore(sub), &memQueue{}
	svc := &Service{Store: store, Queue: queue}
	start := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, 1)
	params, _ := json.Marshal(DatesParams{Start: start})
	r, err := svc.Submit(ctx, sub.ID, KindDates, params, "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Apply(ctx, r.ID); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if len(queue.requests) != 2 || queue.requests[1].Kind != KindActivate || queue.requests[1].ID == "" || !queue.requests[1].NotBefore.Equal(start) {
		t.Fatalf("queued %+v; want the dates request, then its activation with an id, due %s", queue.requests, start)
	}
	want := []Notice{{ID: r.ID + ":sms", Channel: "sms", To: sub.MSISDN, Language: "da", Key: "plan_dates_changed",
		Data: map[string]any{"Start": start.Format(time.DateOnly), "End": ""}}}
	if d := cmp.Diff(want, store.notices()); d != "" {
		t.Errorf("stored notices (-want +got):\n%s", d)
	}
	if len(queue.notices) != 0 {
		t.Errorf("%d notice tasks queued, want none", len(queue.notices))
	}

}
