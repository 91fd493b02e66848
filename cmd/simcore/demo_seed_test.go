package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/simcore/simcore/ingest"
	"github.com/simcore/simcore/internal/testenv"
	mpg "github.com/simcore/simcore/metering/postgres"
	"github.com/simcore/simcore/netsim/hlr"
	"github.com/simcore/simcore/provisioning"
	ppg "github.com/simcore/simcore/provisioning/postgres"
	rpg "github.com/simcore/simcore/rating/postgres"
	"github.com/simcore/simcore/workers/gateway"
)

// TestSeedNetworkKeepsDataBar restarts the demo's simulator over a
// database in which rating has barred a line's data (balance exhausted):
// the fresh simulator must get the bar back, or after every restart of
// `run --demo` the barred lines browse for free while simcore shows them
// barred, and rating, which thinks the bar is on, never sends it again.
func TestSeedNetworkKeepsDataBar(t *testing.T) {
	t.Parallel()
	ctx := testenv.Context(t, time.Minute)
	pool, err := openPool(ctx, testenv.Postgres(t, "provisioning", ppg.MigrationsVersion(), ppg.Migrate), 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	h, err := provisioning.NewActivationHasher([]byte("0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	sim, err := hlr.New(hlr.Config{Token: "tok", Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	gw, err := gateway.New(gateway.Config{BaseURL: srv.URL, Token: "tok", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	store := ppg.New(pool)
	p := &provStack{pool: pool, store: store, svc: &provisioning.Service{Store: store, Gateway: gw}}
	if err := seedDemo(ctx, p, h); err != nil {
		t.Fatal(err)
	}
	barred, suspendedAndBarred := demoMSISDN(1), demoMSISDN(3)
	if _, err := pool.Exec(ctx, `UPDATE subscriptions SET data_barred = true WHERE msisdn = ANY($1)`, []string{barred, suspendedAndBarred}); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE subscriptions SET status = 'suspended', outgoing_barred = true WHERE msisdn = $1`, suspendedAndBarred); err != nil {
		t.Fatal(err)
	}
	if err := seedNetwork(ctx, p); err != nil {
		t.Fatal(err)
	}
	for msisdn, want := range map[string]provisioning.Barring{
		barred:             {Data: true},
		suspendedAndBarred: {All: true, Data: true, Outgoing: true},
		demoMSISDN(2):      {},
	} {
		got, ok := sim.Subscriber(msisdn)
		if !ok {
			t.Fatalf("%s not on the simulated network", msisdn)
		}
		if got.Barring != want {
			t.Errorf("%s: network barring %+v, database says %+v", msisdn, got.Barring, want)
		}
	}
}

// TestDemoKeepsImportedCatalogue: an operator trying `run --demo` imports a
// corrected tariff (`plans import`) and restarts the engine. The restart
// must not put the demo tariff back on top of it as a newer version: every
// batch rated after that would silently use the old prices again.
func TestDemoKeepsImportedCatalogue(t *testing.T) {
	t.Parallel()
	ctx := testenv.Context(t, time.Minute)
	url := testenv.Postgres(t, "metering_provisioning_rating", mpg.MigrationsVersion()+ppg.MigrationsVersion()+rpg.MigrationsVersion(), func(ctx context.Context, url string) error {
		for _, m := range []func(context.Context, string) error{mpg.Migrate, ppg.Migrate, rpg.Migrate} {
			if err := m(ctx, url); err != nil {
				return err
			}
		}
		return nil
	})
	env := map[string]string{"SIMCORE_POSTGRES_URL": url, "SIMCORE_ACTIVATION_KEY": "00112233445566778899aabbccddeeff", "SIMCORE_LOG_LEVEL": "warn"}
	pool, err := openPool(ctx, url, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	prov := &provStack{pool: pool, store: ppg.New(pool)}
	rs := &ratingStack{store: rpg.New(pool), pool: pool}
	if v, err := seedDemoCatalogue(ctx, rs, prov); err != nil || v != 1 {
		t.Fatalf("first start: version %d, %v; want 1", v, err)
	}
	fixed := filepath.Join(t.TempDir(), "catalogue.yaml")
	doc := strings.Replace(string(demoCatalogue), `eu:       {data_per_mb: "0.010"`, `eu:       {data_per_mb: "0.020"`, 1)
	if doc == string(demoCatalogue) {
		t.Fatal("the demo catalogue no longer has the EU rate this test changes")
	}
	if err := os.WriteFile(fixed, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errOut, err := runCLI(ctx, env, "plans", "import", fixed); err != nil {
		t.Fatalf("plans import: %v\n%s", err, errOut)
	}
	v, err := seedDemoCatalogue(ctx, rs, prov) // the restart
	if err != nil {
		t.Fatal(err)
	}
	_, newest, err := rs.store.Catalogue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v != 2 || newest != 2 {
		t.Fatalf("after the restart the catalogue in force is version %d (seed said %d), want the imported version 2", newest, v)
	}
}

// TestDemoTrafficSkipsBarredData: a line whose data rating barred gets no
// more data records from the demo's traffic, as on a network, while its
// calls and SMS, and every other line, stay. The demo used to charge a
// barred pay-as-you-go line on, so a top-up could not lift its bar.
func TestDemoTrafficSkipsBarredUsage(t *testing.T) {
	var buf bytes.Buffer
	if _, err := ingest.GenerateCSV(&buf, ingest.GenConfig{Records: 3000, SIMs: 4, Seed: 7, Start: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), Days: 1, DupRate: 0.02, BadRate: 0.01}); err != nil {
		t.Fatal(err)
	}
	// SIM 1's data is barred, SIM 2's outgoing calls and SMS, SIM 3's both.
	barred := map[string]provisioning.Barring{demoICCID(1): {Data: true}, demoICCID(2): {Outgoing: true}, demoICCID(3): {Data: true, Outgoing: true}}
	type count struct{ barredData, barredCalls, kept int }
	tally := func(file []byte) count {
		var c count
		for _, line := range strings.Split(strings.TrimSpace(string(file)), "\n")[1:] {
			f := strings.Split(line, ",")
			if len(f) <= 3 {
				c.kept++
				continue
			}
			b, data := barred[f[3]], f[2] == "data"
			switch {
			case b.Data && data:
				c.barredData++
			case b.Outgoing && !data:
				c.barredCalls++
			default:
				c.kept++
			}
		}
		return c
	}
	before := tally(buf.Bytes())
	if before.barredData == 0 || before.barredCalls == 0 || before.kept == 0 {
		t.Fatalf("the generated file lacks a case: %+v", before)
	}
	out := withoutBarredUsage(buf.Bytes(), barred)
	if !strings.HasPrefix(string(out), ingest.GenHeader+"\n") {
		t.Fatalf("the header is gone: %q", out[:min(len(out), 200)])
	}
	if after := tally(out); after != (count{0, 0, before.kept}) {
		t.Errorf("after the filter %+v, want no data of data-barred lines, no calls or SMS of outgoing-barred ones, and the rest as before %+v", after, before)
	}
	if got := withoutBarredUsage(buf.Bytes(), nil); !bytes.Equal(got, buf.Bytes()) {
		t.Error("with no line barred the file changed")
	}
}
