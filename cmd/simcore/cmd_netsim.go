package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/simcore/simcore/netsim/hlr"
	"github.com/simcore/simcore/netsim/mailsink"
	"github.com/simcore/simcore/netsim/smsc"
	"github.com/simcore/simcore/ops"
)

type netsimConfig struct {
	hlrAddr, smscAddr, smtpAddr string
	latency                     time.Duration
	failureRate                 float64
	receiptDelay                time.Duration
}

func (c *cmdEnv) netsimFlags(nc *netsimConfig) {
	c.str(&nc.hlrAddr, "hlr-addr", "SIMCORE_NETSIM_HLR_ADDR", "127.0.0.1:8480", "listen address of the simulated provisioning gateway (HTTP)")
	c.str(&nc.smscAddr, "smsc-listen", "SIMCORE_NETSIM_SMSC_ADDR", "127.0.0.1:2775", "listen address of the simulated SMSC (SMPP)")
	c.str(&nc.smtpAddr, "smtp-listen", "SIMCORE_NETSIM_SMTP_ADDR", "127.0.0.1:2525", "listen address of the mail sink (SMTP)")
	c.dur(&nc.latency, "latency", "SIMCORE_NETSIM_LATENCY", 0, "latency added to each gateway request")
	c.float(&nc.failureRate, "failure-rate", "SIMCORE_NETSIM_FAILURE_RATE", 0, "fraction of gateway requests and SMS submits that fail transiently")
	c.dur(&nc.receiptDelay, "receipt-delay", "SIMCORE_NETSIM_RECEIPT_DELAY", 200*time.Millisecond, "delay before an SMS delivery receipt")
}

// netsimParts is the running simulator.
type netsimParts struct {
	hlr  *hlr.Server
	smsc *smsc.Server
	mail *mailsink.Server
	http *http.Server
	ln   net.Listener
}

// startNetsim starts the simulator with the credentials pc uses, so the
// workers' defaults talk to it.
func startNetsim(ctx context.Context, log *slog.Logger, reg prometheus.Registerer, nc *netsimConfig, pc *provConfig) (*netsimParts, error) {
	n := &netsimParts{}
	var err error
	if n.hlr, err = hlr.New(hlr.Config{Token: pc.gatewayToken, Latency: nc.latency, FailureRate: nc.failureRate, Seed: time.Now().UnixNano(), Log: log, Registry: reg}); err != nil {
		return nil, err
	}
	if n.ln, err = net.Listen("tcp", nc.hlrAddr); err != nil {
		return nil, fmt.Errorf("netsim gateway listen: %w", err)
	}
	n.http = &http.Server{Handler: n.hlr.Handler(), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute}
	if n.smsc, err = smsc.New(smsc.Config{Addr: nc.smscAddr, SystemID: pc.smscSystemID, Password: pc.smscPassword, ReceiptDelay: nc.receiptDelay, FailureRate: nc.failureRate, Log: log, Registry: reg}); err != nil {
		n.ln.Close()
		return nil, err
	}
	if n.mail, err = mailsink.New(mailsink.Config{Addr: nc.smtpAddr, Log: log}); err != nil {
		n.ln.Close()
		return nil, err
	}
	if err := n.smsc.Start(ctx); err != nil {
		n.ln.Close()
		return nil, err
	}
	if err := n.mail.Start(ctx); err != nil {
		n.ln.Close()
		n.smsc.Close()
		return nil, err
	}
	// Serve at once: callers may seed it before the rest starts.
	go func() { _ = n.http.Serve(n.ln) }()
	return n, nil
}

// serve serves the gateway until ctx ends, then stops everything.
func (n *netsimParts) serve(drain time.Duration) func(context.Context) error {
	return func(ctx context.Context) error {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), drain)
		defer cancel()
		err := n.http.Shutdown(sctx)
		n.smsc.Close()
		n.mail.Close()
		return err
	}
}

func netsimCommand() *command {
	var (
		nc netsimConfig
		pc provConfig
	)
	return &command{
		name:    "netsim",
		summary: "run the network simulator: provisioning gateway (HLR/HSS), SMSC (SMPP), mail sink (SMTP)",
		long: `Speaks the same protocols as the real network adapters (docs/network.md):
the provisioning gateway's JSON-over-HTTP API with idempotency keys over an
in-memory HLR/HSS, an SMPP 3.4 SMSC that returns delivery receipts, and an
SMTP server that keeps the mail it receives. It uses the same credentials
flags as the worker, so both default to talking to each other.`,
		flags: func(c *cmdEnv, fs *flag.FlagSet) {
			c.logFlags()
			c.serviceFlags("127.0.0.1:9472")
			c.netsimFlags(&nc)
			c.provFlags(&pc)
		},
		run: func(ctx context.Context, c *cmdEnv, args []string) error {
			if len(args) > 0 {
				return usagef("netsim takes no arguments")
			}
			holdSIGHUP()
			log, err := c.logger()
			if err != nil {
				return err
			}
			reg := ops.NewRegistry()
			n, err := startNetsim(ctx, log, reg, &nc, &pc)
			if err != nil {
				return err
			}
			opsSrv := ops.NewServer(log, reg)
			if err := opsSrv.Listen(c.common.opsAddr); err != nil {
				return err
			}
			fmt.Fprintf(c.io.out, "netsim running\n  provisioning gateway: http://%s/v1\n  SMSC (SMPP):          %s\n  mail sink (SMTP):     %s\n  metrics:              http://%s/metrics\n",
				n.ln.Addr(), n.smsc.Addr(), n.mail.Addr(), opsSrv.Addr())
			return runAll(ctx, log, c.common.shutdownTimeout, opsSrv, nil, n.serve(c.common.shutdownTimeout), onHUP(log, nil))
		},
	}
}
