package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/simcore/simcore/ingest"
	"github.com/simcore/simcore/metering"
	"github.com/simcore/simcore/ops"
	"github.com/simcore/simcore/provisioning"
	rhttp "github.com/simcore/simcore/rating/http"
)

type runFlags struct {
	demo      bool
	stateDir  string
	spool     string
	pushAddr  string
	token     string
	radius    radiusFlags
	demoEvery time.Duration
	netsim    bool
	ic        ingestConfig
	pc        provConfig
	nc        netsimConfig
	pf        portalConfig
}

func runCommand() *command {
	var f runFlags
	return &command{
		name:    "run",
		summary: "run the engine: every component in one process",
		long: `Applies migrations, then runs every component that exists in one process:
the ingest pipeline with its spool directory and HTTP push, the provisioning
workers, the portal API (--portal-addr) and the ops endpoints (/metrics,
/healthz, /readyz). It prints where each listens and runs
until SIGINT/SIGTERM, then drains within --shutdown-timeout.

With --demo it also generates usage traffic: a CDR file dropped into the spool
every --demo-every, over 200 demo SIMs, with a few duplicates and malformed
lines, and prints a command to look at one SIM's usage. Without
SIMCORE_INGEST_TOKEN, --demo makes a push token and writes it to
STATE_DIR/ingest-token (mode 0600).

RADIUS accounting is received on --radius-addr when a clients file
(--radius-clients: the NASes, each with its secret) or a shared secret
(--radius-secret-file or SIMCORE_RADIUS_SECRET) is configured; --demo
without either makes a random secret and writes it to
STATE_DIR/radius-secret (mode 0600). Requests are answered once their
record is fsynced to a write-ahead log in the spool directory, which the
spool then stores (--radius-wal=false: answer only after the ClickHouse
insert).`,
		flags: func(c *cmdEnv, fs *flag.FlagSet) {
			c.logFlags()
			c.clickhouseFlags()
			c.postgresFlags()
			c.serviceFlags("127.0.0.1:9470")
			c.ingestFlags(&f.ic)
			fs.BoolVar(&f.demo, "demo", false, "generate demo traffic")
			fs.DurationVar(&f.demoEvery, "demo-every", 5*time.Second, "how often --demo drops a CDR file")
			c.str(&f.stateDir, "state-dir", "SIMCORE_STATE_DIR", ".run", "directory for local state (spool, demo token)")
			c.str(&f.spool, "spool", "SIMCORE_INGEST_SPOOL", "", "spool directory (default STATE_DIR/spool)")
			c.str(&f.pushAddr, "push-addr", "SIMCORE_INGEST_PUSH_ADDR", "127.0.0.1:8470", "listen address for HTTP push; empty to disable")
			c.secretStr(&f.token, "push-token", "SIMCORE_INGEST_TOKEN", "", "bearer token HTTP push requires")
			c.radiusFlags(&f.radius, "127.0.0.1:1813")
			fs.BoolVar(&f.netsim, "netsim", true, "start the embedded network simulator (set false when the gateway, SMSC and SMTP flags name real endpoints)")
			c.provFlags(&f.pc)
			c.netsimFlags(&f.nc)
			c.portalFlags(&f.pf, "portal-addr")
		},
		run: func(ctx context.Context, c *cmdEnv, args []string) error {
			holdSIGHUP()
			return runEngine(ctx, c, &f, args)
		},
	}
}

