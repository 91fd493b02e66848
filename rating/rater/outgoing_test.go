package rater_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/simcore/simcore/metering"
	"github.com/simcore/simcore/rating"
)

// TestOutgoingBarWithDataBarAndTopUp: calls run a pay-as-you-go balance
// that bars data and outgoing calls and SMS below zero; both bars are asked
// for, with one notice between them (on the outgoing request, submitted
// after the data one), and a top-up lifts both, again with one notice.
func TestOutgoingBarWithDataBarAndTopUp(t *testing.T) {
	now := day("2026-11-20").Add(12 * time.Hour)
	e := newEnv(t, now)
	iccid := newICCID()
	e.subscribe(iccid, "travel-payg-all", day("2026-11-05"))
	if _, _, err := e.acct.AddCredit(e.ctx, iccid, rating.CreditDirect, "1.00", "", "pay-"+iccid, "test"); err != nil {
		t.Fatal(err)
	}

	// 5 minutes at 0.12 EUR: 0.60, 0.40 left: nothing barred.
	e.write(rec(iccid, metering.TypeVoice, day("2026-11-06"), home, 0, 300))
	if bars, out := e.net.barsOf(iccid), e.net.outBarsOf(iccid); len(bars)+len(out) != 0 {
		t.Fatalf("with money left: data bars %+v, outgoing bars %+v", bars, out)
	}
	// 5 more: balance -0.20.
	e.write(rec(iccid, metering.TypeVoice, day("2026-11-07"), home, 0, 300))
	wantData := []barCall{{ICCID: iccid, Bar: true, Reason: rating.BarBalanceExhausted, Notice: ""}}
	wantOut := []barCall{{ICCID: iccid, Bar: true, Reason: rating.BarBalanceExhausted, Notice: "outgoing_data_barred"}}
	if diff := cmp.Diff(wantData, e.net.barsOf(iccid)); diff != "" {
		t.Errorf("data bars (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantOut, e.net.outBarsOf(iccid)); diff != "" {
		t.Errorf("outgoing bars (-want +got):\n%s", diff)
	}
	if got := e.net.noticesOf(iccid); len(got) != 0 {
		t.Errorf("alert notices %v, want none: the barring's notice says it", got)
	}
	// Evaluated again, both bars applied: nothing more is asked.
	if err := e.rater.Evaluate(e.ctx, []string{iccid}); err != nil {
		t.Fatal(err)
	}
	if n, m := len(e.net.barsOf(iccid)), len(e.net.outBarsOf(iccid)); n != 1 || m != 1 {
		t.Fatalf("after a second evaluation: %d data bars, %d outgoing bars; want 1 each", n, m)
	}
	st, err := e.acct.Statement(e.ctx, iccid, 1)
	if err != nil || !st.DataBarred || !st.OutgoingBarred {
		t.Fatalf("statement data barred %v, outgoing barred %v (%v); want both", st.DataBarred, st.OutgoingBarred, err)
	}

	if _, _, err := e.acct.AddCredit(e.ctx, iccid, rating.CreditDirect, "10.00", "", "topup-"+iccid, "test"); err != nil {
		t.Fatal(err)
	}
	if err := e.rater.Evaluate(e.ctx, []string{iccid}); err != nil {
		t.Fatal(err)
	}
	wantData = append(wantData, barCall{ICCID: iccid, Bar: false, Reason: "lifted", Notice: ""})
	wantOut = append(wantOut, barCall{ICCID: iccid, Bar: false, Reason: "lifted", Notice: "outgoing_data_resumed"})
	if diff := cmp.Diff(wantData, e.net.barsOf(iccid)); diff != "" {
		t.Errorf("data bars after the top-up (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantOut, e.net.outBarsOf(iccid)); diff != "" {
		t.Errorf("outgoing bars after the top-up (-want +got):\n%s", diff)
	}
}

// TestOutgoingBarOnly: a plan that bars only outgoing calls and SMS sends
// its own notice, never touches data, asks again for a bar not applied
// after 5 minutes (not before), lifts only a bar it set, and asks nothing
// of a line not on the network yet.
func TestOutgoingBarOnly(t *testing.T) {
	now := day("2026-11-20").Add(12 * time.Hour)
	e := newEnv(t, now)
	iccid, other, pending := newICCID(), newICCID(), newICCID()
	e.subscribe(iccid, "payg-calls", day("2026-11-05"))
	e.subscribe(other, "payg-calls", day("2026-11-05"))
	e.subscribe(pending, "payg-calls", day("2026-11-05"))
	e.subs.mu.Lock()
	s := e.subs.m[other]
	s.OutgoingBarred = true // barred by the back office
	e.subs.m[other] = s
	s = e.subs.m[pending]
	s.Pending = true
	e.subs.m[pending] = s
	e.subs.mu.Unlock()
	for _, c := range []string{other} {
		if _, _, err := e.acct.AddCredit(e.ctx, c, rating.CreditDirect, "5.00", "", "pay-"+c, "test"); err != nil {
			t.Fatal(err)
		}
	}

	// One SMS at 0.09 with no credit: -0.09.
	e.write(rec(iccid, metering.TypeSMS, day("2026-11-06"), home, 0, 0), rec(pending, metering.TypeSMS, day("2026-11-06"), home, 0, 0))
	want := []barCall{{ICCID: iccid, Bar: true, Reason: rating.BarBalanceExhausted, Notice: "outgoing_barred"}}
	if diff := cmp.Diff(want, e.net.outBarsOf(iccid)); diff != "" {
		t.Fatalf("outgoing bars (-want +got):\n%s", diff)
	}
	if bars := e.net.barsOf(iccid); len(bars) != 0 {
		t.Errorf("data bars %+v on a plan that does not bar data", bars)
	}
	if got := e.net.noticesOf(iccid); len(got) != 0 {
		t.Errorf("alert notices %v, want none: the barring's notice says it", got)
	}
	if bars := e.net.outBarsOf(pending); len(bars) != 0 {
		t.Errorf("bars %+v for a line not on the network", bars)
	}

	// The bar was never applied: asked again only after 5 minutes.
	unapplied := func() {
		e.subs.mu.Lock()
		s := e.subs.m[iccid]
		s.OutgoingBarred = false
		e.subs.m[iccid] = s
		e.subs.mu.Unlock()
	}
	unapplied()
	e.setClock(now.Add(2 * time.Minute))
	if err := e.rater.Evaluate(e.ctx, []string{iccid}); err != nil {
		t.Fatal(err)
	}
	if n := len(e.net.outBarsOf(iccid)); n != 1 {
		t.Fatalf("2 minutes after the bar: %d outgoing bars, want it not asked again yet", n)
	}
	unapplied()
	e.setClock(now.Add(10 * time.Minute))
	if err := e.rater.Evaluate(e.ctx, []string{iccid}); err != nil {
		t.Fatal(err)
	}
	if bars := e.net.outBarsOf(iccid); len(bars) != 2 || !bars[1].Bar {
		t.Fatalf("10 minutes after an unapplied bar: %+v, want the bar asked again", bars)
	}

	// The back office's bar on a line with money is not rating's to lift.
	if err := e.rater.RecheckBarred(e.ctx); err != nil {
		t.Fatal(err)
	}
	if bars := e.net.outBarsOf(other); len(bars) != 0 {
		t.Errorf("rating lifted a bar it did not set: %+v", bars)
	}
}

// TestOutgoingAndDataBarForDifferentReasons: a data allowance used up in
// the same evaluation that runs the balance out bars both, each request
// with its own notice: the combined one would say the balance took data.
func TestOutgoingAndDataBarForDifferentReasons(t *testing.T) {
	e := newEnv(t, day("2026-11-20").Add(12*time.Hour))
	iccid := newICCID()
	e.subscribe(iccid, "travel-bundle", day("2026-11-05"))

	// 20 MB against 10 MB included: 10 MB at 0.015 EUR, balance -0.15.
	e.write(rec(iccid, metering.TypeData, day("2026-11-06"), home, 20_000_000, 0))
	wantData := []barCall{{ICCID: iccid, Bar: true, Reason: rating.BarDataAllowanceExhausted, Notice: "data_barred"}}
	wantOut := []barCall{{ICCID: iccid, Bar: true, Reason: rating.BarBalanceExhausted, Notice: "outgoing_barred"}}
	if diff := cmp.Diff(wantData, e.net.barsOf(iccid)); diff != "" {
		t.Errorf("data bars (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantOut, e.net.outBarsOf(iccid)); diff != "" {
		t.Errorf("outgoing bars (-want +got):\n%s", diff)
	}
}

// TestOutgoingBarAfterFailedSubmitKeepsCombinedNotice: when the balance
// runs out (or is topped up) and the data request is submitted but the
// outgoing one fails (the database away, the rater stopping), the data
// request went without a notice, counting on the outgoing one's combined
// notice. The next evaluation asks for the outgoing bar alone, and must
// still send the combined notice: with the outgoing bar's own, the
// subscriber is never told that data was barred (or lifted).
func TestOutgoingBarAfterFailedSubmitKeepsCombinedNotice(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		bar        bool
		wantNotice string
	}{
		{name: "bar", bar: true, wantNotice: "outgoing_data_barred"},
		{name: "lift", bar: false, wantNotice: "outgoing_data_resumed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := day("2026-11-20").Add(12 * time.Hour)
			e := newEnv(t, now)
			iccid := newICCID()
			e.subscribe(iccid, "travel-payg-all", day("2026-11-05"))
			if !tc.bar {
				// 5 minutes at 0.12 with no credit: both barred together.
				e.write(rec(iccid, metering.TypeVoice, day("2026-11-06"), home, 0, 300))
				if n, m := len(e.net.barsOf(iccid)), len(e.net.outBarsOf(iccid)); n != 1 || m != 1 {
					t.Fatalf("at -0.60: %d data bars, %d outgoing bars; want 1 each", n, m)
				}
				if _, _, err := e.acct.AddCredit(e.ctx, iccid, rating.CreditDirect, "10.00", "", "topup-"+iccid, "test"); err != nil {
					t.Fatal(err)
				}
			} else {
				if _, err := e.writer.WriteBatch(e.ctx, &metering.Batch{Records: []metering.Record{rec(iccid, metering.TypeVoice, day("2026-11-06"), home, 0, 300)}}); err != nil {
					t.Fatal(err)
				}
			}
			e.net.mu.Lock()
			e.net.outErr = errors.New("connection refused")
			e.net.mu.Unlock()
			var err error
			if tc.bar {
				_, err = e.rater.CatchUp(e.ctx)
			} else {
				err = e.rater.Evaluate(e.ctx, []string{iccid})
			}
			if err == nil {
				t.Fatal("evaluation with the outgoing submit failing: no error")
			}
			data := e.net.barsOf(iccid)
			if last := data[len(data)-1]; last.Bar != tc.bar || last.Notice != "" {
				t.Fatalf("data request %+v, want bar %v with no notice (the outgoing one carries it)", last, tc.bar)
			}

			e.setClock(now.Add(time.Minute))
			if err := e.rater.Evaluate(e.ctx, []string{iccid}); err != nil {
				t.Fatal(err)
			}
			out := e.net.outBarsOf(iccid)
			if last := out[len(out)-1]; last.Bar != tc.bar || last.Notice != tc.wantNotice {
				t.Errorf("outgoing request asked again %+v, want bar %v with notice %q", last, tc.bar, tc.wantNotice)
			}
			if n := len(e.net.barsOf(iccid)); n != len(data) {
				t.Errorf("data asked again (%d requests, want %d)", n, len(data))
			}
		})
	}
}

// TestOutgoingBarAskedAgainKeepsCombinedNotice: when the balance runs out
// (or is topped up) both bars are asked for, the data request without a
// notice and the outgoing one with the combined notice. The network applies
// the data request, but the outgoing one is never applied (it failed at the
// gateway: its notice, sent only with a change that is done, went nowhere).
// Asked again after 5 minutes, the outgoing request must still carry the
// combined notice, or the subscriber never hears of data.
func TestOutgoingBarAskedAgainKeepsCombinedNotice(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		bar        bool
		wantNotice string
	}{
		{name: "bar", bar: true, wantNotice: "outgoing_data_barred"},
		{name: "lift", bar: false, wantNotice: "outgoing_data_resumed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := day("2026-11-20").Add(12 * time.Hour)
			e := newEnv(t, now)
			iccid := newICCID()
			e.subscribe(iccid, "travel-payg-all", day("2026-11-05"))
			// 5 minutes at 0.12 with no credit: both barred together.
			e.write(rec(iccid, metering.TypeVoice, day("2026-11-06"), home, 0, 300))
			if !tc.bar {
				if _, _, err := e.acct.AddCredit(e.ctx, iccid, rating.CreditDirect, "10.00", "", "topup-"+iccid, "test"); err != nil {
					t.Fatal(err)
				}
				if err := e.rater.Evaluate(e.ctx, []string{iccid}); err != nil {
					t.Fatal(err)
				}
			}
			out := e.net.outBarsOf(iccid)
			if last := out[len(out)-1]; last.Bar != tc.bar || last.Notice != tc.wantNotice {
				t.Fatalf("outgoing request %+v, want bar %v with notice %q", last, tc.bar, tc.wantNotice)
			}
			data := e.net.barsOf(iccid)

			// The outgoing request is never applied; the data one was.
			e.subs.mu.Lock()
			s := e.subs.m[iccid]
			s.OutgoingBarred = !tc.bar
			e.subs.m[iccid] = s
			e.subs.mu.Unlock()
			e.setClock(now.Add(10 * time.Minute))
			if err := e.rater.Evaluate(e.ctx, []string{iccid}); err != nil {
				t.Fatal(err)
			}
			again := e.net.outBarsOf(iccid)
			if len(again) != len(out)+1 {
				t.Fatalf("outgoing requests %+v, want the unapplied one asked again", again)
			}
			if last := again[len(again)-1]; last.Bar != tc.bar || last.Notice != tc.wantNotice {
				t.Errorf("outgoing request asked again %+v, want bar %v with notice %q", last, tc.bar, tc.wantNotice)
			}
			if n := len(e.net.barsOf(iccid)); n != len(data) {
				t.Errorf("data asked again (%d requests, want %d)", n, len(data))
			}
		})
	}
}
