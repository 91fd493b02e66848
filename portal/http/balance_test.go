package http_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/simcore/simcore/rating"
)

// voucher creates a EUR voucher worth amount, valid for a year, and
// returns its code.
func (e *env) voucher(amount string) string {
	e.t.Helper()
	m, err := rating.ParseMoney(amount, "EUR")
	if err != nil {
		e.t.Fatal(err)
	}
	code := rating.NewVoucherCode()
	if err := e.rating.CreateVouchers(e.ctx, []string{code}, m, time.Now().AddDate(1, 0, 0), "test"); err != nil {
		e.t.Fatal(err)
	}
	return code
}

type simMoneyJSON struct {
	ICCID string `json:"iccid"`
	Money *struct {
		Balance    struct{ Amount, Currency string }
		Allowances []struct {
			Type           string
			Included, Used uint64
			Remaining      uint64
		}
		DataBarred bool `json:"data_barred"`
	} `json:"money"`
}

// TestBalanceAndVoucherTopUp: a SIM shows its line's balance and
// allowance; a voucher tops it up once; every failure has its own code.
func TestBalanceAndVoucherTopUp(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice, bob := e.user(), e.user()
	l := e.line()
	alice.addCard(l.iccid)
	spare := e.card() // in stock, no line
	alice.addCard(spare)

	var sims struct{ SIMs []simMoneyJSON }
	alice.must(http.StatusOK, "GET", "/v1/sims", nil).decode(t, &sims)
	for _, s := range sims.SIMs {
		switch s.ICCID {
		case l.iccid:
			if s.Money == nil || s.Money.Balance.Amount != "0.00" || s.Money.Balance.Currency != "EUR" ||
				len(s.Money.Allowances) != 1 || s.Money.Allowances[0].Remaining != 1_000_000_000 {
				t.Fatalf("the line's SIM shows %+v, want 0.00 EUR and 1 GB left", s.Money)
			}
		case spare:
			if s.Money != nil {
				t.Fatalf("a SIM without a line shows money %+v", s.Money)
			}
		}
	}
	alice.must(http.StatusNotFound, "GET", "/v1/sims/"+spare+"/balance", nil)

	code := e.voucher("10.00")
	if p := bob.must(http.StatusNotFound, "POST", "/v1/sims/"+l.iccid+"/topups", map[string]string{"voucher_code": code}).problem(t); p.Code != "sim_not_found" {
		t.Fatalf("bob tops up alice's SIM: %+v", p)
	}
	var got struct {
		Credit  struct{ Kind string }
		Balance struct{ Amount, Currency string }
	}
	alice.must(http.StatusCreated, "POST", "/v1/sims/"+l.iccid+"/topups", map[string]string{"voucher_code": code}).decode(t, &got)
	if got.Credit.Kind != "voucher" || got.Balance.Amount != "10.00" {
		t.Fatalf("top-up answered %+v, want a voucher credit and 10.00", got)
	}
	for _, tc := range []struct {
		name, iccid string
		body        any
		status      int
		code        string
	}{
		{"same code again", l.iccid, map[string]string{"voucher_code": code}, http.StatusConflict, "voucher_redeemed"},
		{"unknown code", l.iccid, map[string]string{"voucher_code": rating.NewVoucherCode()}, http.StatusUnprocessableEntity, "voucher_not_found"},
		{"empty code", l.iccid, map[string]string{"voucher_code": " "}, http.StatusUnprocessableEntity, "validation_failed"},
		{"wrong type", l.iccid, map[string]int{"voucher_code": 7}, http.StatusBadRequest, "wrong_type"},
		{"SIM without a line", spare, map[string]string{"voucher_code": e.voucher("5.00")}, http.StatusNotFound, "no_rated_plan"},
	} {
		p := alice.must(tc.status, "POST", "/v1/sims/"+tc.iccid+"/topups", tc.body).problem(t)
		if p.Code != tc.code {
			t.Errorf("%s: code %q, want %q", tc.name, p.Code, tc.code)
		}
	}

	var st rating.Statement
	alice.must(http.StatusOK, "GET", "/v1/sims/"+l.iccid+"/balance?periods=2", nil).decode(t, &st)
	if st.Balance.Minor != 1000 || len(st.Credits) != 1 || st.Plan != e.plan.Name {
		t.Fatalf("statement %+v, want 10.00 EUR from one credit", st)
	}
	if p := alice.must(http.StatusBadRequest, "GET", "/v1/sims/"+l.iccid+"/balance?periods=99", nil).problem(t); p.Field != "periods" {
		t.Errorf("bad periods: %+v", p)
	}
}

// TestConcurrentTopUps: many requests redeeming one code at once credit it
// exactly once.
func TestConcurrentTopUps(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.user()
	l := e.line()
	alice.addCard(l.iccid)
	code := e.voucher("7.50")
	const n = 16
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[int]int{}
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := alice.do("POST", "/v1/sims/"+l.iccid+"/topups", map[string]string{"voucher_code": code})
			mu.Lock()
			statuses[r.status]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if statuses[http.StatusCreated] != 1 || statuses[http.StatusConflict] != n-1 {
		t.Fatalf("statuses %v, want one 201 and %d 409", statuses, n-1)
	}
	var st rating.Statement
	alice.must(http.StatusOK, "GET", "/v1/sims/"+l.iccid+"/balance", nil).decode(t, &st)
	if st.Balance.Minor != 750 {
		t.Fatalf("balance %v after %d concurrent top-ups of one 7.50 voucher", st.Balance, n)
	}
}
