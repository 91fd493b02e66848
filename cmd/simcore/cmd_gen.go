package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/simcore/simcore/ingest"
)

func genCommand() *command {
	var (
		cfg   ingest.GenConfig
		out   string
		start string
	)
	return &command{
		name:    "gen",
		args:    "cdrs",
		summary: "generate realistic usage records (canonical CSV) for tests, demos and benchmarks",
		long: `simcore gen cdrs writes canonical CSV to stdout (or -o FILE): data sessions
(some as partial records), calls and SMS over --sims SIMs with valid ICCIDs,
start times spread over --days days from --start (default: that many days
before now, so the records fall inside the ingest window). --dup-rate and
--bad-rate mix in repeated and malformed lines. The same --seed gives the same
bytes. A JSON summary of what was written goes to stderr.`,
		flags: func(c *cmdEnv, fs *flag.FlagSet) {
			fs.IntVar(&cfg.Records, "records", 100_000, "lines to write (after the header)")
			fs.IntVar(&cfg.SIMs, "sims", 1_000, "distinct SIMs")
			fs.Int64Var(&cfg.Seed, "seed", 1, "random seed")
			fs.IntVar(&cfg.Days, "days", 30, "days the start times spread over")
			fs.StringVar(&start, "start", "", "first day (YYYY-MM-DD, UTC); default: --days+1 days before today")
			fs.Float64Var(&cfg.DupRate, "dup-rate", 0, "fraction of lines that repeat an earlier record")
			fs.Float64Var(&cfg.BadRate, "bad-rate", 0, "fraction of malformed lines")
			fs.StringVar(&cfg.NodeID, "node-id", "gen-node-1", "node_id written on every record")
			fs.StringVar(&out, "o", "", "output file (default stdout)")
		},
		run: func(_ context.Context, c *cmdEnv, args []string) error {
			if len(args) != 1 || args[0] != "cdrs" {
				return usagef("gen: say what to generate: simcore gen cdrs")
			}
			if cfg.Days > 36_500 {
				return usagef("gen: --days %d: at most 36500", cfg.Days)
			}
			if start != "" {
				t, err := time.Parse(time.DateOnly, start)
				if err != nil {
					return usagef("gen: --start %q: want YYYY-MM-DD", start)
				}
				cfg.Start = t
			} else {
				// End a day early: partial sessions run on past their start.
				cfg.Start = time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -max(cfg.Days, 1)-1)
			}
			var w io.Writer = c.io.out
			if out != "" {
				f, err := os.Create(out)
				if err != nil {
					return err
				}
				defer f.Close()
				w = f
			}
			bw := bufio.NewWriterSize(w, 1<<20)
			st, err := ingest.GenerateCSV(bw, cfg)
			if err != nil {
				return usagef("gen: %v", err)
			}
			if err := bw.Flush(); err != nil {
				return err
			}
			b, _ := json.Marshal(map[string]any{"lines": st.Lines, "unique": st.Unique, "duplicates": st.Duplicates, "bad": st.Bad, "bytes": st.Bytes})
			fmt.Fprintln(c.io.err, string(b))
			return nil
		},
	}
}
