package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/simcore/simcore/ingest"
	iradius "github.com/simcore/simcore/ingest/radius"
	"github.com/simcore/simcore/ops"
)

var (
	_ iradius.Sink = (*ingest.RecordSink)(nil)
	_ iradius.Sink = (*ingest.WAL)(nil)
)

// radiusFlags configure the RADIUS accounting receiver.
type radiusFlags struct {
	addr        string
	secretFile  string
	clientsFile string
	wal         bool
	walReplay   time.Duration
	sessions    int
}

func (c *cmdEnv) radiusFlags(rf *radiusFlags, defAddr string) {
	c.str(&rf.addr, "radius-addr", "SIMCORE_RADIUS_ADDR", defAddr, "UDP listen address for RADIUS accounting (needs --radius-clients or a secret)")
	c.str(&rf.secretFile, "radius-secret-file", "SIMCORE_RADIUS_SECRET_FILE", "", "file holding the RADIUS shared secret (default: $SIMCORE_RADIUS_SECRET)")
	c.str(&rf.clientsFile, "radius-clients", "SIMCORE_RADIUS_CLIENTS", "",
		"file of the NASes that may send RADIUS accounting, one 'ADDRESS[/BITS] SECRET' a line, each with its own secret (docs/ingest.md); replaces the shared secret")
	c.boolean(&rf.wal, "radius-wal", "SIMCORE_RADIUS_WAL", true,
		"answer RADIUS once records are fsynced to a write-ahead log in the spool directory, which the spool then stores; false answers only after the ClickHouse insert (needs a spool)")
	c.dur(&rf.walReplay, "radius-wal-replay", "SIMCORE_RADIUS_WAL_REPLAY", 30*time.Minute,
		"at start, rebuild RADIUS session marks from the write-ahead log segments of this window (longer than the NASes' interim interval)")
	c.num(&rf.sessions, "radius-sessions", "SIMCORE_RADIUS_SESSIONS", iradius.DefaultMaxSessions,
		"RADIUS sessions whose counters are kept, about 250 bytes each; more than are updated within an interim interval, or an evicted session's next update counts its usage again (simcore_radius_sessions_evicted_total{state=\"active\"})")
}

// radiusReceiver is the RADIUS accounting server and, when it answers from
// the write-ahead log, the log.
type radiusReceiver struct {
	srv      *iradius.Server
	wal      *ingest.WAL // nil: answers wait for the store
	log      *slog.Logger
	auth     *radiusAuth
	reloads  *prometheus.CounterVec
	reloadOK prometheus.Gauge
}

// newRADIUS builds the receiver. With a spool directory and rf.wal its
// sink is the write-ahead log in that directory (recovered, and the
// session marks rebuilt from its recent segments); otherwise the pipeline.
func newRADIUS(log *slog.Logger, reg prometheus.Registerer, p *ingest.Pipeline, rf *radiusFlags, auth *radiusAuth, spool string) (*radiusReceiver, error) {
	cfg := iradius.Config{Addr: rf.addr, Secret: auth.secret, Clients: auth.clients, Log: log, Registry: reg, MaxSessions: rf.sessions}
	if auth.clients != nil {
		log.Info("radius clients", "file", auth.file, "clients", auth.clients.Len())
		warnOpenClients(log, auth.file, auth.mode)
	}
	reloads := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "simcore_radius_clients_reloads_total",
		Help: "Reloads of the RADIUS clients file on SIGHUP, by outcome (ok, error: the clients loaded before are kept).",
	}, []string{"outcome"})
	reloadOK := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "simcore_radius_clients_last_reload_successful",
		Help: "1 when the RADIUS clients file in use is the file as it was last read (at start or on SIGHUP), 0 after a reload that was refused.",
	})
	reloadOK.Set(1)
	if auth.clients != nil && reg != nil {
		for _, o := range []string{"ok", "error"} {
			reloads.WithLabelValues(o)
		}
		for _, c := range []prometheus.Collector{reloads, reloadOK} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	if spool == "" || !rf.wal {
		if rf.wal {
			log.Info("radius answers after the store: the write-ahead log needs --spool")
		}
		s, err := iradius.New(cfg, &ingest.RecordSink{Pipeline: p, Kind: "radius", Name: "radius", Format: ingest.FormatRADIUS})
		if err != nil {
			return nil, err
		}
		return &radiusReceiver{srv: s, log: log, auth: auth, reloads: reloads, reloadOK: reloadOK}, nil
	}
	wal, err := ingest.OpenWAL(ingest.WALConfig{Dir: spool, Log: log, Registry: reg})
	if err != nil {
		return nil, err
	}
	s, err := iradius.New(cfg, wal)
	if err != nil {
		return nil, errors.Join(err, wal.Close())
	}
	start := time.Now()
	n, err := ingest.ReplayWAL(spool, start.Add(-rf.walReplay), restoreInto(s))
	if err != nil {
		return nil, errors.Join(err, wal.Close())
	}
	log.Info("radius session marks rebuilt from the write-ahead log", "records", n, "window", rf.walReplay,
		"took", time.Since(start).Round(time.Millisecond))
	return &radiusReceiver{srv: s, wal: wal, log: log, auth: auth, reloads: reloads, reloadOK: reloadOK}, nil
}

