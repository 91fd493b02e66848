package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/schollz/progressbar/v3"

	"github.com/simcore/simcore/ingest"
	"github.com/simcore/simcore/ops"
)

type ingestFlags struct {
	format   string
	mapping  string
	spool    string
	pushAddr string
	token    string
	profile  string
	store    bool
	radius   radiusFlags
	ic       ingestConfig
	retry    retryFlags
}

func ingestCommand() *command {
	var f ingestFlags
	return &command{
		name:    "ingest",
		args:    "[FILE...]",
		summary: "ingest usage records from files, a spool directory or HTTP push",
		long: `With FILE arguments: ingests each file once and prints a JSON summary as the
last line on stdout: {"read":N,"stored":N,"duplicates":N,"rejected":N}.
Exit 0 when the files were processed (rejected records included), 1 on a
fatal error. A progress bar shows on stderr when it is a terminal.

With --spool DIR: runs until interrupted, ingesting files dropped into DIR
(moved to DIR/done or DIR/rejected), and with --push-addr serves
POST /v1/ingest (Bearer $SIMCORE_INGEST_TOKEN), plus /metrics, /healthz and
/readyz on --ops-addr. With --radius-addr it receives RADIUS accounting
(from the NASes of --radius-clients, each with its secret, or from any
address with the shared secret of --radius-secret-file or
$SIMCORE_RADIUS_SECRET); with --spool too it answers once a request's
record is fsynced to a write-ahead log in the spool directory, which the
spool then stores (--radius-wal=false: answer only after the ClickHouse
insert).

With --store=false (and --radius-addr and --spool): receives only. It
answers RADIUS from the write-ahead log and stores nothing; another
'simcore ingest --spool DIR' (or 'simcore run') on the same directory
stores the segments. It needs neither ClickHouse nor PostgreSQL, and the
store's CPU (decoding segments, building inserts) stays out of the
process that answers the NASes: see docs/ingest.md.

BER CDR files (3GPP TS 32.298, .ber or .cdr) carry IMSIs: their ICCIDs are
looked up in the SIM inventory, and records of unknown IMSIs are quarantined
as unknown_imsi.

Records are stored exactly once by identity (node_id, record_id): a record
delivered again, in any file or push, counts as a duplicate.

With --retry-rejected: re-processes quarantined BER and RADIUS records (by
default those quarantined as unknown_imsi, for example after
'simcore sims import'), still exactly once, and prints the same summary.
Records that still fail stay quarantined with their new reason.`,
		flags: func(c *cmdEnv, fs *flag.FlagSet) {
			c.logFlags()
			c.clickhouseFlags()
			c.postgresFlags()
			c.serviceFlags("127.0.0.1:9471")
			c.ingestFlags(&f.ic)
			c.radiusFlags(&f.radius, "")
			fs.StringVar(&f.format, "format", "", "csv, ndjson, mapped or ber (default: by file extension)")
			fs.StringVar(&f.mapping, "mapping", "", "column-mapping file (YAML) for --format mapped")
			c.str(&f.spool, "spool", "SIMCORE_INGEST_SPOOL", "", "spool directory to watch (long-running mode)")
			c.str(&f.pushAddr, "push-addr", "SIMCORE_INGEST_PUSH_ADDR", "", "listen address for HTTP push (long-running mode)")
			c.secretStr(&f.token, "push-token", "SIMCORE_INGEST_TOKEN", "", "bearer token HTTP push requires")
			c.boolean(&f.store, "store", "SIMCORE_INGEST_STORE", true,
				"store what arrives; false (with --radius-addr and --spool): only answer RADIUS into the write-ahead log, for another 'ingest --spool' to store")
			fs.StringVar(&f.profile, "cpu-profile", "", "write a Go CPU profile of the run to this file (diagnostics)")
			f.retry.flags(fs)
		},
		run: func(ctx context.Context, c *cmdEnv, args []string) error { return runIngest(ctx, c, &f, args) },
	}
}

