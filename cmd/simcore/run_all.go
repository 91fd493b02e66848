package main

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/simcore/simcore/ingest"
	"github.com/simcore/simcore/ops"
)

// runAll runs parts and the ops server until ctx ends or a part fails, then
// stops the parts, runs after (if any: a drain that must follow them), and
// closes the ops server last.
func runAll(ctx context.Context, log *slog.Logger, drain time.Duration, opsSrv *ops.Server, after func() error, parts ...func(context.Context) error) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, p := range parts {
		g.Go(func() error { return p(gctx) })
	}
	opsCtx, stopOps := context.WithCancel(context.WithoutCancel(ctx))
	defer stopOps()
	opsDone := make(chan error, 1)
	go func() { opsDone <- opsSrv.Serve(opsCtx, drain) }()
	go func() {
		<-gctx.Done()
		log.Info("stopping", "timeout", drain)
	}()
	err := g.Wait()
	if after != nil {
		if aerr := after(); err == nil {
			err = aerr
		}
	}
	stopOps()
	if oerr := <-opsDone; err == nil {
		err = oerr
	}
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	log.Info("stopped", "err", err)
	return err
}

// runComponents runs the ingest pipeline under its sources (spool, push)
// and any other parts: on shutdown the sources stop first, then the
// pipeline flushes what they handed it, both within drain of the stop,
// then the ops server closes.
func runComponents(ctx context.Context, log *slog.Logger, drain time.Duration, opsSrv *ops.Server, p *ingest.Pipeline, parts *ingestParts, extra ...func(context.Context) error) error {
	pctx, stopPipeline := context.WithCancel(context.WithoutCancel(ctx))
	defer stopPipeline()
	loop := make(chan error, 1)
	go func() { loop <- p.Run(pctx) }()
	if parts.spool != nil {
		extra = append(extra, parts.spool.Run)
	}
	if parts.radius != nil {
		extra = append(extra, parts.radius.serve)
	}
	if parts.push != nil {
		extra = append(extra, func(ctx context.Context) error { return ops.ServeHTTP(ctx, parts.push, parts.pushLn, drain) })
	}
	// The sources drain first, then the pipeline flushes what they handed
	// it: together within drain of the stop, so that the process ends in
	// the time the operator gave it (systemd's TimeoutStopSec).
	var stopping atomic.Int64
	stopWatch := context.AfterFunc(ctx, func() {
		stopping.CompareAndSwap(0, time.Now().UnixNano())
		// A source waits for the writer to answer what it handed over,
		// and a writer that cannot store (ClickHouse down) retries until
		// the pipeline is stopped, which otherwise happens only once
		// every source has returned: the process would hang for as long
		// as ClickHouse stays down. At the deadline the pipeline stops
		// whatever it is doing; the sources get errors and acknowledge
		// nothing (a spool file stays, a push gets 503).
		time.AfterFunc(drain, func() {
			p.DrainBy(time.Unix(0, stopping.Load()).Add(drain))
			stopPipeline()
		})
	})
	defer stopWatch()
	return runAll(ctx, log, drain, opsSrv, func() error {
		stopping.CompareAndSwap(0, time.Now().UnixNano()) // a part failed first
		p.DrainBy(time.Unix(0, stopping.Load()).Add(drain))
		stopPipeline()
		return <-loop
	}, extra...)
}