// restoreInto rebuilds s's session marks from logged records, each at its
// update's time as when it was accepted (the segment's opening when the
// line does not say): a session's first record that came late must not
// make its later updates look older than the session.
func restoreInto(s *iradius.Server) func(ingest.WALRecord) {
	return func(r ingest.WALRecord) { s.RestoreMark(r.RecordID, r.Sequence, r.Closed, r.When()) }
}

// radiusAuth is who may send RADIUS accounting: any address with the one
// shared secret, or the clients of a clients file, each with its own.
type radiusAuth struct {
	secret  []byte
	clients *iradius.Clients
	file    string      // the clients file
	mode    fs.FileMode // its permissions, warned about when open to all
}

// radiusAuth returns the clients of --radius-clients, or the shared
// secret from --radius-secret-file or SIMCORE_RADIUS_SECRET, or nil when
// none is set. A clients file with a shared secret, or a mistake in the
// file, is a usage error. Secrets are never logged.
func (c *cmdEnv) radiusAuth(rf *radiusFlags) (*radiusAuth, error) {
	if rf.sessions < 1 {
		return nil, usagef("--radius-sessions %d: want 1 or more", rf.sessions)
	}
	if rf.clientsFile == "" {
		secret, err := c.radiusSecret(rf)
		if err != nil || secret == nil {
			return nil, err
		}
		return &radiusAuth{secret: secret}, nil
	}
	other := ""
	switch {
	case rf.secretFile != "":
		other = "--radius-secret-file (SIMCORE_RADIUS_SECRET_FILE)"
	case c.getenv("SIMCORE_RADIUS_SECRET") != "":
		other = "SIMCORE_RADIUS_SECRET"
	}
	if other != "" {
		return nil, usagef("--radius-clients (SIMCORE_RADIUS_CLIENTS) and %s cannot be used together: the clients file holds each NAS's secret", other)
	}
	clients, mode, err := loadClients(rf.clientsFile)
	if errors.Is(err, iradius.ErrInvalidConfig) {
		return nil, usagef("%v", err)
	} else if err != nil {
		return nil, err
	}
	return &radiusAuth{clients: clients, file: rf.clientsFile, mode: mode}, nil
}

// loadClients reads the clients file at path and returns its permissions
// too. A mistake in the file is an error wrapping iradius.ErrInvalidConfig.
func loadClients(path string) (*iradius.Clients, fs.FileMode, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("radius clients file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, 0, fmt.Errorf("radius clients file: %w", err)
	}
	clients, err := iradius.ParseClients(f)
	if err != nil {
		return nil, 0, fmt.Errorf("radius clients file %s: %w", path, err)
	}
	return clients, st.Mode().Perm(), nil
}

// warnOpenClients warns when the clients file is readable by every user.
func warnOpenClients(log *slog.Logger, file string, mode fs.FileMode) {
	if mode&0o007 != 0 {
		log.Warn("radius clients file is open to every user: it holds the NASes' secrets, make it 0600 or 0640",
			"file", file, "mode", mode.String())
	}
}

// radiusSecret returns the shared secret from --radius-secret-file or
// SIMCORE_RADIUS_SECRET, or nil when neither is set. The secret is never
// logged.
func (c *cmdEnv) radiusSecret(rf *radiusFlags) ([]byte, error) {
	if rf.secretFile != "" {
		b, err := os.ReadFile(rf.secretFile)
		if err != nil {
			return nil, fmt.Errorf("radius secret: %w", err)
		}
		b = bytes.TrimRight(b, "\r\n")
		if len(b) == 0 {
			return nil, usagef("radius secret file %s is empty", rf.secretFile)
		}
		return b, nil
	}
	if s := c.getenv("SIMCORE_RADIUS_SECRET"); s != "" {
		return []byte(s), nil
	}
	return nil, nil
}

