package main

import (
	"context"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"time"

	hq "github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/simcore/simcore/ops"
	"github.com/simcore/simcore/provisioning"
	ppg "github.com/simcore/simcore/provisioning/postgres"
	wasynq "github.com/simcore/simcore/workers/asynq"
	"github.com/simcore/simcore/workers/email"
	"github.com/simcore/simcore/workers/gateway"
	wsmpp "github.com/simcore/simcore/workers/smpp"
)

// provConfig says where the network is: by default the embedded simulator
// (simcore netsim) on loopback; real endpoints are configuration.
type provConfig struct {
	gatewayURL, gatewayToken               string
	smscAddr, smscSystemID, smscPassword   string
	smsFrom                                string
	smsWindow                              int
	smsRate                                float64
	smtpAddr, mailFrom, smtpUser, smtpPass string
	smtpTLS                                string
	activationKey                          string
	concurrency                            int
	fetchers                               int
	redisDB                                int
	// smscTLS secures SMPP; gatewayTLS gives an https:// gateway's CA
	// and client certificate.
	smscTLS, gatewayTLS tlsClient
}

func (c *cmdEnv) provFlags(pc *provConfig) {
	c.redisFlags()
	c.num(&pc.redisDB, "redis-db", "SIMCORE_REDIS_DB", 0, "Redis database of the task queue")
	c.str(&pc.gatewayURL, "gateway-url", "SIMCORE_GATEWAY_URL", "http://127.0.0.1:8480", "provisioning gateway base URL")
	c.secretStr(&pc.gatewayToken, "gateway-token", "SIMCORE_GATEWAY_TOKEN", netsimGatewayToken, "provisioning gateway bearer token")
	c.str(&pc.smscAddr, "smsc-addr", "SIMCORE_SMSC_ADDR", "127.0.0.1:2775", "SMSC (SMPP 3.4) address")
	c.str(&pc.smscSystemID, "smsc-system-id", "SIMCORE_SMSC_SYSTEM_ID", "simcore", "SMPP system_id")
	c.secretStr(&pc.smscPassword, "smsc-password", "SIMCORE_SMSC_PASSWORD", netsimSMSCPassword, "SMPP password")
	c.tlsFlags(&pc.smscTLS, "smsc", "SIMCORE_SMSC", "the SMSC")
	c.tlsFileFlags(&pc.gatewayTLS, "gateway", "SIMCORE_GATEWAY", "the provisioning gateway")
	c.str(&pc.smsFrom, "sms-from", "SIMCORE_SMS_FROM", "simcore", "sender address of SMS notices")
	c.num(&pc.smsWindow, "sms-window", "SIMCORE_SMS_WINDOW", 10, "SMPP submits outstanding at once (agree it with the SMSC operator)")
	c.float(&pc.smsRate, "sms-rate", "SIMCORE_SMS_RATE", 100, "SMPP submits per second at most (agree it with the SMSC operator)")
	c.str(&pc.smtpAddr, "smtp-addr", "SIMCORE_SMTP_ADDR", "127.0.0.1:2525", "SMTP server for email notices")
	c.str(&pc.mailFrom, "mail-from", "SIMCORE_MAIL_FROM", "simcore@localhost", "sender of email notices")
	c.str(&pc.smtpUser, "smtp-user", "SIMCORE_SMTP_USER", "", "SMTP user")
	c.secretStr(&pc.smtpPass, "smtp-password", "SIMCORE_SMTP_PASSWORD", "", "SMTP password")
	c.str(&pc.smtpTLS, "smtp-tls", "SIMCORE_SMTP_TLS", "none", "SMTP TLS: none (loopback only), starttls or tls")
	c.secretStr(&pc.activationKey, "activation-key", "SIMCORE_ACTIVATION_KEY", "", "hex key for hashing SIM activation codes (at least 16 bytes)")
	c.num(&pc.concurrency, "concurrency", "SIMCORE_WORKER_CONCURRENCY", 50, "provisioning tasks processed at once")
	c.num(&pc.fetchers, "fetchers", "SIMCORE_WORKER_FETCHERS", wasynq.DefaultFetchers, "Asynq servers taking provisioning tasks side by side, sharing --concurrency (each takes one task per Redis round trip)")
}

