package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/simcore/simcore/ops"
)

func portalCommand() *command {
	var (
		pc      provConfig
		pf      portalConfig
		profile string
	)
	return &command{
		name:    "portal",
		summary: "serve the self-service portal API",
		long: `Serves the subscriber self-service JSON API under /v1 on --listen:
accounts (register, log in, password reset, profile), my SIMs (claimed with
the activation code printed on the card), my plans (SIM swap, voicemail, call
forwarding, APN settings, plan dates, each a provisioning request to poll)
and usage. The OpenAPI 3.1 document is at /v1/openapi.json.

Provisioning requests are queued on Redis for 'simcore worker' (or 'run');
account emails go to the SMTP server. Migrations are applied first.`,
		flags: func(c *cmdEnv, fs *flag.FlagSet) {
			c.logFlags()
			c.clickhouseFlags()
			c.postgresFlags()
			c.serviceFlags("127.0.0.1:9474")
			c.portalFlags(&pf, "listen")
			c.redisFlags()
			c.num(&pc.redisDB, "redis-db", "SIMCORE_REDIS_DB", 0, "Redis database of the task queue")
			c.str(&pc.smtpAddr, "smtp-addr", "SIMCORE_SMTP_ADDR", "127.0.0.1:2525", "SMTP server for account emails")
			c.str(&pc.mailFrom, "mail-from", "SIMCORE_MAIL_FROM", "simcore@localhost", "sender of account emails")
			c.str(&pc.smtpUser, "smtp-user", "SIMCORE_SMTP_USER", "", "SMTP user")
			c.secretStr(&pc.smtpPass, "smtp-password", "SIMCORE_SMTP_PASSWORD", "", "SMTP password")
			c.str(&pc.smtpTLS, "smtp-tls", "SIMCORE_SMTP_TLS", "none", "SMTP TLS: none (loopback only), starttls or tls")
			c.secretStr(&pc.activationKey, "activation-key", "SIMCORE_ACTIVATION_KEY", "", "hex key for hashing SIM activation codes (at least 16 bytes)")
			c.str(&pc.smsFrom, "sms-from", "SIMCORE_SMS_FROM", "simcore", "sender address of SMS notices")
			fs.StringVar(&profile, "cpu-profile", "", "write a Go CPU profile of the run to this file (diagnostics)")
		},
		run: func(ctx context.Context, c *cmdEnv, args []string) error {
			if len(args) > 0 {
				return usagef("portal takes no arguments")
			}
			if pf.addr == "" {
				return usagef("portal: --listen is empty")
			}
			holdSIGHUP()
			log, err := c.logger()
			if err != nil {
				return err
			}
			if err := c.migrateAll(ctx, log); err != nil {
				return err
			}
			stopProfile, err := cpuProfile(profile)
			if err != nil {
				return err
			}
			defer stopProfile()
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
			p, err := c.openPortal(log, reg, &pf, &pc, prov, m, openRating(log, reg, prov, nil))
			if err != nil {
				return err
			}
			opsSrv := ops.NewServer(log, reg)
			m.readiness(opsSrv)
			prov.readiness(opsSrv)
			if err := opsSrv.Listen(c.common.opsAddr); err != nil {
				return err
			}
			fmt.Fprintf(c.io.out, "portal API: %s (OpenAPI at /v1/openapi.json); metrics, health: http://%s\n", p.url(), opsSrv.Addr())
			return runAll(ctx, log, c.common.shutdownTimeout, opsSrv, nil, p.serve(log, c.common.shutdownTimeout), onHUP(log, nil))
		},
	}
}
