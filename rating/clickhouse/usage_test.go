package clickhouse_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/simcore/simcore/internal/testenv"
	"github.com/simcore/simcore/metering"
	mch "github.com/simcore/simcore/metering/clickhouse"
	"github.com/simcore/simcore/rating"
	rch "github.com/simcore/simcore/rating/clickhouse"
)

type rec struct {
	iccid, mccMNC string
	t             metering.UsageType
	start         time.Time
	bytes         uint64
	seconds       uint32
}

// TestDailyUsageMatchesRounding: the SQL rounding is the Go rounding,
// record by record, for every rule, on random records in the real server.
func TestDailyUsageMatchesRounding(t *testing.T) {
	cfg := mch.Config{Addr: testenv.ClickHouseAddr(t), Database: testenv.UniqueName("t_")}
	ctx := testenv.Context(t, 2*time.Minute)
	if _, err := mch.Migrate(ctx, cfg); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	conn, err := mch.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		_ = mch.DropDatabase(context.Background(), cfg)
	})

	rng := rand.New(rand.NewPCG(7, 11))
	iccids := []string{"89441000000000000018", "89441000000000000026", "89441000000000000034"}
	nets := []string{"23415", "26201", "310260"}
	base := time.Date(2026, 10, 30, 0, 0, 0, 0, time.UTC)
	var recs []rec
	for i := range 3000 {
		r := rec{
			iccid:  iccids[rng.IntN(len(iccids))],
			mccMNC: nets[rng.IntN(len(nets))],
			t:      metering.UsageType(1 + rng.IntN(3)),
			start:  base.Add(time.Duration(rng.IntN(5*86400)) * time.Second),
		}
		switch r.t {
		case metering.TypeData:
			r.bytes = uint64(rng.IntN(3_000_000))
			if i%50 == 0 {
				r.bytes = 0
			}
		case metering.TypeVoice:
			r.seconds = uint32(rng.IntN(400))
		}
		recs = append(recs, r)
	}
	b, err := conn.PrepareBatch(ctx, "INSERT INTO usage_records (iccid, start_time, type, key_hi, key_lo, record_id, mcc_mnc, duration_s, bytes_up, bytes_down)")
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		up := r.bytes / 3
		if err := b.Append(r.iccid, r.start, r.t.String(), uint64(i), uint64(i), fmt.Sprint(i), r.mccMNC, r.seconds, up, r.bytes-up); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}

	from, to := base.AddDate(0, 0, 1), base.AddDate(0, 0, 4) // cuts the edges off
	src := rch.New(conn)
	for _, rule := range []string{
		"data_block: 1KB\nvoice: per_minute",
		"data_block: 100KB\nvoice: per_second_after_first_minute",
		"voice: per_second",
	} {
		t.Run(strings.ReplaceAll(rule, "\n", ","), func(t *testing.T) {
			doc := `
zones: [{name: home, networks: ["23415"]}]
price_lists: [{name: l, currency: EUR, rates: {home: {data_per_mb: "1", voice_per_minute: "1", sms: "1"}}}]
plans:
  - name: p
    apn: a
    period: month
    price_list: l
    rounding:
      ` + strings.ReplaceAll(rule, "\n", "\n      ") + "\n"
			cat, err := rating.ParseCatalogue(strings.NewReader(doc))
			if err != nil {
				t.Fatal(err)
			}
			plan, _ := cat.Plan("p")
			want := map[string][]rating.Usage{}
			type key struct {
				iccid, net string
				day        time.Time
				t          metering.UsageType
			}
			sums := map[key]*rating.Usage{}
			for _, r := range recs {
				if r.start.Before(from) || !r.start.Before(to) || r.iccid == iccids[2] {
					continue
				}
				k := key{r.iccid, r.mccMNC, r.start.Truncate(24 * time.Hour), r.t}
				if sums[k] == nil {
					sums[k] = &rating.Usage{Day: k.day, MCCMNC: k.net, Type: k.t}
				}
				sums[k].Records++
				sums[k].Quantity += plan.Rounding.Quantity(r.t, r.bytes, r.seconds)
			}
			for k, u := range sums {
				want[k.iccid] = append(want[k.iccid], *u)
			}
			got, err := src.DailyUsage(ctx, plan.Rounding, iccids[:2], from, to)
			if err != nil {
				t.Fatal(err)
			}
			order := func(m map[string][]rating.Usage) {
				for _, us := range m {
					slices.SortFunc(us, func(a, b rating.Usage) int {
						return strings.Compare(fmt.Sprint(a.Day.Unix(), a.MCCMNC, a.Type), fmt.Sprint(b.Day.Unix(), b.MCCMNC, b.Type))
					})
				}
			}
			order(want)
			order(got)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("DailyUsage (-go rounding +sql rounding):\n%s", diff)
			}
		})
	}
}