// The simulator's credentials, which are the defaults so that `make run`
// and the tests need no setting.
const (
	netsimGatewayToken = "netsim-gateway-token"
	netsimSMSCPassword = "netsim"
)

// checkCredentials refuses the simulator's credentials for a gateway or
// SMSC that is not on this host: a worker whose token or password was
// forgotten would otherwise start, and fail every request with the
// network's refusal.
func (pc *provConfig) checkCredentials() error {
	if pc.gatewayToken == netsimGatewayToken {
		if u, err := url.Parse(pc.gatewayURL); err == nil && !loopbackHost(u.Hostname()) {
			return usagef("SIMCORE_GATEWAY_URL is %s, not the simulator, but SIMCORE_GATEWAY_TOKEN is not set (the simulator's token is the default)", u.Redacted())
		}
	}
	if pc.smscPassword == netsimSMSCPassword {
		if host, _, err := net.SplitHostPort(pc.smscAddr); err == nil && !loopbackHost(host) {
			return usagef("SIMCORE_SMSC_ADDR is %s, not the simulator, but SIMCORE_SMSC_PASSWORD is not set (the simulator's password is the default)", pc.smscAddr)
		}
	}
	return nil
}

// loopbackHost reports whether host names this machine: localhost or a
// loopback address.
func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// gatewayTLSConfig is the TLS of an https:// gateway URL: its CA and
// client certificate, nil for the system's roots and none.
func (pc *provConfig) gatewayTLSConfig() (*tls.Config, error) {
	u, err := url.Parse(pc.gatewayURL)
	if err != nil {
		return nil, nil // gateway.Config.Validate says what is wrong, without the password
	}
	t := pc.gatewayTLS
	t.on = u.Scheme == "https"
	t.switchHint = "the gateway URL is not https://"
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "443")
	}
	return t.config(addr)
}

// redisOpt is the Redis of the task queue, as asynq takes it.
func (c *cmdEnv) redisOpt(pc *provConfig) (hq.RedisClientOpt, error) {
	tc, err := c.common.redisTLS.config(c.common.redisAddr)
	if err != nil {
		return hq.RedisClientOpt{}, err
	}
	return hq.RedisClientOpt{Addr: c.common.redisAddr, Username: c.common.redisUser, Password: c.common.redisPassword, DB: pc.redisDB, TLSConfig: tc}, nil
}

func (pc *provConfig) hasher() (*provisioning.ActivationHasher, error) {
	key, err := hex.DecodeString(pc.activationKey)
	if err != nil {
		// hex's own errors quote the offending character: a piece of the
		// secret. Say what is wrong without it.
		if errors.Is(err, hex.ErrLength) {
			return nil, usagef("SIMCORE_ACTIVATION_KEY is not hex: it has an odd number of digits")
		}
		return nil, usagef("SIMCORE_ACTIVATION_KEY is not hex: it holds a character that is not a hex digit")
	}
	return provisioning.NewActivationHasher(key)
}

// provStack is provisioning wired to its stores and the network.
type provStack struct {
	pool    *pgxpool.Pool
	store   *ppg.Store
	queue   *wasynq.Queue
	svc     *provisioning.Service
	sms     *wsmpp.Sender
	mailer  *email.Mailer
	worker  *wasynq.Worker
	rdb     *redis.Client
	cleanup []func()
}

func (p *provStack) close() {
	for i := len(p.cleanup) - 1; i >= 0; i-- {
		p.cleanup[i]()
	}
}

