package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	mpg "github.com/simcore/simcore/metering/postgres"
	"github.com/simcore/simcore/metering/usagecache"
	"github.com/simcore/simcore/ops"
	"github.com/simcore/simcore/portal"
	"github.com/simcore/simcore/portal/argon2id"
	phttp "github.com/simcore/simcore/portal/http"
	ppostgres "github.com/simcore/simcore/portal/postgres"
	predis "github.com/simcore/simcore/portal/redis"
	"github.com/simcore/simcore/workers/email"
)

// portalConfig is where the portal listens and what its emails link to.
type portalConfig struct {
	addr            string
	linkBase        string
	insecureCookies bool
	sessionTTL      time.Duration // 0: no session cache
	usageEntries    int           // 0: no usage cache
	trustedProxies  phttp.TrustedProxies
}

// portalFlags registers the portal's own flags; flag is the listen flag's
// name (--listen for `simcore portal`, --portal-addr inside `run`).
func (c *cmdEnv) portalFlags(pf *portalConfig, flag string) {
	usage := "listen address of the portal API; empty to disable"
	if flag == "listen" { // `simcore portal` has nothing else to do
		usage = "listen address of the portal API"
	}
	c.str(&pf.addr, flag, "SIMCORE_PORTAL_ADDR", "127.0.0.1:8490", usage)
	c.str(&pf.linkBase, "portal-link-base", "SIMCORE_PORTAL_LINK_BASE", "http://127.0.0.1:8490", "start of the links in account emails (the portal's public URL)")
	c.boolean(&pf.insecureCookies, "portal-insecure-cookies", "SIMCORE_PORTAL_INSECURE_COOKIES", false, "send session cookies without Secure (plain-HTTP development only)")
	c.dur(&pf.sessionTTL, "portal-session-cache-ttl", "SIMCORE_PORTAL_SESSION_CACHE_TTL", 5*time.Minute,
		"longest a cached session or SIM ownership answer is used (revocations take effect sooner, see docs/portal.md); 0 disables the cache")
	c.num(&pf.usageEntries, "portal-usage-cache-entries", "SIMCORE_PORTAL_USAGE_CACHE_ENTRIES", usagecache.DefaultMaxEntries,
		"usage answers the portal keeps in memory until a stored batch changes them; 0 disables the cache")
	c.proxies(&pf.trustedProxies, "portal-trusted-proxies", "SIMCORE_PORTAL_TRUSTED_PROXIES",
		"comma-separated `list` of the addresses and CIDR prefixes of reverse proxies whose X-Forwarded-For names the client that rate limits count against; empty trusts none")
}

// proxies registers a list of trusted proxies whose default comes from the
// environment. Unlike dur and num, it does not ignore a bad value with a
// warning: trusting the wrong proxy, or none, would put clients in the
// wrong rate-limit bucket. A bad environment value goes to c.errs, a bad
// flag fails the parse; both stop the command with a usage error naming
// the entry.
func (c *cmdEnv) proxies(p *phttp.TrustedProxies, name, envName, usage string) {
	v := &proxiesValue{p: p}
	if s := c.getenv(envName); s != "" {
		if err := v.Set(s); err != nil {
			c.errs = append(c.errs, fmt.Errorf("%s: %w", envName, err))
		}
	}
	c.fs.Var(v, name, usage)
	c.envs = append(c.envs, envVar{name: envName, flag: name, def: v.text})
}

// proxiesValue is a flag.Value that parses the list when it is set.
type proxiesValue struct {
	p    *phttp.TrustedProxies
	text string
}

func (v *proxiesValue) String() string {
	if v == nil {
		return ""
	}
	return v.text
}

func (v *proxiesValue) Set(s string) error {
	t, err := phttp.ParseTrustedProxies(s)
	if err != nil {
		return err
	}
	*v.p, v.text = t, s
	return nil
}

// portalParts is the portal API bound to its listener.
type portalParts struct {
	srv      *http.Server
	ln       net.Listener
	accounts *portal.Accounts
	store    *ppostgres.Store
	// followers keep the caches in step with PostgreSQL notifications.
	followers []func(context.Context) error
}

