package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/simcore/simcore/internal/testenv"
	"github.com/simcore/simcore/numbering"
	"github.com/simcore/simcore/provisioning"
	"github.com/simcore/simcore/provisioning/postgres"
)

// env is a test's own migrated database and a store on it.
type env struct {
	ctx   context.Context
	pool  *pgxpool.Pool
	store *postgres.Store
}

// newEnv gives the test a database of its own, cloned from the migrated
// template. The pool is closed before the database is dropped: cleanups run
// last-registered first.
func newEnv(t *testing.T) *env {
	t.Helper()
	url := testenv.Postgres(t, "provisioning", postgres.MigrationsVersion(), postgres.Migrate)
	ctx := testenv.Context(t, 2*time.Minute)
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatalf("parse pool config: %v", err)
	}
	cfg.MaxConns = 16 // the races below need more connections than CPUs
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("open pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return &env{ctx: ctx, pool: pool, store: postgres.New(pool)}
}

// counter makes the identifiers of a test process unique, so subtests can
// share a database.
var counter atomic.Int64

func newICCID() string {
	p := fmt.Sprintf("8997201%011d", counter.Add(1))
	return p + string(numbering.LuhnCheckDigit(p))
}

func newIMSI() string   { return fmt.Sprintf("42501%010d", counter.Add(1)) }
func newMSISDN() string { return fmt.Sprintf("9725%08d", counter.Add(1)) }

var hasher = func() *provisioning.ActivationHasher {
	h, err := provisioning.NewActivationHasher([]byte("test activation key, 32 bytes.."))
	if err != nil {
		panic(err)
	}
	return h
}()

func codeOf(iccid string) string { return "code-" + iccid[len(iccid)-6:] }

// newSIMRow is a valid import row for a new card.
func newSIMRow() provisioning.SIMImportRow {
	iccid := newICCID()
	return provisioning.SIMImportRow{ICCID: iccid, IMSI: newIMSI(), ActivationCode: codeOf(iccid)}
}

// sim adds a card to the inventory, in stock.
func (e *env) sim(t *testing.T) provisioning.SIM {
	t.Helper()
	row := newSIMRow()
	res, err := e.store.ImportSIMs(e.ctx, []provisioning.SIMImportRow{row}, hasher)
	if err != nil || res.Imported != 1 {
		t.Fatalf("ImportSIMs: %+v, %v", res, err)
	}
	return provisioning.SIM{ICCID: row.ICCID, IMSI: row.IMSI, State: provisioning.SIMInStock}
}

// customer is an account's subscriber and a plan.
type customer struct {
	subscriber provisioning.Subscriber
	plan       provisioning.Plan
}

func (e *env) customer(t *testing.T) customer {
	t.Helper()
	acc, err := e.store.CreateAccount(e.ctx, "Acme")
	if err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	u := provisioning.Subscriber{AccountID: acc, Name: "Dana", Email: "dana@example.com", Language: "he"}
	if u.ID, err = e.store.CreateSubscriber(e.ctx, u); err != nil {
		t.Fatalf("CreateSubscriber: %v", err)
	}
	p := provisioning.Plan{Name: testenv.UniqueName("plan-"), APN: "internet.example", APNUsername: "web", APNPassword: "s3cret"}
	if p.ID, err = e.store.CreatePlan(e.ctx, p); err != nil {
		t.Fatalf("CreatePlan: %v", err)
	}
	return customer{subscriber: u, plan: p}
}

// line is an active subscription.
type line struct {
	id     int64
	msisdn string
	sim    provisioning.SIM
	customer
}

func (e *env) line(t *testing.T) line {
	t.Helper()
	c := e.customer(t)
	m := e.sim(t)
	msisdn := newMSISDN()
	id, err := e.store.CreateSubscription(e.ctx, c.subscriber.ID, c.plan.ID, msisdn, m.ICCID, time.Now())
	if err != nil {
		t.Fatalf("CreateSubscription: %v", err)
	}
	m.State = provisioning.SIMActive
	return line{id: id, msisdn: msisdn, sim: m, customer: c}
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// request stores a pending request of kind with params for subscription.
func (e *env) request(t *testing.T, subscription int64, kind provisioning.Kind, params any, notBefore time.Time) provisioning.Request {
	t.Helper()
	r := provisioning.Request{SubscriptionID: subscription, Kind: kind, RequestedBy: "test", NotBefore: notBefore}
	if params != nil {
		r.Params = mustJSON(params)
	}
	if err := e.store.CreateRequest(e.ctx, &r); err != nil {
		t.Fatalf("CreateRequest %s: %v", kind, err)
	}
	return r
}

func (e *env) start(t *testing.T, id string) provisioning.Request {
	t.Helper()
	r, _, err := e.store.StartRequest(e.ctx, id, time.Now())
	if err != nil {
		t.Fatalf("StartRequest: %v", err)
	}
	return r
}

func (e *env) complete(t *testing.T, id string, ch provisioning.Change) {
	t.Helper()
	if err := e.store.Complete(e.ctx, id, json.RawMessage(`{"ok":true}`), ch); err != nil {
		t.Fatalf("Complete: %v", err)
	}
}

func (e *env) subscription(t *testing.T, id int64) provisioning.Subscription {
	t.Helper()
	s, err := e.store.Subscription(e.ctx, id)
	if err != nil {
		t.Fatalf("Subscription: %v", err)
	}
	return s
}

func (e *env) simState(t *testing.T, iccid string) provisioning.SIMState {
	t.Helper()
	m, err := e.store.SIM(e.ctx, iccid)
	if err != nil {
		t.Fatalf("SIM: %v", err)
	}
	return m.State
}

// reservedBy is the request that holds iccid, or "".
func (e *env) reservedBy(t *testing.T, iccid string) string {
	t.Helper()
	var by *string
	if err := e.pool.QueryRow(e.ctx, `SELECT reserved_by::text FROM sims WHERE iccid = $1`, iccid).Scan(&by); err != nil {
		t.Fatalf("reserved_by of %s: %v", iccid, err)
	}
	if by == nil {
		return ""
	}
	return *by
}

// wantErr fails the test unless err matches want (nil: no error).
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("%s: %v", what, err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("%s: error %v, want %v", what, err, want)
	}
}

func day(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