func runEngine(ctx context.Context, c *cmdEnv, f *runFlags, args []string) error {
	if len(args) > 0 {
		return usagef("run takes no arguments")
	}
	if err := f.ic.check(); err != nil {
		return err
	}
	log, err := c.logger()
	if err != nil {
		return err
	}
	if f.spool == "" {
		f.spool = filepath.Join(f.stateDir, "spool")
	}
	if err := checkSpoolDir(f.spool); err != nil {
		return err
	}
	demoToken := false
	if f.pushAddr != "" && f.token == "" {
		if !f.demo {
			log.Warn("HTTP push disabled: no SIMCORE_INGEST_TOKEN")
			f.pushAddr = ""
		} else {
			f.token, demoToken = randomToken(), true
			if err := os.MkdirAll(f.stateDir, 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(f.stateDir, "ingest-token"), []byte(f.token+"\n"), 0o600); err != nil {
				return err
			}
		}
	}
	auth, err := c.radiusAuth(&f.radius)
	if err != nil {
		return err
	}
	radiusSecretFile := ""
	if f.radius.addr != "" && auth == nil && f.demo {
		auth = &radiusAuth{secret: []byte(randomToken())}
		radiusSecretFile = filepath.Join(f.stateDir, "radius-secret")
		if err := os.MkdirAll(f.stateDir, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(radiusSecretFile, append(auth.secret, '\n'), 0o600); err != nil {
			return err
		}
	}
	if f.radius.addr != "" && auth == nil {
		log.Info("RADIUS accounting disabled: no --radius-clients, SIMCORE_RADIUS_SECRET or --radius-secret-file")
		f.radius.addr = ""
	}
	if err := c.migrateAll(ctx, log); err != nil {
		return err
	}
	reg := ops.NewRegistry()
	m, err := c.openMetering(ctx, log, reg, &f.ic)
	if err != nil {
		return err
	}
	defer m.close()
	opsSrv := ops.NewServer(log, reg)
	m.readiness(opsSrv)
	if err := opsSrv.Listen(c.common.opsAddr); err != nil {
		return err
	}
	parts, err := ingestComponents(c, log, reg, m, f.spool, f.ic.spoolKeep, f.pushAddr, f.token, nil, &f.radius, auth)
	if err != nil {
		return err
	}
	if parts.radius != nil {
		parts.radius.readiness(opsSrv)
	}
	var netsim *netsimParts
	if f.netsim {
		if netsim, err = startNetsim(ctx, log, reg, &f.nc, &f.pc); err != nil {
			return err
		}
		// Talk to the embedded simulator where it actually listens.
		f.pc.gatewayURL = "http://" + netsim.ln.Addr().String()
		f.pc.smscAddr, f.pc.smtpAddr = netsim.smsc.Addr(), netsim.mail.Addr()
	}
	prov, err := c.openProvisioning(ctx, log, reg, &f.pc, true)
	if err != nil {
		return err
	}
	defer prov.close()
	prov.readiness(opsSrv)
	rs := openRating(log, reg, prov, m)
	if parts.mux != nil {
		// Back-office and billing systems read balances with the push token.
		parts.mux.Handle("/v1/sims/{iccid}/balance", &rhttp.Balance{Accounts: rs.accounts, Token: f.token, Log: log})
	}
	extra := []func(context.Context) error{prov.runWorker, rs.run(log)}
	var portalAPI *portalParts
	if f.pf.addr != "" {
		if portalAPI, err = c.openPortal(log, reg, &f.pf, &f.pc, prov, m, rs); err != nil {
			return err
		}
		extra = append(extra, portalAPI.serve(log, c.common.shutdownTimeout))
	}
	if netsim != nil {
		extra = append(extra, netsim.serve(c.common.shutdownTimeout))
	}
	fmt.Fprintf(c.io.out, "simcore running\n")
	fmt.Fprintf(c.io.out, "  metrics, health:  http://%s/metrics  /healthz  /readyz\n", opsSrv.Addr())
	fmt.Fprintf(c.io.out, "  ingest spool:     %s (drop .csv, .ndjson or .ber files; see done/ and rejected/)\n", f.spool)
	if parts.push != nil {
		fmt.Fprintf(c.io.out, "  ingest push:      POST %s (Bearer token", parts.pushURL())
		if demoToken {
			fmt.Fprintf(c.io.out, " in %s", filepath.Join(f.stateDir, "ingest-token"))
		}
		fmt.Fprintln(c.io.out, ")")
		fmt.Fprintf(c.io.out, "  balance API:      GET %s/v1/sims/ICCID/balance (same token)\n", "http://"+parts.pushLn.Addr().String())
	}
	if parts.radius != nil {
		fmt.Fprintf(c.io.out, "  radius accounting: udp %s", f.radius.addr)
		if radiusSecretFile != "" {
			fmt.Fprintf(c.io.out, " (shared secret in %s)", radiusSecretFile)
		}
		fmt.Fprintln(c.io.out)
	}
	fmt.Fprintln(c.io.out, "  clickhouse:       "+c.common.clickhouseAddr+" database "+c.common.clickhouseDB)
	fmt.Fprintf(c.io.out, "  provisioning:     workers on Redis %s; gateway %s, SMSC %s, SMTP %s\n", c.common.redisAddr, f.pc.gatewayURL, f.pc.smscAddr, f.pc.smtpAddr)
	if netsim != nil {
		fmt.Fprintf(c.io.out, "  network sim:      gateway http://%s/v1, SMSC %s, mail sink %s\n", netsim.ln.Addr(), netsim.smsc.Addr(), netsim.mail.Addr())
	}
	fmt.Fprintln(c.io.out, "  rating:           charges, balances, alerts and barring (data, outgoing calls and SMS) follow usage as it is stored")
	if portalAPI != nil {
		fmt.Fprintf(c.io.out, "  portal API:       %s (OpenAPI at /v1/openapi.json)\n", portalAPI.url())
	}
	if f.demo {
		h, err := f.pc.hasher()
		if err != nil {
			return fmt.Errorf("demo needs SIMCORE_ACTIVATION_KEY (make services writes one): %w", err)
		}
		v, err := seedDemoCatalogue(ctx, rs, prov)
		if err != nil {
			return fmt.Errorf("load the demo tariff catalogue: %w", err)
		}
		if err := seedDemo(ctx, prov, h); err != nil {
			return fmt.Errorf("seed demo provisioning: %w", err)
		}
		if err := seedDemoCredits(ctx, rs, prov); err != nil {
			return fmt.Errorf("seed demo credits: %w", err)
		}
		fmt.Fprintf(c.io.out, "  demo tariff:      catalogue version %d in force (first start: cmd/simcore/demo/catalogue.yaml; kept until `plans import`); try: bin/simcore balance %s\n", v, demoICCID(3))
		if netsim != nil {
			if err := seedNetwork(ctx, prov); err != nil {
				return fmt.Errorf("seed the network simulator: %w", err)
			}
		}
		dp := &demoProvisioning{p: prov, every: f.demoEvery, log: log, nextSIM: demoSubscriptions, rng: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))}
		extra = append(extra, dp.run)
		fmt.Fprintf(c.io.out, "  demo provisioning: a request every %s to %d demo lines; try: bin/simcore provision voicemail %s on --language he\n", f.demoEvery, demoSubscriptions, demoMSISDN(1))
		d := &demoTraffic{spool: f.spool, every: f.demoEvery, log: log, barred: func(ctx context.Context) (map[string]provisioning.Barring, error) {
			subs, err := prov.store.BarredSubscriptions(ctx)
			barred := make(map[string]provisioning.Barring, len(subs))
			for _, s := range subs {
				barred[s.ICCID] = s.Barring()
			}
			return barred, err
		}}
		fmt.Fprintf(c.io.out, "  demo traffic:     a CDR file every %s; try: bin/simcore usage %s --by day\n", f.demoEvery, demoICCID(7))
		extra = append(extra, d.run)
	}
	fmt.Fprintln(c.io.out, "Press Ctrl-C to stop.")
	var reload func()
	if parts.radius != nil {
		reload = parts.radius.reloadClients
	}
	extra = append(extra, onHUP(log, reload))
	return runComponents(ctx, log, c.common.shutdownTimeout, opsSrv, m.pipeline, parts, extra...)
}

