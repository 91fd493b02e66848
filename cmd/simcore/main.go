// Command simcore is the single simcore binary: the engine (run), its parts
// (ingest, worker, portal, netsim) and the operator's tools (migrate, gen,
// usage). See `simcore help`.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	// The IANA zone database, used when the host has none (a minimal
	// container image): mapped vendor times name their time_zone, and
	// without it every such mapping would fail to load.
	_ "time/tzdata"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first signal asks for a graceful stop (within the shutdown
	// timeout); a second one, from an operator who will not wait, takes
	// the default action and ends the process at once.
	context.AfterFunc(ctx, stop)
	err := run(ctx, os.Args[1:], os.Getenv, stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr})
	stop()
	if err != nil {
		var ue usageError
		if !errors.Is(err, errHelp) {
			fmt.Fprintln(os.Stderr, "simcore:", err)
		}
		switch {
		case errors.Is(err, errHelp):
			os.Exit(0)
		case errors.As(err, &ue), errors.Is(err, errNotImplemented):
			os.Exit(2)
		default:
			os.Exit(1)
		}
	}
}
