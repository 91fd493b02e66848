package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/simcore/simcore/provisioning"
	ppg "github.com/simcore/simcore/provisioning/postgres"
)

func simsCommand() *command {
	var pc provConfig
	return &command{
		name:    "sims",
		args:    "import FILE",
		summary: "load SIM inventory from CSV (iccid,imsi,activation_code)",
		long: `Validates every row (ICCID with its Luhn digit, IMSI of 14-15 digits, an
activation code of 6-64 characters), stores the valid ones as in stock with
the activation code keyed-hashed (SIMCORE_ACTIVATION_KEY), and reports each
rejected row with its line and reason on stderr. A header row is optional.
A card the inventory already holds as it is (the same ICCID, IMSI and
activation code) counts as unchanged, so a file can be imported again; one
that clashes with a stored card (its ICCID with another IMSI or code, or its
IMSI on another card) is rejected. Prints
{"read":N,"imported":N,"unchanged":N,"rejected":N}, read being the sum of
the others; exit 0 when the file was processed, rejects included.`,
		flags: func(c *cmdEnv, fs *flag.FlagSet) {
			c.logFlags()
			c.postgresFlags()
			c.provFlags(&pc)
		},
		run: func(ctx context.Context, c *cmdEnv, args []string) error {
			if len(args) != 2 || args[0] != "import" {
				return usagef("sims: simcore sims import FILE")
			}
			h, err := pc.hasher()
			if errors.Is(err, provisioning.ErrNoActivationKey) {
				return usagef("sims import: set SIMCORE_ACTIVATION_KEY to a hex key of at least 16 bytes (make services writes one to .run/env)")
			}
			if err != nil {
				return err
			}
			rows, lines, err := readSIMRows(args[1])
			if err != nil {
				return err
			}
			log, err := c.logger()
			if err != nil {
				return err
			}
			if err := ppg.Migrate(ctx, c.common.postgresURL); err != nil {
				return err
			}
			p, err := c.openProvisioning(ctx, log, nil, &pc, false)
			if err != nil {
				return err
			}
			defer p.close()
			res, err := p.store.ImportSIMs(ctx, rows, h)
			if err != nil {
				return err
			}
			for _, re := range res.Rejected {
				reason := re.Reason
				if re.DuplicateOf > 0 { // the store counts rows; the operator reads file lines
					reason = fmt.Sprintf("duplicate of line %d", lines[re.DuplicateOf-1])
				}
				fmt.Fprintf(c.io.err, "line %d: %s: %s\n", lines[re.Row-1], re.Field, reason)
			}
			return printJSONLine(c, map[string]int{"read": len(rows), "imported": res.Imported, "unchanged": res.Unchanged, "rejected": len(res.Rejected)})
		},
	}
}

// readSIMRows reads the file's rows and the file line each starts on, so
// rejects name file lines (blank lines, which encoding/csv skips, and
// quoted line breaks included). A header row, which may follow the UTF-8
// byte-order mark that spreadsheets write, is skipped.
func readSIMRows(path string) ([]provisioning.SIMImportRow, []int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	var (
		rows  []provisioning.SIMImportRow
		lines []int
	)
	for first := true; ; first = false {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		if first && len(rec) > 0 {
			rec[0] = strings.TrimPrefix(rec[0], "\ufeff")
			if strings.EqualFold(strings.TrimSpace(rec[0]), "iccid") {
				continue
			}
		}
		line, _ := r.FieldPos(0)
		for len(rec) < 3 {
			rec = append(rec, "")
		}
		rows = append(rows, provisioning.SIMImportRow{ICCID: strings.TrimSpace(rec[0]), IMSI: strings.TrimSpace(rec[1]), ActivationCode: rec[2]})
		lines = append(lines, line)
	}
	return rows, lines, nil
}

func printJSONLine(c *cmdEnv, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(c.io.out, string(b))
	return err
}
