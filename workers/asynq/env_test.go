package asynq_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	hq "github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/simcore/simcore/internal/testenv"
	"github.com/simcore/simcore/netsim/hlr"
	"github.com/simcore/simcore/netsim/mailsink"
	"github.com/simcore/simcore/netsim/smsc"
	"github.com/simcore/simcore/provisioning"
	ppg "github.com/simcore/simcore/provisioning/postgres"
	wasynq "github.com/simcore/simcore/workers/asynq"
	"github.com/simcore/simcore/workers/email"
	"github.com/simcore/simcore/workers/gateway"
	wsmpp "github.com/simcore/simcore/workers/smpp"
)

// env is provisioning end to end: real PostgreSQL and Redis, the network
// simulator over HTTP, SMPP and SMTP on 127.0.0.1, and a running worker.
type env struct {
	pool  *pgxpool.Pool
	store *ppg.Store
	svc   *provisioning.Service
	hlr   *hlr.Server
	smsc  *smsc.Server
	mail  *mailsink.Server
	redis hq.RedisClientOpt
	// worker runs the tasks and the notice outbox; workerConfig makes more.
	worker       *wasynq.Worker
	workerConfig wasynq.Config
}

func iccid(i int) string {
	s := fmt.Sprintf("894477%012d", i)
	return s + string(luhn(s))
}

func luhn(s string) byte {
	sum, double := 0, true
	for i := len(s) - 1; i >= 0; i-- {
		d := int(s[i] - '0')
		if double {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return byte('0' + (10-sum%10)%10)
}

func msisdn(i int) string { return fmt.Sprintf("4477009%05d", i) }

// refusedLine is the line whose number the SMSC refuses for good
// (ESME_RINVDSTADR) in every env.
const refusedLine = 99

// newEnv starts the network simulator, the stores and a worker. The gateway
// and the SMSC fail the given fractions of requests transiently.
func newEnv(t *testing.T, gatewayFailureRate, smscFailureRate float64) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))

	pgURL := testenv.Postgres(t, "provisioning", ppg.MigrationsVersion(), ppg.Migrate)
	pool, err := pgxpool.New(ctx, pgURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	e := &env{store: ppg.New(pool), pool: pool}

	if e.hlr, err = hlr.New(hlr.Config{Token: "tok", FailureRate: gatewayFailureRate, Seed: 1, Log: log}); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(e.hlr.Handler())
	t.Cleanup(hs.Close)
	gw, err := gateway.New(gateway.Config{BaseURL: hs.URL, Token: "tok", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}

	if e.smsc, err = smsc.New(smsc.Config{Addr: "127.0.0.1:0", SystemID: "simcore", Password: "pw", ReceiptDelay: 50 * time.Millisecond,
		FailureRate: smscFailureRate, RejectPrefixes: []string{msisdn(refusedLine)}, Log: log}); err != nil {
		t.Fatal(err)
	}
	if err := e.smsc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.smsc.Close() })
	if e.mail, err = mailsink.New(mailsink.Config{Addr: "127.0.0.1:0", Log: log}); err != nil {
		t.Fatal(err)
	}
	if err := e.mail.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.mail.Close() })
	mailer, err := email.New(email.Config{Addr: e.mail.Addr(), From: "simcore@example.com", TLS: "none", Timeout: 5 * time.Second, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	sender, err := wsmpp.New(wsmpp.Config{Addr: e.smsc.Addr(), SystemID: "simcore", Password: "pw", SourceAddr: "simcore", Window: 10, Rate: 1000, Log: log,
		// As cmd/simcore wires it; e.svc is set below, before any submit.
		OnReceipt: func(r provisioning.DeliveryReceipt) error { return e.svc.RecordReceipt(context.Background(), r) }})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = sender.Start(ctx) }()
	t.Cleanup(func() { sender.Close() })

	addr, db := testenv.RedisDB(t)
	opt := hq.RedisClientOpt{Addr: addr, DB: db}
	e.redis = opt
	q := wasynq.NewQueue(opt)
	t.Cleanup(func() { q.Close() })
	e.svc = &provisioning.Service{Store: e.store, Queue: q, Gateway: gw, SMS: sender, SMSFrom: "simcore", VoicemailLanguage: provisioning.IsVoicemailLanguage}
	e.workerConfig = wasynq.Config{Redis: opt, Service: e.svc, Mailer: mailer, Concurrency: 20, Log: log}
	e.worker = e.startWorker(t)
	return e
}