func runIngest(ctx context.Context, c *cmdEnv, f *ingestFlags, files []string) error {
	serving := f.spool != "" || f.pushAddr != "" || f.radius.addr != ""
	if err := f.retry.check(len(files) > 0 || serving); err != nil {
		return err
	}
	if len(files) == 0 && !serving && !f.retry.on {
		return usagef("ingest: give FILEs, or --spool DIR, --push-addr ADDR and/or --radius-addr ADDR, or --retry-rejected")
	}
	if len(files) > 0 && serving {
		return usagef("ingest: FILE arguments and --spool/--push-addr/--radius-addr are separate modes")
	}
	if serving && !f.retry.on {
		holdSIGHUP()
	}
	switch f.format {
	case "", ingest.FormatCSV, ingest.FormatNDJSON, ingest.FormatMapped, ingest.FormatBER:
	default:
		return usagef("ingest: --format %q: want csv, ndjson, mapped or ber", f.format)
	}
	auth, err := c.radiusAuth(&f.radius)
	if err != nil {
		return err
	}
	if f.radius.addr != "" && auth == nil {
		return usagef("ingest: --radius-addr needs a clients file (--radius-clients) or a secret (--radius-secret-file or SIMCORE_RADIUS_SECRET)")
	}
	if f.spool != "" {
		if err := checkSpoolRetention(f.ic.spoolKeep, &f.radius); err != nil {
			return err
		}
		if err := checkSpoolDir(f.spool); err != nil {
			return err
		}
	}
	stopProfile, err := cpuProfile(f.profile)
	if err != nil {
		return err
	}
	defer stopProfile()
	if !f.store {
		return receiveRADIUS(ctx, c, f, len(files) > 0, auth)
	}
	if err := f.ic.check(); err != nil {
		return err
	}
	var mapping *ingest.Mapping
	if f.mapping != "" {
		var err error
		if mapping, err = ingest.LoadMapping(f.mapping); err != nil {
			return usagef("ingest: %v", err)
		}
	} else if f.format == ingest.FormatMapped {
		return usagef("ingest: --format mapped needs --mapping FILE")
	}
	log, err := c.logger()
	if err != nil {
		return err
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
	if f.retry.on {
		return retryRejected(ctx, c, log, m, &f.retry)
	}
	if len(files) > 0 {
		return ingestFiles(ctx, c, m.pipeline, files, f.format, mapping)
	}
	return serveIngest(ctx, c, log, reg, m, f, mapping, auth)
}

func ingestFiles(ctx context.Context, c *cmdEnv, p *ingest.Pipeline, files []string, format string, mapping *ingest.Mapping) error {
	log, _ := c.logger()
	pctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	loop := make(chan error, 1)
	go func() { loop <- p.Run(pctx) }()

	var (
		total  ingest.Summary
		failed []string
	)
	for _, name := range files {
		sum, err := ingestFile(ctx, c, p, name, format, mapping)
		total.Add(sum)
		if err != nil {
			log.Error("file not ingested", "file", name, "err", err)
			failed = append(failed, name)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		log.Info("file ingested", "file", name, "read", sum.Read, "stored", sum.Stored, "duplicates", sum.Duplicates, "rejected", sum.Rejected)
	}
	stop()
	if err := <-loop; err != nil {
		return err
	}
	b, _ := json.Marshal(total)
	fmt.Fprintln(c.io.out, string(b))
	if len(failed) > 0 {
		return fmt.Errorf("ingest: %d of %d files not ingested: %v", len(failed), len(files), failed)
	}
	return nil
}

func ingestFile(ctx context.Context, c *cmdEnv, p *ingest.Pipeline, name, format string, mapping *ingest.Mapping) (ingest.Summary, error) {
	if format == "" {
		var ok bool
		if format, ok = ingest.FormatForName(name, mapping != nil); !ok {
			return ingest.Summary{}, fmt.Errorf("cannot tell the format of %s from its name: give --format", name)
		}
	}
	fh, err := os.Open(name)
	if err != nil {
		return ingest.Summary{}, err
	}
	defer fh.Close()
	src := ingest.Source{Kind: "file", Name: filepath.Base(name), Format: format, Mapping: mapping, R: fh}
	if isTerminal(c.io.err) {
		if st, err := fh.Stat(); err == nil {
			bar := progressbar.NewOptions64(st.Size(),
				progressbar.OptionSetWriter(c.io.err), progressbar.OptionSetDescription(filepath.Base(name)),
				progressbar.OptionShowBytes(true), progressbar.OptionThrottle(100*time.Millisecond),
				progressbar.OptionClearOnFinish())
			src.Progress = func(n int64) { _ = bar.Set64(n) }
			defer bar.Finish()
		}
	}
	return p.Ingest(ctx, src)
}

// serveIngest is the long-running mode: spool and/or HTTP push.
func serveIngest(ctx context.Context, c *cmdEnv, log *slog.Logger, reg *prometheus.Registry, m *meteringStack, f *ingestFlags, mapping *ingest.Mapping, auth *radiusAuth) error {
	opsSrv := ops.NewServer(log, reg)
	m.readiness(opsSrv)
	if err := opsSrv.Listen(c.common.opsAddr); err != nil {
		return err
	}
	comps, err := ingestComponents(c, log, reg, m, f.spool, f.ic.spoolKeep, f.pushAddr, f.token, mapping, &f.radius, auth)
	if err != nil {
		return err
	}
	if comps.radius != nil {
		comps.radius.readiness(opsSrv)
	}
	log.Info("ingest running", "ops", "http://"+opsSrv.Addr(), "spool", f.spool, "push", comps.pushURL(), "radius", f.radius.addr)
	var reload func()
	if comps.radius != nil {
		reload = comps.radius.reloadClients
	}
	return runComponents(ctx, log, c.common.shutdownTimeout, opsSrv, m.pipeline, comps, onHUP(log, reload))
}

// ingestParts are the long-running ingest sources.
type ingestParts struct {
	spool  *ingest.Spool
	push   *http.Server
	pushLn net.Listener
	// mux routes the push listener; run adds the back-office balance API.
	mux    *http.ServeMux
	radius *radiusReceiver
}

func (p *ingestParts) pushURL() string {
	if p.pushLn == nil {
		return ""
	}
	return "http://" + p.pushLn.Addr().String() + "/v1/ingest"
}

// checkSpoolRetention refuses a done/ retention shorter than the RADIUS
// log's replay window: the receiver rebuilds its session marks from the
// segments in done/ at start, so they must outlive the window. A spool
// without a receiver of its own is checked too: it may be the store of a
// receiver run apart (--store=false), which logs into this spool and
// cannot see the store's pruning (TestSpoolRetentionCoversSplitReceiverReplay).
func checkSpoolRetention(keep time.Duration, rf *radiusFlags) error {
	if keep > 0 && (rf.addr == "" || rf.wal) && keep < rf.walReplay {
		return usagef("ingest: --spool-retention %s is shorter than --radius-wal-replay %s", keep, rf.walReplay)
	}
	return nil
}

// checkSpoolDir makes the spool directory and checks that it can be
// written, before any store is opened. A path that cannot be a directory,
// or one the process may not write (permissions, a read-only filesystem),
// is a mistake in the configuration (exit 2, which systemd does not
// restart); anything else (a full disk, an I/O error) may pass and is
// returned as it is.
func checkSpoolDir(dir string) error {
	err := ingest.CheckSpoolDir(dir)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrPermission), errors.Is(err, syscall.EROFS), errors.Is(err, syscall.ENOTDIR), errors.Is(err, fs.ErrNotExist):
		return usagef("spool directory %s cannot be used: %v", dir, err)
	}
	return err
}