// demoTraffic drops generated CDR files into the spool.
type demoTraffic struct {
	spool string
	every time.Duration
	log   *slog.Logger
	n     int
	// barred returns the barring of the ICCIDs whose mobile data or
	// outgoing calls and SMS are barred: a network carries no data, or
	// no outgoing calls and SMS, for them, so the demo's files have none
	// either (nil: no line is barred).
	barred func(context.Context) (map[string]provisioning.Barring, error)
}

const demoSIMs = 200

// demoICCID is the ICCID `simcore gen` gives SIM i: 894410, the SIM number
// in 12 digits, and the Luhn check digit.
func demoICCID(i int) string {
	s := fmt.Sprintf("894410%012d", i)
	return s + string(metering.LuhnCheckDigit(s))
}

func (d *demoTraffic) run(ctx context.Context) error {
	if err := os.MkdirAll(d.spool, 0o755); err != nil {
		return err
	}
	t := time.NewTicker(d.every)
	defer t.Stop()
	for {
		if err := d.drop(ctx); err != nil {
			d.log.Warn("demo traffic", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (d *demoTraffic) drop(ctx context.Context) error {
	d.n++
	now := time.Now().UTC()
	name := fmt.Sprintf("demo-%s-%04d.csv", now.Format("20060102T150405"), d.n)
	var buf bytes.Buffer
	_, err := ingest.GenerateCSV(&buf, ingest.GenConfig{
		Records: 2000, SIMs: demoSIMs, Seed: now.UnixNano(), Start: now.Add(-30 * time.Hour), Days: 1,
		DupRate: 0.02, BadRate: 0.005, NodeID: "demo-" + now.Format("20060102T150405.000000"),
	})
	if err != nil {
		return err
	}
	out := buf.Bytes()
	if d.barred != nil {
		barred, err := d.barred(ctx)
		if err != nil {
			return fmt.Errorf("barred lines: %w", err)
		}
		out = withoutBarredUsage(out, barred)
	}
	tmp := filepath.Join(d.spool, "."+name)
	if err := os.WriteFile(tmp, out, 0o644); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, filepath.Join(d.spool, name))
}

// withoutBarredUsage drops from a file `simcore gen cdrs` made the data
// records of the ICCIDs whose data is barred, and the voice and SMS records
// (all outgoing, chargeable) of those whose outgoing calls and SMS are;
// every other line stays as it is.
func withoutBarredUsage(file []byte, barred map[string]provisioning.Barring) []byte {
	if len(barred) == 0 {
		return file
	}
	typeCol, iccidCol := slices.Index(genColumns, "type"), slices.Index(genColumns, "iccid")
	out := make([]byte, 0, len(file))
	for i, line := range bytes.SplitAfter(file, []byte("\n")) {
		if i > 0 {
			f := strings.Split(strings.TrimSuffix(string(line), "\n"), ",")
			if len(f) > max(typeCol, iccidCol) {
				b := barred[f[iccidCol]]
				isData := f[typeCol] == metering.TypeData.String()
				if isData && b.Data || !isData && b.Outgoing {
					continue
				}
			}
		}
		out = append(out, line...)
	}
	return out
}

// genColumns are the columns of `simcore gen cdrs`.
var genColumns = strings.Split(ingest.GenHeader, ",")
