package http_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	hq "github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"

	"github.com/simcore/simcore/internal/testenv"
	mpg "github.com/simcore/simcore/metering/postgres"
	"github.com/simcore/simcore/netsim/mailsink"
	"github.com/simcore/simcore/numbering"
	"github.com/simcore/simcore/portal"
	"github.com/simcore/simcore/portal/argon2id"
	phttp "github.com/simcore/simcore/portal/http"
	ppg "github.com/simcore/simcore/portal/postgres"
	predis "github.com/simcore/simcore/portal/redis"
	"github.com/simcore/simcore/provisioning"
	provpg "github.com/simcore/simcore/provisioning/postgres"
	"github.com/simcore/simcore/rating"
	rpg "github.com/simcore/simcore/rating/postgres"
	wasynq "github.com/simcore/simcore/workers/asynq"
	"github.com/simcore/simcore/workers/email"
)

// migrateAll brings a database to the schema the portal runs on:
// metering's ledger (for the usage writer the tests fill ClickHouse with),
// provisioning's inventory and subscriptions, then the portal's tables.
func migrateAll(ctx context.Context, url string) error {
	for _, m := range []func(context.Context, string) error{mpg.Migrate, provpg.Migrate, ppg.Migrate, rpg.Migrate} {
		if err := m(ctx, url); err != nil {
			return err
		}
	}
	return nil
}

// migrationsVersion combines the three domains' hashes into one short
// enough for a template name.
func migrationsVersion() string {
	h := sha256.Sum256([]byte(mpg.MigrationsVersion() + provpg.MigrationsVersion() + ppg.MigrationsVersion() + rpg.MigrationsVersion()))
	return hex.EncodeToString(h[:8])
}

// env is a portal API on a test server, over the test's own PostgreSQL
// database, Redis key prefix and task-queue database, the shared ClickHouse
// test database, and a real SMTP sink.
type env struct {
	t        testing.TB
	ctx      context.Context
	url      string
	pool     *pgxpool.Pool
	prov     *provpg.Store
	accounts *portal.Accounts
	api      *phttp.Server
	sink     *mailsink.Server
	reg      *prometheus.Registry
	logs     *testenv.Buffer
	plan     provisioning.Plan
	sub      provisioning.Subscriber
	rating   *rpg.Store
	caches   *caches // nil unless withCaches
}

// hasher hashes activation codes; the key is the tests' own.
var hasher = func() *provisioning.ActivationHasher {
	h, err := provisioning.NewActivationHasher([]byte("portal test activation key 32 b."))
	if err != nil {
		panic(err)
	}
	return h
}()

// envConfig is what options change: the account service's configuration,
// the Lines the API reads (the real store, or a wrapper around it that
// injects faults), and the proxies the API trusts.
type envConfig struct {
	accounts portal.Config
	lines    func(*provpg.Store) phttp.Lines
	caches   bool
	trusted  phttp.TrustedProxies
}

type envOption func(*envConfig)

// withAccounts changes the account service's configuration.
func withAccounts(f func(*portal.Config)) envOption {
	return func(c *envConfig) { f(&c.accounts) }
}

// withTrustedProxies makes the API believe X-Forwarded-For from list
// (ParseTrustedProxies); the test client connects from loopback.
func withTrustedProxies(t testing.TB, list string) envOption {
	p, err := phttp.ParseTrustedProxies(list)
	if err != nil {
		t.Fatal(err)
	}
	return func(c *envConfig) { c.trusted = p }
}

// withLines wraps the real provisioning store.
func withLines(f func(*provpg.Store) phttp.Lines) envOption {
	return func(c *envConfig) { c.lines = f }
}

