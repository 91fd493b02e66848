package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/simcore/simcore/ingest"
	chstore "github.com/simcore/simcore/metering/clickhouse"
)

// retryFlags select quarantined records for `ingest --retry-rejected`.
type retryFlags struct {
	on      bool
	reasons string
	source  string
}

func (r *retryFlags) flags(fs *flag.FlagSet) {
	fs.BoolVar(&r.on, "retry-rejected", false, "re-process quarantined BER and RADIUS records (one-shot)")
	fs.StringVar(&r.reasons, "reason", strings.Join(ingest.DefaultRetryReasons, ","), "with --retry-rejected: comma-separated reject reasons to retry")
	fs.StringVar(&r.source, "source", "", "with --retry-rejected: only records from this source (a file name, \"radius\")")
}

// check reports flags that do not go together; other says whether another
// mode (files, spool, push, RADIUS) was asked for.
func (r *retryFlags) check(other bool) error {
	if !r.on {
		if r.source != "" || r.reasons != strings.Join(ingest.DefaultRetryReasons, ",") {
			return usagef("ingest: --source and --reason need --retry-rejected")
		}
		return nil
	}
	if other {
		return usagef("ingest: --retry-rejected is a mode of its own: no FILEs, --spool, --push-addr or --radius-addr")
	}
	rs := r.list()
	if len(rs) == 0 {
		return usagef("ingest: --reason is empty")
	}
	if slices.Contains(rs, ingest.ReasonBERMalformed) {
		return usagef("ingest: --reason %s: not retryable, the quarantine keeps the decoder's error and the record's file offset, not its bytes", ingest.ReasonBERMalformed)
	}
	return nil
}

func (r *retryFlags) list() []string {
	var out []string
	for _, s := range strings.Split(r.reasons, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// retryRejected runs the pipeline over the quarantined records the flags
// select and prints the JSON summary.
func retryRejected(ctx context.Context, c *cmdEnv, log *slog.Logger, m *meteringStack, r *retryFlags) error {
	pctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	loop := make(chan error, 1)
	go func() { loop <- m.pipeline.Run(pctx) }()

	sum, err := m.pipeline.RetryQuarantined(ctx, chstore.NewQuarantine(m.ch, nil), ingest.RetryOptions{Reasons: r.list(), Source: r.source})
	stop()
	if lerr := <-loop; err == nil {
		err = lerr
	}
	b, _ := json.Marshal(sum)
	fmt.Fprintln(c.io.out, string(b))
	if errors.Is(err, ingest.ErrNotRetryable) {
		return usagef("ingest: %v", err)
	}
	if err != nil {
		return fmt.Errorf("ingest --retry-rejected: %w", err)
	}
	log.Info("quarantined records retried", "read", sum.Read, "stored", sum.Stored, "duplicates", sum.Duplicates, "rejected", sum.Rejected)
	return nil
}
