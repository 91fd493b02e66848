package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"text/tabwriter"
	"time"

	"github.com/simcore/simcore/metering"
	mpg "github.com/simcore/simcore/metering/postgres"
	"github.com/simcore/simcore/ops"
	ppg "github.com/simcore/simcore/provisioning/postgres"
	"github.com/simcore/simcore/rating"
	rch "github.com/simcore/simcore/rating/clickhouse"
	rhttp "github.com/simcore/simcore/rating/http"
	rpg "github.com/simcore/simcore/rating/postgres"
)

// withRating opens provisioning (without the network) and rating on
// PostgreSQL, migrating them first, for the short rating commands. Rating
// registers as a reader of metering's usage ledger, so metering's schema
// goes first, as in openStores.
func withRating(ctx context.Context, c *cmdEnv, pc *provConfig, f func(*ratingStack, *provStack) error) error {
	log, err := c.logger()
	if err != nil {
		return err
	}
	for _, m := range []func(context.Context, string) error{mpg.Migrate, ppg.Migrate, rpg.Migrate} {
		if err := m(ctx, c.common.postgresURL); err != nil {
			return err
		}
	}
	prov, err := c.openProvisioning(ctx, log, nil, pc, false)
	if err != nil {
		return err
	}
	defer prov.close()
	return ratingError(f(openRating(log, nil, prov, nil), prov))
}

func plansCommand() *command {
	var pc provConfig
	return &command{
		name:    "plans",
		args:    "import FILE",
		summary: "load the tariff catalogue (zones, price lists, plans) from YAML or JSON",
		long: `Validates the whole file first and names every mistake with its place
("plans[1] (Travel PAYG).price_list: ..."); nothing is stored unless all of
it is valid. A valid file becomes the newest catalogue version, which rates
all usage from then on, and its plans' APN settings are created or updated
for provisioning. See docs/rating.md for the format and
cmd/simcore/demo/catalogue.yaml for an example.`,
		flags: func(c *cmdEnv, fs *flag.FlagSet) {
			c.logFlags()
			c.postgresFlags()
			c.provFlags(&pc)
		},
		run: func(ctx context.Context, c *cmdEnv, args []string) error {
			if len(args) != 2 || args[0] != "import" {
				return usagef("plans: simcore plans import FILE")
			}
			return withRating(ctx, c, &pc, func(rs *ratingStack, prov *provStack) error {
				v, cat, err := importCatalogue(ctx, rs, prov, args[1])
				if err != nil {
					return err
				}
				return printJSONLine(c, map[string]int{"version": v, "zones": len(cat.Zones), "price_lists": len(cat.PriceLists), "plans": len(cat.Plans)})
			})
		},
	}
}

func balanceCommand() *command {
	var (
		pc      provConfig
		asJSON  bool
		periods int
	)
	return &command{
		name:    "balance",
		args:    "ICCID",
		summary: "show a SIM's balance, allowances left and charges by period",
		flags: func(c *cmdEnv, fs *flag.FlagSet) {
			c.logFlags()
			c.postgresFlags()
			c.provFlags(&pc)
			fs.BoolVar(&asJSON, "json", false, "print JSON")
			fs.IntVar(&periods, "periods", 3, "billing periods of charges to show")
		},
		run: func(ctx context.Context, c *cmdEnv, args []string) error {
			if len(args) != 1 {
				return usagef("balance: give one ICCID")
			}
			if err := metering.ValidateICCID(args[0]); err != nil {
				return usagef("balance: ICCID %q: %v", args[0], err)
			}
			if periods < 1 || periods > 36 {
				return usagef("balance: --periods %d: want 1 to 36, as the balance API takes", periods)
			}
			return withRating(ctx, c, &pc, func(rs *ratingStack, _ *provStack) error {
				st, err := rs.accounts.Statement(ctx, args[0], periods)
				if err != nil {
					return err
				}
				if asJSON {
					return printJSONLine(c, st)
				}
				printStatement(c, st)
				return nil
			})
		},
	}
}