func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	ctx := testenv.Context(t, 3*time.Minute)
	pgURL := testenv.Postgres(t, "portal_http", migrationsVersion(), migrateAll)
	pool, err := pgxpool.New(ctx, pgURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	rdb := goredis.NewClient(&goredis.Options{Addr: testenv.RedisAddr(t)})
	t.Cleanup(func() { rdb.Close() })
	qAddr, qDB := testenv.RedisDB(t)
	queue := wasynq.NewQueue(hq.RedisClientOpt{Addr: qAddr, DB: qDB})
	t.Cleanup(func() { queue.Close() })

	sink, err := mailsink.New(mailsink.Config{Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := sink.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	logs := &testenv.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	reg := prometheus.NewRegistry()
	m, err := email.New(email.Config{Addr: sink.Addr(), From: "simcore <noreply@simcore.example>", TLS: email.TLSNone, Log: log, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	// Cheap argon2id parameters: the tests hash many passwords, and the
	// hashing is tested in portal/argon2id.
	pw, err := argon2id.New(argon2id.Params{MemoryKiB: 256, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	if err != nil {
		t.Fatal(err)
	}
	prov := provpg.New(pool)
	ec := envConfig{
		accounts: portal.Config{
			Store: ppg.New(pool), Hasher: pw, Limiter: predis.New(rdb, testenv.RedisPrefix(t)),
			Mailer: phttp.Mailer(m), Log: phttp.ContextLogger(log), LinkBase: "https://portal.example",
		},
		lines: func(s *provpg.Store) phttp.Lines { return s },
	}
	for _, o := range opts {
		o(&ec)
	}
	var (
		usage  phttp.UsageReader = usageReader(t)
		cached *caches
	)
	if ec.caches {
		cached, usage = startCaches(t, ctx, pool, reg, &ec.accounts, usage)
	}
	acc, err := portal.New(ec.accounts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(acc.Wait)
	cards, err := phttp.NewCardVerifier(prov, hasher)
	if err != nil {
		t.Fatal(err)
	}
	rstore := rpg.New(pool)
	balances := &rating.Accounts{Store: rstore, Credits: rstore, Subs: ratingLines{prov}}
	api, err := phttp.New(phttp.Config{
		Accounts: acc, Cards: cards, Lines: ec.lines(prov), Log: log, Registry: reg, Usage: usage, Balances: balances,
		Submit:         &provisioning.Service{Store: prov, Queue: queue, VoicemailLanguage: provisioning.IsVoicemailLanguage},
		TrustedProxies: ec.trusted,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	e := &env{t: t, ctx: ctx, url: srv.URL, pool: pool, prov: prov, accounts: acc, api: api, sink: sink, reg: reg, logs: logs, rating: rstore, caches: cached}
	acct, err := prov.CreateAccount(ctx, "Travel SIMs Ltd")
	if err != nil {
		t.Fatal(err)
	}
	e.sub = provisioning.Subscriber{AccountID: acct, Name: "Dana", Email: "dana@example.com", Language: "en"}
	if e.sub.ID, err = prov.CreateSubscriber(ctx, e.sub); err != nil {
		t.Fatal(err)
	}
	e.plan = provisioning.Plan{Name: testenv.UniqueName("plan-"), APN: "internet.example"}
	if e.plan.ID, err = prov.CreatePlan(ctx, e.plan); err != nil {
		t.Fatal(err)
	}
	// The plan in the tariff: pay as you go in EUR, with 1 GB a month.
	cat, err := rating.ParseCatalogue(strings.NewReader(fmt.Sprintf(`
zones: [{name: home, networks: ["23415"]}]
price_lists: [{name: eur, currency: EUR, rates: {home: {data_per_mb: "0.01", voice_per_minute: "0.10", sms: "0.05"}}}]
plans: [{name: %q, apn: internet.example, period: month, price_list: eur, allowances: {data: 1GB}, allowance_zones: [home]}]
`, e.plan.Name)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rstore.ImportCatalogue(ctx, cat, "test"); err != nil {
		t.Fatal(err)
	}
	return e
}

// ratingLines is provisioning's subscriptions as rating reads them (cmd
// wires the same for the binary).
type ratingLines struct{ s *provpg.Store }

func (r ratingLines) Live(ctx context.Context, iccids []string) ([]rating.Subscriber, error) {
	subs, err := r.s.SubscriptionsUsingICCIDs(ctx, iccids)
	out := make([]rating.Subscriber, len(subs))
	for i, s := range subs {
		out[i] = rating.Subscriber{SubscriptionID: s.ID, ICCID: s.ICCID, PastICCIDs: s.PastICCIDs, MSISDN: s.MSISDN,
			Language: s.Subscriber.Language, Plan: s.Plan.Name, Start: s.StartDate, End: s.EndDate, DataBarred: s.DataBarred}
	}
	return out, err
}

func (ratingLines) Barred(context.Context) ([]rating.Subscriber, error) { return nil, nil }

var counter atomic.Int64

// Identifiers need to be unique within a test process only: each test has
// its own PostgreSQL database, and the ClickHouse database is the
// process's own.
func newICCID() string {
	p := fmt.Sprintf("8997206%011d", counter.Add(1))
	return p + string(numbering.LuhnCheckDigit(p))
}

func newIMSI() string   { return fmt.Sprintf("42506%010d", counter.Add(1)) }
func newMSISDN() string { return fmt.Sprintf("9725%08d", counter.Add(1)) }

func codeOf(iccid string) string { return "CODE-" + iccid[len(iccid)-8:] }

// card adds a SIM card to the inventory, in stock; its activation code is
// codeOf(iccid).
func (e *env) card() string {
	e.t.Helper()
	iccid := newICCID()
	res, err := e.prov.ImportSIMs(e.ctx, []provisioning.SIMImportRow{{ICCID: iccid, IMSI: newIMSI(), ActivationCode: codeOf(iccid)}}, hasher)
	if err != nil || res.Imported != 1 {
		e.t.Fatalf("ImportSIMs: %+v, %v", res, err)
	}
	return iccid
}

// line is an active subscription on a new card.
type line struct {
	id     int64
	iccid  string
	msisdn string
}

func (e *env) line() line {
	e.t.Helper()
	iccid := e.card()
	msisdn := newMSISDN()
	id, err := e.prov.CreateSubscription(e.ctx, e.sub.ID, e.plan.ID, msisdn, iccid, time.Now())
	if err != nil {
		e.t.Fatalf("CreateSubscription: %v", err)
	}
	return line{id: id, iccid: iccid, msisdn: msisdn}
}

// response is an answer, read whole.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (r response) problem(t testing.TB) phttp.Problem {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json; body %s", ct, r.body)
	}
	var p phttp.Problem
	r.decode(t, &p)
	return p
}

// client calls the API as one user: with a Bearer token, or with the
// session cookie (and CSRF token, unless dropped).
type client struct {
	e         *env
	token     string
	csrf      string
	useCookie bool
	noCSRF    bool
	user      portal.User
	password  string
}

// anon is a client without credentials.
func (e *env) anon() *client { return &client{e: e} }

func (c *client) do(method, path string, body any, hdr ...string) response {
	c.e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(c.e.ctx, method, c.e.url+path, rd)
	if err != nil {
		c.e.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	switch {
	case c.token != "" && c.useCookie:
		req.AddCookie(&http.Cookie{Name: phttp.SessionCookie, Value: c.token})
		if !c.noCSRF {
			req.Header.Set(phttp.CSRFHeader, c.csrf)
		}
	case c.token != "":
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.e.t.Fatal(err)
	}
	out := response{status: res.StatusCode, header: res.Header, body: b}
	checkAgainstOpenAPI(c.e.t, req, res, b)
	return out
}

// must calls and fails the test unless the answer has status want.
func (c *client) must(want int, method, path string, body any, hdr ...string) response {
	c.e.t.Helper()
	r := c.do(method, path, body, hdr...)
	if r.status != want {
		c.e.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, r.status, want, r.body)
	}
	return r
}

var userSeq atomic.Int64

// user registers and logs in a new user with a Bearer token.
func (e *env) user() *client {
	e.t.Helper()
	n := userSeq.Add(1)
	c := &client{e: e, password: "correct horse battery staple"}
	email := fmt.Sprintf("user%d-%d@example.com", n, time.Now().UnixNano())
	c.must(http.StatusCreated, "POST", "/v1/auth/register", map[string]any{
		"email": email, "password": c.password, "name": fmt.Sprintf("User %d", n), "accepted_terms": true,
	}).decode(e.t, &c.user)
	c.login()
	return c
}

func (c *client) login() response {
	c.e.t.Helper()
	r := c.must(http.StatusOK, "POST", "/v1/auth/login", map[string]any{"email": c.user.Email, "password": c.password})
	var g struct {
		Token     string `json:"token"`
		CSRFToken string `json:"csrf_token"`
	}
	r.decode(c.e.t, &g)
	c.token, c.csrf = g.Token, g.CSRFToken
	return r
}

// addCard claims iccid with its code.
func (c *client) addCard(iccid string) {
	c.e.t.Helper()
	c.must(http.StatusCreated, "POST", "/v1/sims", map[string]string{"iccid": iccid, "activation_code": codeOf(iccid)})
}

// mailTo waits for the one message to addr and returns it.
func (e *env) mailTo(addr string) mailsink.Message {
	e.t.Helper()
	e.accounts.Wait()
	var found []mailsink.Message
	for _, m := range e.sink.Messages() {
		if len(m.To) == 1 && m.To[0] == addr {
			found = append(found, m)
		}
	}
	if len(found) != 1 {
		e.t.Fatalf("%d messages to %s, want 1", len(found), addr)
	}
	return found[0]
}

var codeRE = regexp.MustCompile(`#token=([A-Za-z0-9_-]{43})`)

// tokenIn is the token an account email carries.
func tokenIn(t *testing.T, m mailsink.Message) string {
	t.Helper()
	g := codeRE.FindStringSubmatch(m.Text)
	if g == nil {
		t.Fatalf("no code in email %q", m.Text)
	}
	return g[1]
}

func TestMain(m *testing.M) {
	code := m.Run()
	dropClickHouse()
	os.Exit(code)
}
