package rater_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/simcore/simcore/ingest"
	"github.com/simcore/simcore/rating"
	rpg "github.com/simcore/simcore/rating/postgres"
)

// BenchmarkFreshness measures how long a record takes from its HTTP push to
// the balance and thresholds that reflect it: the push, the ingest batch
// (the production default wait of 1 s), the ClickHouse insert and ledger
// commit, the notification, and the re-rating. A background feed pushes
// 5,000 records/s for 2,000 other subscriptions meanwhile, so the rater is
// never idle. Each iteration is one probe record; run it with
// -benchtime=60x. Reported: p50, p99 and max in seconds.
func BenchmarkFreshness(b *testing.B) {
	e := newEnvTB(b, time.Now().UTC())
	p, err := ingest.New(ingest.Config{Writer: e.writer, Log: slog(), Registry: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); <-done }()
	wake := make(chan string, 64)
	go rpg.Listen(ctx, e.pool, wake, slog())
	go e.rater.Run(ctx, wake)
	srv := httptest.NewServer(&ingest.PushHandler{Pipeline: p, Log: slog(), Token: "bench"})
	defer srv.Close()
	push := func(body []byte) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer bench")
		req.Header.Set("Content-Type", "application/x-ndjson")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Error(err)
			return
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Errorf("push: %s", resp.Status)
		}
	}
	start := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -1)
	var background []string
	for range 2000 {
		id := newICCID()
		e.subscribe(id, "travel-payg", start)
		background = append(background, id)
	}
	probe := newICCID()
	sub := e.subscribe(probe, "travel-payg", start)
	plan := "EUR"

	line := func(id, iccid string, at time.Time) string {
		return fmt.Sprintf(`{"record_id":"%s","node_id":"bench","type":"data","iccid":"%s","start_time":"%s","bytes_up":100000,"bytes_down":900000,"mcc_mnc":"23415"}`+"\n",
			id, iccid, at.Format(time.RFC3339))
	}
	bgCtx, stopBG := context.WithCancel(ctx)
	bgDone := make(chan struct{})
	defer func() { stopBG(); <-bgDone }() // before the server closes
	go func() {
		defer close(bgDone)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		n := 0
		for bgCtx.Err() == nil {
			var buf bytes.Buffer
			for range 1000 {
				n++
				buf.WriteString(line(fmt.Sprint("bg-", n), background[n%len(background)], time.Now().Add(-time.Minute)))
			}
			push(buf.Bytes())
			select {
			case <-bgCtx.Done():
			case <-tick.C:
			}
		}
	}()

	records := func() uint64 {
		pc, err := e.store.PeriodCharges(context.Background(), sub.SubscriptionID, rating.Period{Start: start}, plan)
		if err != nil {
			b.Fatal(err)
		}
		var n uint64
		for _, l := range pc.Lines {
			n += l.Records
		}
		return n
	}
	var lat []float64
	b.ResetTimer()
	for i := range b.N {
		before := records()
		t0 := time.Now()
		push([]byte(line(fmt.Sprint("probe-", i), probe, time.Now().Add(-time.Minute))))
		for records() == before {
			if time.Since(t0) > 30*time.Second {
				b.Fatalf("probe %d not rated after 30 s", i)
			}
			time.Sleep(5 * time.Millisecond)
		}
		lat = append(lat, time.Since(t0).Seconds())
	}
	b.StopTimer()
	slices.Sort(lat)
	q := func(f float64) float64 { return lat[min(len(lat)-1, int(f*float64(len(lat))))] }
	b.ReportMetric(q(0.5), "p50_s")
	b.ReportMetric(q(0.99), "p99_s")
	b.ReportMetric(lat[len(lat)-1], "max_s")
}
