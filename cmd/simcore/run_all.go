package main

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/simcore/simcore/ops"
)

// runAll runs parts and the ops server until ctx ends or a part fails, then
// stops them all and the ops server last.
func runAll(ctx context.Context, log *slog.Logger, drain time.Duration, opsSrv *ops.Server, parts ...func(context.Context) error) error {
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