func ingestComponents(c *cmdEnv, log *slog.Logger, reg prometheus.Registerer, m *meteringStack, spool string, spoolKeep time.Duration, pushAddr, token string, mapping *ingest.Mapping, rf *radiusFlags, auth *radiusAuth) (*ingestParts, error) {
	parts := &ingestParts{}
	if spool != "" {
		if err := checkSpoolRetention(spoolKeep, rf); err != nil {
			return nil, err
		}
		parts.spool = &ingest.Spool{Dir: spool, Pipeline: m.pipeline, Log: log, Mapping: mapping, Retention: spoolKeep}
	}
	if pushAddr != "" {
		if token == "" {
			return nil, usagef("ingest: HTTP push needs a token (--push-token or SIMCORE_INGEST_TOKEN)")
		}
		mux := http.NewServeMux()
		mux.Handle("/v1/ingest", &ingest.PushHandler{Pipeline: m.pipeline, Log: log, Token: token})
		ln, err := net.Listen("tcp", pushAddr)
		if err != nil {
			return nil, fmt.Errorf("push listen %s: %w", pushAddr, err)
		}
		parts.push = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
		parts.pushLn, parts.mux = ln, mux
	}
	// Last: it takes the write-ahead log's lock, held until it stops.
	if rf.addr != "" && auth != nil {
		r, err := newRADIUS(log, reg, m.pipeline, rf, auth, spool)
		if err != nil {
			if parts.pushLn != nil {
				parts.pushLn.Close()
			}
			return nil, err
		}
		parts.radius = r
	}
	return parts, nil
}

func randomToken() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// cpuProfile writes a Go CPU profile to path (none when path is empty)
// until the returned stop is called.
func cpuProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
