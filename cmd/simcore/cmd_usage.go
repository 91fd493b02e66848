package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/simcore/simcore/metering"
)

func usageCommand() *command {
	var (
		from, to, by, cursor string
		asJSON, sessions     bool
		limit                int
	)
	return &command{
		name:    "usage",
		args:    "ICCID",
		summary: "show a SIM's usage totals, a time series, or its sessions",
		long: `--from and --to take a date (YYYY-MM-DD, UTC; --to is then inclusive) or an
RFC 3339 time (--to is then exclusive). Default: the last 30 days (to
today, or to --to).
--by hour|day|month adds a series of buckets. --sessions lists the SIM's
sessions newest first, --limit per page; pass the printed cursor to --cursor
for the next page. The partial records of one bearer (same P-GW address
and charging ID, from BER CDRs or RADIUS) are one session: its first start,
summed duration and volumes, and its number of parts.`,
		flags: func(c *cmdEnv, fs *flag.FlagSet) {
			c.logFlags()
			c.clickhouseFlags()
			fs.StringVar(&from, "from", "", "start of the range")
			fs.StringVar(&to, "to", "", "end of the range")
			fs.StringVar(&by, "by", "", "series granularity: hour, day or month")
			fs.BoolVar(&asJSON, "json", false, "print JSON")
			fs.BoolVar(&sessions, "sessions", false, "list sessions instead of totals")
			fs.IntVar(&limit, "limit", 50, "sessions per page")
			fs.StringVar(&cursor, "cursor", "", "page cursor from a previous --sessions call")
		},
		run: func(ctx context.Context, c *cmdEnv, args []string) error {
			if len(args) != 1 {
				return usagef("usage: give one ICCID")
			}
			iccid := args[0]
			if err := metering.ValidateICCID(iccid); err != nil {
				return usagef("usage: ICCID %q: %v", iccid, err)
			}
			// Default: the 30 days ending with today, or with --to.
			t := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, 1)
			var err error
			if to != "" {
				if t, err = parseWhen(to, true); err != nil {
					return usagef("usage: --to: %v", err)
				}
			}
			f := t.AddDate(0, 0, -30)
			if from != "" {
				if f, err = parseWhen(from, false); err != nil {
					return usagef("usage: --from: %v", err)
				}
			}
			g, err := metering.ParseGranularity(by)
			if err != nil {
				return usagef("usage: --by: %v", err)
			}
			log, err := c.logger()
			if err != nil {
				return err
			}
			m, err := c.openMetering(ctx, log, nil, nil)
			if err != nil {
				return err
			}
			defer m.close()
			if sessions {
				page, err := m.reader.Sessions(ctx, metering.SessionQuery{ICCID: iccid, From: f, To: t, Limit: limit, Cursor: cursor})
				if errors.Is(err, metering.ErrInvalidQuery) {
					return usagef("usage: %v", err)
				}
				if err != nil {
					return err
				}
				return printSessions(c, page, asJSON)
			}
			u, err := m.reader.Usage(ctx, metering.UsageQuery{ICCID: iccid, From: f, To: t, By: g})
			if errors.Is(err, metering.ErrInvalidQuery) {
				return usagef("usage: %v", err)
			}
			if err != nil {
				return err
			}
			return printUsage(c, u, asJSON)
		},
	}
}

// parseWhen reads a date or an RFC 3339 time; a date as the end of a range
// means the end of that day.
func parseWhen(s string, end bool) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		if end {
			t = t.AddDate(0, 0, 1)
		}
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return t, fmt.Errorf("%q: want YYYY-MM-DD or an RFC 3339 time", s)
	}
	return t.UTC(), nil
}

func printUsage(c *cmdEnv, u metering.Usage, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(c.io.out)
		return enc.Encode(u)
	}
	tw := tabwriter.NewWriter(c.io.out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(c.io.out, "ICCID %s, %s to %s\n", u.ICCID, u.From.Format(time.RFC3339), u.To.Format(time.RFC3339))
	fmt.Fprintln(tw, "from\tdata up\tdata down\tsessions\tvoice s\tcalls\tsms\t")
	row := func(label string, t metering.Totals) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t\n", label, t.Data.BytesUp, t.Data.BytesDown, t.Data.Sessions, t.Voice.Seconds, t.Voice.Calls, t.SMS.Count)
	}
	for _, b := range u.Series {
		row(b.From.Format("2006-01-02 15:04"), b.Totals)
	}
	row("total", u.Totals)
	return tw.Flush()
}

func printSessions(c *cmdEnv, p metering.SessionPage, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(c.io.out).Encode(p)
	}
	tw := tabwriter.NewWriter(c.io.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "start\ttype\tduration s\tup\tdown\tnetwork\tpeer\tparts\trecord")
	for _, s := range p.Sessions {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s\t%d\t%s\n", s.StartTime.Format(time.RFC3339), s.Type, s.DurationS, s.BytesUp, s.BytesDown, s.MCCMNC, s.PeerNumber, s.Parts, s.RecordID)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if p.Next != "" {
		fmt.Fprintf(c.io.out, "next page: --cursor %s\n", p.Next)
	}
	return nil
}