// receiveRADIUS is `ingest --store=false`: the RADIUS receiver answering
// from the write-ahead log, with nothing else in the process. The metering
// stack is never opened: the segments are stored by whichever process
// runs the spool on the same directory. runIngest has checked that auth
// is set.
func receiveRADIUS(ctx context.Context, c *cmdEnv, f *ingestFlags, files bool, auth *radiusAuth) error {
	switch {
	case f.radius.addr == "" || f.spool == "":
		return usagef("ingest: --store=false receives RADIUS into the spool's write-ahead log: it needs --radius-addr and --spool")
	case !f.radius.wal:
		return usagef("ingest: --store=false answers from the write-ahead log: it cannot be combined with --radius-wal=false")
	case files || f.pushAddr != "" || f.retry.on:
		return usagef("ingest: --store=false only receives RADIUS: FILE arguments, --push-addr and --retry-rejected need the store")
	}
	log, err := c.logger()
	if err != nil {
		return err
	}
	reg := ops.NewRegistry()
	opsSrv := ops.NewServer(log, reg)
	if err := opsSrv.Listen(c.common.opsAddr); err != nil {
		return err
	}
	r, err := newRADIUS(log, reg, nil, &f.radius, auth, f.spool)
	if err != nil {
		return err
	}
	r.readiness(opsSrv)
	log.Info("radius receiver running; the spool's store is another process", "ops", "http://"+opsSrv.Addr(),
		"radius", f.radius.addr, "spool", f.spool)
	return runAll(ctx, log, c.common.shutdownTimeout, opsSrv, nil, r.serve, onHUP(log, r.reloadClients))
}

// holdSIGHUP keeps SIGHUP from ending the process from now on. A
// long-running command calls it first: before onHUP's handler is
// installed it spends seconds starting (migrations, loading the dedupe
// keys, rebuilding RADIUS session marks), and a `systemctl reload` then
// took SIGHUP's default action and ended it, which systemd counts as a
// clean exit that Restart=on-failure does not restart
// (TestSIGHUPWhileStarting). The channel is never read: a signal that
// finds it full is dropped, and onHUP's own channel gets it as well.
func holdSIGHUP() {
	holdHUPOnce.Do(func() { signal.Notify(make(chan os.Signal, 1), syscall.SIGHUP) })
}

var holdHUPOnce sync.Once

// onHUP is a component of every long-running command that calls reload on
// each SIGHUP until ctx ends, so that `systemctl
// reload` re-reads what can be re-read and never ends the process, as
// SIGHUP's default action would. reload nil: the signal is logged.
//
// The handler is installed when onHUP is called, before the component runs:
// runAll starts the ops server beside the parts, so /readyz can answer
// before the part's goroutine has run, and a SIGHUP then (a reload right
// after start) would still get the default action and end the process.
func onHUP(log *slog.Logger, reload func()) func(context.Context) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	return func(ctx context.Context) error {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-hup:
				if reload == nil {
					log.Warn("SIGHUP: nothing to reload (only the RADIUS clients file is)")
					continue
				}
				reload()
			}
		}
	}
}

// reloadClients reads the clients file again and hands it to the server.
// A file that cannot be read or has a mistake changes nothing: the server
// keeps the clients it has, and the error is logged and counted, since a
// typo must not take every NAS off the air.
func (r *radiusReceiver) reloadClients() {
	if r.auth.clients == nil {
		r.log.Warn("radius: SIGHUP ignored: no clients file (--radius-clients) to reload; the shared secret stays")
		return
	}
	clients, mode, err := loadClients(r.auth.file)
	if err == nil {
		err = r.srv.SetClients(clients)
	}
	if err != nil {
		r.reloads.WithLabelValues("error").Inc()
		r.reloadOK.Set(0)
		r.log.Error("radius clients file not reloaded; the clients loaded before stay", "file", r.auth.file, "err", err)
		return
	}
	r.reloads.WithLabelValues("ok").Inc()
	r.reloadOK.Set(1)
	r.log.Info("radius clients reloaded", "file", r.auth.file, "clients", clients.Len())
	warnOpenClients(r.log, r.auth.file, mode)
}

// readiness makes /readyz fail while the write-ahead log cannot write:
// the receiver then answers no NAS, and a load balancer in front of
// several receivers should send them elsewhere.
func (r *radiusReceiver) readiness(s *ops.Server) {
	if r.wal != nil {
		s.AddCheck("radius_wal", func(context.Context) error { return r.wal.Health() })
	}
}

// serve runs the receiver until ctx ends, then closes the log after the
// server, so what it accepted is in a complete segment for the spool.
func (r *radiusReceiver) serve(ctx context.Context) error {
	err := r.srv.Start(ctx)
	if err == nil {
		<-ctx.Done()
		err = r.srv.Close()
	}
	if r.wal != nil {
		err = errors.Join(err, r.wal.Close())
	}
	return err
}