// openProvisioning connects the store and the queue; with network it also
// builds the gateway client, the SMPP sender, the mailer and the worker.
func (c *cmdEnv) openProvisioning(ctx context.Context, log *slog.Logger, reg *prometheus.Registry, pc *provConfig, network bool) (*provStack, error) {
	p := &provStack{}
	gwCfg := gateway.Config{BaseURL: pc.gatewayURL, Token: pc.gatewayToken, Timeout: 10 * time.Second, Registry: reg}
	smsCfg := wsmpp.Config{
		Addr: pc.smscAddr, SystemID: pc.smscSystemID, Password: pc.smscPassword, SourceAddr: pc.smsFrom,
		Window: pc.smsWindow, Rate: pc.smsRate, Log: log, Registry: reg,
		OnReceipt: func(r provisioning.DeliveryReceipt) error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return p.svc.RecordReceipt(ctx, r)
		},
	}
	mailCfg := pc.mailConfig(log, reg)
	if network {
		if err := pc.checkCredentials(); err != nil {
			return nil, err
		}
		var err error
		if smsCfg.TLS, err = pc.smscTLS.config(pc.smscAddr); err != nil {
			return nil, err
		}
		if gwCfg.TLS, err = pc.gatewayTLSConfig(); err != nil {
			return nil, err
		}
		// A mistake in these settings is the operator's, found before
		// anything is opened: a usage error (exit 2), which the systemd
		// units do not restart in a loop.
		for _, v := range []interface{ Validate() error }{gwCfg, smsCfg, mailCfg} {
			if err := v.Validate(); err != nil {
				return nil, usagef("%v", err)
			}
		}
	}
	ro, err := c.redisOpt(pc)
	if err != nil {
		return nil, err
	}
	if p.pool, err = openPool(ctx, c.common.postgresURL, ppg.DefaultMaxConns); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	p.cleanup = append(p.cleanup, p.pool.Close)
	p.store = ppg.New(p.pool)
	p.queue = wasynq.NewQueue(ro)
	p.cleanup = append(p.cleanup, func() { p.queue.Close() })
	p.rdb = redis.NewClient(&redis.Options{Addr: ro.Addr, Username: ro.Username, Password: ro.Password, DB: ro.DB, TLSConfig: ro.TLSConfig})
	p.cleanup = append(p.cleanup, func() { p.rdb.Close() })
	p.svc = &provisioning.Service{Store: p.store, Queue: p.queue, SMSFrom: pc.smsFrom, VoicemailLanguage: provisioning.IsVoicemailLanguage}
	if !network {
		return p, nil
	}
	gw, err := gateway.New(gwCfg)
	if err != nil {
		p.close()
		return nil, err
	}
	p.svc.Gateway = gw
	p.sms, err = wsmpp.New(smsCfg)
	if err != nil {
		p.close()
		return nil, err
	}
	p.svc.SMS = p.sms
	p.mailer, err = email.New(mailCfg)
	if err != nil {
		p.close()
		return nil, err
	}
	p.worker, err = wasynq.NewWorker(wasynq.Config{Redis: ro, Service: p.svc, Mailer: p.mailer, Concurrency: pc.concurrency, Fetchers: pc.fetchers,
		ShutdownTimeout: c.common.shutdownTimeout, Log: log, Registry: reg})
	if err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

// mailConfig is the SMTP mailer's configuration.
func (pc *provConfig) mailConfig(log *slog.Logger, reg prometheus.Registerer) email.Config {
	return email.Config{Addr: pc.smtpAddr, From: pc.mailFrom, Username: pc.smtpUser, Password: pc.smtpPass,
		TLS: pc.smtpTLS, Timeout: 10 * time.Second, Registry: reg, Log: log}
}

// runWorker runs the SMPP sender and the task worker until ctx ends.
func (p *provStack) runWorker(ctx context.Context) error {
	// Start binds in the background and keeps reconnecting.
	if err := p.sms.Start(ctx); err != nil {
		return fmt.Errorf("start smpp sender: %w", err)
	}
	if err := p.worker.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	go p.worker.Sweep(ctx, time.Minute, 5*time.Minute)
	<-ctx.Done()
	p.worker.Shutdown()
	return p.sms.Close()
}

func (p *provStack) readiness(s *ops.Server) {
	s.AddCheck("postgres", func(ctx context.Context) error { return p.pool.Ping(ctx) })
	s.AddCheck("redis", func(ctx context.Context) error { return p.rdb.Ping(ctx).Err() })
}