// startWorker starts a worker (another one, as after a restart, when the
// env's is shut down).
func (e *env) startWorker(t *testing.T) *wasynq.Worker {
	t.Helper()
	w, err := wasynq.NewWorker(e.workerConfig)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Shutdown)
	return w
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// line creates SIM i in stock plus a subscription on it, activated on the
// network through a dates request, and returns the subscription id.
func (e *env) line(t *testing.T, i int, lang string) int64 {
	t.Helper()
	sub := e.subscription(t, i, lang)
	e.submitAndWait(t, sub, provisioning.KindDates, provisioning.DatesParams{Start: time.Now().UTC().Truncate(24 * time.Hour)}, provisioning.StateDone)
	// The dates request schedules the activation; wait until the network has the line.
	e.waitFor(t, func() bool { _, ok := e.hlr.Subscriber(msisdn(i)); return ok }, "line %d never reached the HLR", i)
	return sub
}

// subscription creates SIM i in stock plus a subscription on it, unknown to
// the network, and returns the subscription id.
func (e *env) subscription(t *testing.T, i int, lang string) int64 {
	t.Helper()
	ctx := testenv.Context(t, time.Minute)
	h, _ := provisioning.NewActivationHasher([]byte("0123456789abcdef0123"))
	res, err := e.store.ImportSIMs(ctx, []provisioning.SIMImportRow{{ICCID: iccid(i), IMSI: fmt.Sprintf("23415%010d", i), ActivationCode: "CODE123456"}}, h)
	if err != nil || res.Imported != 1 {
		t.Fatalf("import SIM %d: %+v %v", i, res, err)
	}
	plan, err := e.store.CreatePlan(ctx, provisioning.Plan{Name: "Test plan", APN: "test.apn", APNUsername: "u", APNPassword: "p"})
	if err != nil {
		t.Fatal(err)
	}
	acct, err := e.store.CreateAccount(ctx, "acct")
	if err != nil {
		t.Fatal(err)
	}
	subr, err := e.store.CreateSubscriber(ctx, provisioning.Subscriber{AccountID: acct, Name: "Dana", Email: fmt.Sprintf("s%d@example.com", i), Language: lang})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := e.store.CreateSubscription(ctx, subr, plan, msisdn(i), iccid(i), time.Now().UTC().Truncate(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

func (e *env) submit(t *testing.T, sub int64, kind provisioning.Kind, params any) provisioning.Request {
	t.Helper()
	b, _ := json.Marshal(params)
	r, err := e.svc.Submit(testenv.Context(t, time.Minute), sub, kind, b, "test")
	if err != nil {
		t.Fatalf("submit %s: %v", kind, err)
	}
	return r
}

func (e *env) wait(t *testing.T, id string, want provisioning.State) provisioning.Request {
	t.Helper()
	var r provisioning.Request
	e.waitFor(t, func() bool {
		var err error
		r, err = e.store.Request(context.Background(), id)
		return err == nil && r.State.Terminal()
	}, "request %s did not finish", id)
	if r.State != want {
		t.Fatalf("request %s (%s) ended %s (%s), want %s", id, r.Kind, r.State, r.LastError, want)
	}
	return r
}

func (e *env) submitAndWait(t *testing.T, sub int64, kind provisioning.Kind, params any, want provisioning.State) provisioning.Request {
	t.Helper()
	return e.wait(t, e.submit(t, sub, kind, params).ID, want)
}

func (e *env) waitFor(t *testing.T, cond func() bool, format string, a ...any) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf(format, a...)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fastRetries moves retrying tasks back to pending every 100 ms until the
// test ends. Asynq forwards due retries only every 5 s, after a backoff that
// doubles with each failure; this skips the waiting, while every attempt,
// and the limits on them, stay real.
func (e *env) fastRetries(t *testing.T) {
	t.Helper()
	insp := hq.NewInspector(e.redis)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				_, _ = insp.RunAllRetryTasks(wasynq.QueueName) // the queue may not exist yet
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		<-done
		insp.Close()
	})
}

func smsTo(s *smsc.Server, to, contains string) int {
	n := 0
	for _, m := range s.Messages() {
		if m.Destination == to && strings.Contains(m.Text, contains) {
			n++
		}
	}
	return n
}