// openPortal builds the portal API on provisioning's store and queue,
// metering's reader and an SMTP mailer, and binds its listener.
func (c *cmdEnv) openPortal(log *slog.Logger, reg prometheus.Registerer, pf *portalConfig, pc *provConfig, prov *provStack, m *meteringStack, rs *ratingStack) (*portalParts, error) {
	h, err := pc.hasher()
	if err != nil {
		return nil, fmt.Errorf("portal needs SIMCORE_ACTIVATION_KEY to check activation codes: %w", err)
	}
	mailer := prov.mailer
	if mailer == nil {
		cfg := pc.mailConfig(log, reg)
		if err := cfg.Validate(); err != nil {
			return nil, usagef("%v", err) // a setting's mistake: exit 2
		}
		if mailer, err = email.New(cfg); err != nil {
			return nil, err
		}
	}
	pw, err := argon2id.New(argon2id.DefaultParams)
	if err != nil {
		return nil, err
	}
	store := ppostgres.New(prov.pool)
	var (
		accStore  portal.Store      = store
		usage     phttp.UsageReader = m.reader
		followers []func(context.Context) error
	)
	if pf.sessionTTL > 0 {
		cached := portal.NewCachedStore(store, portal.CacheConfig{TTL: pf.sessionTTL})
		accStore = cached
		followers = append(followers, func(ctx context.Context) error { return ppostgres.FollowUsers(ctx, prov.pool, cached, log) })
	}
	if pf.usageEntries > 0 {
		cached, err := usagecache.New(usagecache.Config{Reader: m.reader, MaxEntries: pf.usageEntries, Registry: reg})
		if err != nil {
			return nil, err
		}
		usage = cached
		// The ledger is in the same database as the portal's tables.
		followers = append(followers, func(ctx context.Context) error { return mpg.FollowBatches(ctx, prov.pool, cached, log) },
			cached.Run) // recomputes the answers a batch made it forget
	}
	accounts, err := portal.New(portal.Config{
		Store: accStore, Hasher: pw, Limiter: predis.New(prov.rdb, "simcore:"), Mailer: phttp.Mailer(mailer),
		Log: phttp.ContextLogger(log), LinkBase: pf.linkBase,
	})
	if err != nil {
		return nil, err
	}
	cards, err := phttp.NewCardVerifier(prov.store, h)
	if err != nil {
		return nil, err
	}
	api, err := phttp.New(phttp.Config{
		Accounts: accounts, Cards: cards, Lines: prov.store, Submit: prov.svc, Usage: usage, Balances: rs.accounts,
		Log: log, Registry: reg, InsecureCookies: pf.insecureCookies, TrustedProxies: pf.trustedProxies,
	})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", pf.addr)
	if err != nil {
		return nil, fmt.Errorf("portal listen %s: %w", pf.addr, err)
	}
	srv := &http.Server{Handler: api, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute}
	return &portalParts{srv: srv, ln: ln, accounts: accounts, store: store, followers: followers}, nil
}

// serve runs the API until ctx ends, drains it, then waits for account
// emails still being sent; meanwhile it deletes expired sessions and
// tokens hourly.
func (p *portalParts) serve(log *slog.Logger, drain time.Duration) func(context.Context) error {
	return func(ctx context.Context) error {
		fctx, stopFollowers := context.WithCancel(ctx)
		var followers sync.WaitGroup
		for _, f := range p.followers {
			followers.Go(func() {
				if err := f(fctx); err != nil {
					log.Error("portal: cache follower", "err", err)
				}
			})
		}
		defer func() {
			stopFollowers()
			followers.Wait()
		}()
		done := make(chan struct{})
		go func() {
			defer close(done)
			t := time.NewTicker(time.Hour)
			defer t.Stop()
			for {
				if n, err := p.store.DeleteExpired(ctx, time.Now()); err != nil && ctx.Err() == nil {
					log.Warn("portal: delete expired sessions", "err", err)
				} else if n > 0 {
					log.Info("portal: deleted expired sessions and tokens", "rows", n)
				}
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		}()
		err := ops.ServeHTTP(ctx, p.srv, p.ln, drain)
		<-done
		p.accounts.Wait()
		return err
	}
}

// url is where the portal listens.
func (p *portalParts) url() string { return "http://" + p.ln.Addr().String() + "/v1" }
