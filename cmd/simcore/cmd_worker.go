package main

import (
	"context"
	"flag"

	"github.com/simcore/simcore/ops"
)

func workerCommand() *command {
	var pc provConfig
	return &command{
		name:    "worker",
		summary: "run the provisioning workers (Asynq on Redis) against the network",
		long: `Processes provisioning requests from the Redis queue: SIM swaps, voicemail,
call forwarding, APN SMS, plan dates, suspend and resume, each applied to the
provisioning gateway with an idempotency key, at most one change in flight
per subscription, retried with backoff on transient errors. Notices go out
by SMS (SMPP) and email (SMTP). By default the network is the embedded
simulator (simcore netsim) on loopback.`,
		flags: func(c *cmdEnv, fs *flag.FlagSet) {
			c.logFlags()
			c.postgresFlags()
			c.serviceFlags("127.0.0.1:9473")
			c.provFlags(&pc)
		},
		run: func(ctx context.Context, c *cmdEnv, args []string) error {
			if len(args) > 0 {
				return usagef("worker takes no arguments")
			}
			holdSIGHUP()
			log, err := c.logger()
			if err != nil {
				return err
			}
			reg := ops.NewRegistry()
			p, err := c.openProvisioning(ctx, log, reg, &pc, true)
			if err != nil {
				return err
			}
			defer p.close()
			opsSrv := ops.NewServer(log, reg)
			p.readiness(opsSrv)
			if err := opsSrv.Listen(c.common.opsAddr); err != nil {
				return err
			}
			log.Info("worker running", "ops", "http://"+opsSrv.Addr(), "gateway", pc.gatewayURL, "smsc", pc.smscAddr)
			return runAll(ctx, log, c.common.shutdownTimeout, opsSrv, nil, p.runWorker, onHUP(log, nil))
		},
	}
}
