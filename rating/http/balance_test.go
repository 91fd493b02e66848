package http_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/simcore/simcore/internal/testenv"
	mpg "github.com/simcore/simcore/metering/postgres"
	"github.com/simcore/simcore/numbering"
	"github.com/simcore/simcore/rating"
	rhttp "github.com/simcore/simcore/rating/http"
	rpg "github.com/simcore/simcore/rating/postgres"
)

type subs map[string]rating.Subscriber

func (s subs) Live(_ context.Context, iccids []string) ([]rating.Subscriber, error) {
	var out []rating.Subscriber
	for _, id := range iccids {
		if v, ok := s[id]; ok {
			out = append(out, v)
		}
	}
	return out, nil
}

func (s subs) Barred(context.Context) ([]rating.Subscriber, error) { return nil, nil }

func iccid(n int) string {
	p := fmt.Sprintf("894410%012d", n)
	return p + string(numbering.LuhnCheckDigit(p))
}

// TestBalanceAPI: the statement for a SIM on a rated plan, and a precise
// 4xx for every other request.
func TestBalanceAPI(t *testing.T) {
	ctx := testenv.Context(t, time.Minute)
	url := testenv.Postgres(t, "rating", mpg.MigrationsVersion()+rpg.MigrationsVersion(), func(ctx context.Context, url string) error {
		if err := mpg.Migrate(ctx, url); err != nil {
			return err
		}
		return rpg.Migrate(ctx, url)
	})
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	store := rpg.New(pool)
	f, err := os.Open("../testdata/catalogue.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cat, err := rating.ParseCatalogue(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.ImportCatalogue(ctx, cat, "test"); err != nil {
		t.Fatal(err)
	}
	sim := iccid(5)
	lines := subs{sim: {SubscriptionID: 7, ICCID: sim, Plan: "travel-payg", Start: time.Now().AddDate(0, 0, -3)}}
	acct := &rating.Accounts{Store: store, Credits: store, Subs: lines}
	if _, _, err := acct.AddCredit(ctx, sim, rating.CreditDirect, "4.20", "", "k1", "test"); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/v1/sims/{iccid}/balance", &rhttp.Balance{Accounts: acct, Token: "secret", Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	tests := []struct {
		name, method, path, token string
		status                    int
		want                      string // a fragment of the body
	}{
		{"statement", "GET", "/v1/sims/" + sim + "/balance", "secret", 200, `"balance":{"amount":"4.20","currency":"EUR","minor":420}`},
		{"periods", "GET", "/v1/sims/" + sim + "/balance?periods=12", "secret", 200, `"plan":"travel-payg"`},
		{"no token", "GET", "/v1/sims/" + sim + "/balance", "", 401, `"code":"unauthorized"`},
		{"wrong token", "GET", "/v1/sims/" + sim + "/balance", "secreT", 401, `"code":"unauthorized"`},
		{"bad iccid", "GET", "/v1/sims/8944100000000000013/balance", "secret", 400, `"code":"invalid_iccid"`},
		{"not digits", "GET", "/v1/sims/abc/balance", "secret", 400, `"code":"invalid_iccid"`},
		{"unknown sim", "GET", "/v1/sims/" + iccid(6) + "/balance", "secret", 404, `"code":"no_rated_plan"`},
		{"bad periods", "GET", "/v1/sims/" + sim + "/balance?periods=x", "secret", 400, `"code":"invalid_periods"`},
		{"post", "POST", "/v1/sims/" + sim + "/balance", "secret", 405, `"code":"method_not_allowed"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.want) {
				t.Fatalf("%s %s: %d %s, want %d with %s", tc.method, tc.path, resp.StatusCode, body, tc.status, tc.want)
			}
			if resp.StatusCode == 200 && !json.Valid(body) {
				t.Errorf("body is not JSON: %s", body)
			}
		})
	}
}