func printStatement(c *cmdEnv, st rating.Statement) {
	w := tabwriter.NewWriter(c.io.out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "SIM\t%s\n", st.ICCID)
	fmt.Fprintf(w, "plan\t%s\n", st.Plan)
	fmt.Fprintf(w, "balance\t%s\n", st.Balance)
	if st.DataBarred {
		fmt.Fprintf(w, "data\tbarred\n")
	}
	if st.OutgoingBarred {
		fmt.Fprintf(w, "outgoing calls, SMS\tbarred (incoming and emergency calls still work)\n")
	}
	if st.Period != nil {
		fmt.Fprintf(w, "period\t%s to %s\n", st.Period.Start.Format(time.DateOnly), st.Period.End.AddDate(0, 0, -1).Format(time.DateOnly))
	}
	for _, a := range st.Allowances {
		fmt.Fprintf(w, "%s\t%s used of %s, %s left\n", a.Type, quantity(a.Type, a.Used), quantity(a.Type, a.Included), quantity(a.Type, a.Remaining))
	}
	w.Flush()
	for _, pc := range st.Charges {
		fmt.Fprintf(c.io.out, "\ncharges %s to %s: %s\n", pc.Period.Start.Format(time.DateOnly), pc.Period.End.AddDate(0, 0, -1).Format(time.DateOnly), pc.Total())
		w := tabwriter.NewWriter(c.io.out, 0, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(w, "type\tzone\trecords\tused\tincluded\tcharged\tamount\t")
		for _, l := range pc.Lines {
			amount := rating.Money{Minor: l.Amount, Currency: pc.Currency}.String()
			if l.NotAllowed {
				amount = "not allowed"
			}
			zone := l.Zone
			if zone == "" {
				zone = "(none)"
			}
			fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t\n", l.Type, zone, l.Records, quantity(l.Type, l.Used), quantity(l.Type, l.Included), quantity(l.Type, l.Billable), amount)
		}
		w.Flush()
	}
}

func quantity(typ string, n uint64) string {
	switch typ {
	case "data":
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case "voice":
		return fmt.Sprintf("%d:%02d", n/60, n%60)
	}
	return fmt.Sprint(n)
}

func vouchersCommand() *command {
	var (
		pc                      provConfig
		amount, currency, batch string
		expires                 string
		count                   int
	)
	return &command{
		name:    "vouchers",
		args:    "create",
		summary: "create top-up vouchers and print their codes (only hashes are stored)",
		long: `Prints one code per line. The codes are shown only now: the database keeps
their SHA-256 hashes, so print or hand them over before closing the terminal.`,
		flags: func(c *cmdEnv, fs *flag.FlagSet) {
			c.logFlags()
			c.postgresFlags()
			c.provFlags(&pc)
			fs.StringVar(&amount, "amount", "", "value of each voucher, e.g. 10.00")
			fs.StringVar(&currency, "currency", "EUR", "ISO 4217 currency")
			fs.IntVar(&count, "count", 1, "how many vouchers")
			fs.StringVar(&expires, "expires", "", "expiry date (YYYY-MM-DD, UTC; valid through that day)")
			fs.StringVar(&batch, "batch", "", "a label for the batch (printed run, shop)")
		},
		run: func(ctx context.Context, c *cmdEnv, args []string) error {
			if len(args) != 1 || args[0] != "create" {
				return usagef("vouchers: simcore vouchers create --amount 10.00 --currency EUR --count N --expires YYYY-MM-DD")
			}
			m, err := rating.ParseMoney(amount, currency)
			if err != nil || m.Minor <= 0 {
				return usagef("vouchers: --amount %q in %s: want an amount above zero (%v)", amount, currency, err)
			}
			exp, err := time.Parse(time.DateOnly, expires)
			if err != nil {
				return usagef("vouchers: --expires: want YYYY-MM-DD")
			}
			exp = exp.AddDate(0, 0, 1)
			if !exp.After(time.Now()) {
				return usagef("vouchers: --expires %s is in the past", expires)
			}
			if count < 1 || count > 100_000 {
				return usagef("vouchers: --count: from 1 to 100000")
			}
			return withRating(ctx, c, &pc, func(rs *ratingStack, _ *provStack) error {
				codes := make([]string, count)
				for i := range codes {
					codes[i] = rating.NewVoucherCode()
				}
				if err := rs.store.CreateVouchers(ctx, codes, m, exp, batch); err != nil {
					return err
				}
				for _, code := range codes {
					fmt.Fprintln(c.io.out, code)
				}
				return nil
			})
		},
	}
}

func topupCommand() *command {
	var (
		pc                             provConfig
		voucher, amount, currency, key string
		kind                           string
	)
	return &command{
		name:    "topup",
		args:    "ICCID",
		summary: "credit a SIM: redeem a voucher, or a direct credit with an idempotency key",
		long: `With --voucher CODE, redeems the voucher (once, ever). With --amount, adds a
direct credit (a payment, a goodwill credit, a plan purchase with --kind
plan_purchase); --key is required and makes a repeated call harmless: the
same key with the same credit returns the first one. Prints the credit as
JSON.`,
		flags: func(c *cmdEnv, fs *flag.FlagSet) {
			c.logFlags()
			c.postgresFlags()
			c.provFlags(&pc)
			fs.StringVar(&voucher, "voucher", "", "voucher code")
			fs.StringVar(&amount, "amount", "", "direct credit amount, e.g. 5.00")
			fs.StringVar(&currency, "currency", "", "currency of --amount (default: the plan's)")
			fs.StringVar(&key, "key", "", "idempotency key of a direct credit")
			fs.StringVar(&kind, "kind", rating.CreditDirect, "credit or plan_purchase")
		},
		run: func(ctx context.Context, c *cmdEnv, args []string) error {
			if len(args) != 1 {
				return usagef("topup: give one ICCID")
			}
			if err := metering.ValidateICCID(args[0]); err != nil {
				return usagef("topup: ICCID %q: %v", args[0], err)
			}
			if (voucher == "") == (amount == "") {
				return usagef("topup: give either --voucher or --amount")
			}
			if amount != "" && key == "" {
				return usagef("topup: --amount needs --key, an idempotency key that makes a repeated call harmless")
			}
			return withRating(ctx, c, &pc, func(rs *ratingStack, _ *provStack) error {
				if voucher != "" {
					cr, err := rs.accounts.RedeemVoucher(ctx, args[0], voucher, "cli")
					if err != nil {
						return err
					}
					return printJSONLine(c, cr)
				}
				cr, created, err := rs.accounts.AddCredit(ctx, args[0], kind, amount, currency, key, "cli")
				if err != nil {
					return err
				}
				return printJSONLine(c, map[string]any{"credit": cr, "created": created})
			})
		},
	}
}

func raterCommand() *command {
	var (
		pc                        provConfig
		balanceAddr, balanceToken string
	)
	return &command{
		name:    "rater",
		summary: "rate usage as it arrives: charges, balances, threshold alerts and barring",
		long: `Follows the usage ledger (notified by PostgreSQL, and polling every second),
re-rates the billing periods each batch of records touched for the SIMs it
touched, fires threshold alerts by SMS once per period, and asks
provisioning to bar mobile data when a plan's rule says so (and to lift it
after a top-up or in a new period). simcore run includes it.

With --balance-addr it also serves the back-office balance API,
GET /v1/sims/ICCID/balance[?periods=N], with the bearer token
--balance-token (simcore run serves it on its push listener).`,
		flags: func(c *cmdEnv, fs *flag.FlagSet) {
			c.logFlags()
			c.postgresFlags()
			c.clickhouseFlags()
			c.serviceFlags("127.0.0.1:9475")
			c.provFlags(&pc)
			c.str(&balanceAddr, "balance-addr", "SIMCORE_BALANCE_ADDR", "", "listen address of the back-office balance API; empty: off")
			c.secretStr(&balanceToken, "balance-token", "SIMCORE_BALANCE_TOKEN", "", "bearer token the balance API requires")
		},
		run: func(ctx context.Context, c *cmdEnv, args []string) error {
			if len(args) > 0 {
				return usagef("rater takes no arguments")
			}
			holdSIGHUP()
			if balanceAddr != "" && balanceToken == "" {
				return usagef("rater: the balance API (--balance-addr) needs a token (--balance-token or SIMCORE_BALANCE_TOKEN)")
			}
			log, err := c.logger()
			if err != nil {
				return err
			}
			if err := c.migrateAll(ctx, log); err != nil {
				return err
			}
			reg := ops.NewRegistry()
			m, err := c.openMetering(ctx, log, reg, nil)
			if err != nil {
				return err
			}
			defer m.close()
			prov, err := c.openProvisioning(ctx, log, reg, &pc, false)
			if err != nil {
				return err
			}
			defer prov.close()
			rs := openRating(log, reg, prov, m)
			opsSrv := ops.NewServer(log, reg)
			m.readiness(opsSrv)
			prov.readiness(opsSrv)
			if err := opsSrv.Listen(c.common.opsAddr); err != nil {
				return err
			}
			parts := []func(context.Context) error{rs.run(log)}
			if balanceAddr != "" {
				ln, err := net.Listen("tcp", balanceAddr)
				if err != nil {
					return fmt.Errorf("balance API: %w", err)
				}
				mux := http.NewServeMux()
				mux.Handle("/v1/sims/{iccid}/balance", &rhttp.Balance{Accounts: rs.accounts, Token: balanceToken, Log: log})
				srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
				parts = append(parts, func(ctx context.Context) error { return ops.ServeHTTP(ctx, srv, ln, c.common.shutdownTimeout) })
				log.Info("balance API listening", "addr", ln.Addr().String())
			}
			log.Info("rater running", "ops", "http://"+opsSrv.Addr())
			return runAll(ctx, log, c.common.shutdownTimeout, opsSrv, nil, append(parts, onHUP(log, nil))...)
		},
	}
}

func rerateCommand() *command {
	var (
		pc       provConfig
		from, to string
	)
	return &command{
		name:    "rerate",
		summary: "rate a date range again, e.g. after importing a corrected tariff",
		long: `Recomputes the charges of every billing period that overlaps [--from, --to)
for every SIM with usage in that range, under the newest catalogue, and
replaces the stored charges; thresholds and barring are evaluated again.
Running it twice changes nothing. --to defaults to tomorrow (UTC).`,
		flags: func(c *cmdEnv, fs *flag.FlagSet) {
			c.logFlags()
			c.postgresFlags()
			c.clickhouseFlags()
			c.provFlags(&pc)
			fs.StringVar(&from, "from", "", "first day to rate again (YYYY-MM-DD, UTC)")
			fs.StringVar(&to, "to", "", "day after the last one (YYYY-MM-DD, UTC)")
		},
		run: func(ctx context.Context, c *cmdEnv, args []string) error {
			if len(args) > 0 {
				return usagef("rerate takes no arguments")
			}
			f, err := time.Parse(time.DateOnly, from)
			if err != nil {
				return usagef("rerate: --from: want YYYY-MM-DD")
			}
			t := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, 1)
			if to != "" {
				if t, err = time.Parse(time.DateOnly, to); err != nil {
					return usagef("rerate: --to: want YYYY-MM-DD")
				}
			}
			if !f.Before(t) {
				return usagef("rerate: --from must be before --to")
			}
			log, err := c.logger()
			if err != nil {
				return err
			}
			if err := c.migrateAll(ctx, log); err != nil {
				return err
			}
			m, err := c.openMetering(ctx, log, nil, nil)
			if err != nil {
				return err
			}
			defer m.close()
			prov, err := c.openProvisioning(ctx, log, nil, &pc, false)
			if err != nil {
				return err
			}
			defer prov.close()
			rs := openRating(log, nil, prov, m)
			ids, err := rch.New(m.ch).ICCIDs(ctx, f, t)
			if err != nil {
				return err
			}
			if err := rs.rater.Rerate(ctx, ids, f, t); err != nil {
				return ratingError(err)
			}
			return printJSONLine(c, map[string]any{"sims": len(ids), "from": f.Format(time.DateOnly), "to": t.Format(time.DateOnly)})
		},
	}
}
