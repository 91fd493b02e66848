// Package clickhouse reads the usage rating needs from metering's
// ClickHouse tables: each record's quantity rounded by the plan's rules,
// summed per ICCID, day, serving network and type.
package clickhouse

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/simcore/simcore/metering"
	"github.com/simcore/simcore/numbering"
	"github.com/simcore/simcore/rating"
)

// Usage implements rating.UsageSource on usage_records.
type Usage struct {
	conn driver.Conn
}

var _ rating.UsageSource = (*Usage)(nil)

// New returns a usage source on conn (metering's database).
func New(conn driver.Conn) *Usage { return &Usage{conn: conn} }

// QuantityExpr is the SQL of rating.Rounding.Quantity for one record of
// usage_records: rounding applies to each record before any sum. Both must
// agree; a test checks them against each other on the real server.
func QuantityExpr(r rating.Rounding) string {
	block := strconv.FormatUint(r.Block(), 10)
	data := "bytes_up + bytes_down"
	if block != "1" {
		data = "intDiv(bytes_up + bytes_down + " + block + " - 1, " + block + ") * " + block
	}
	voice := "toUInt64(duration_s)"
	switch r.Voice {
	case rating.VoicePerMinute:
		voice = "intDiv(toUInt64(duration_s) + 59, 60) * 60"
	case rating.VoicePerSecondAfterFirstMinute:
		voice = "if(duration_s > 0 AND duration_s < 60, toUInt64(60), toUInt64(duration_s))"
	}
	return "multiIf(type = 'data', toUInt64(" + data + "), type = 'voice', toUInt64(" + voice + "), toUInt64(1))"
}

// DailyUsage sums the rounded usage of iccids in [from, to) per ICCID, UTC
// day, serving network and type. The ICCIDs are the leading column of
// usage_records' primary key, so only their ranges are read.
func (u *Usage) DailyUsage(ctx context.Context, r rating.Rounding, iccids []string, from, to time.Time) (map[string][]rating.Usage, error) {
	out := make(map[string][]rating.Usage, len(iccids))
	if len(iccids) == 0 {
		return out, nil
	}
	// The list is written into the query: ICCIDs are digits (checked), and
	// 18.16 takes a bound slice as an array, which IN does not accept.
	var list strings.Builder
	for i, id := range iccids {
		if !numbering.DigitsBetween(id, 1, 22) {
			return nil, fmt.Errorf("rated usage: ICCID %q is not digits", id)
		}
		if i > 0 {
			list.WriteByte(',')
		}
		list.WriteString("'" + id + "'")
	}
	q := `SELECT iccid, toUInt32(toDate(start_time)) AS day, mcc_mnc, toUInt8(type) AS t, count() AS records, sum(` + QuantityExpr(r) + `) AS quantity
		FROM usage_records
		WHERE iccid IN (` + list.String() + `) AND start_time >= toDateTime(?, 'UTC') AND start_time < toDateTime(?, 'UTC')
		GROUP BY iccid, day, mcc_mnc, t`
	rows, err := u.conn.Query(ctx, q, from.UTC().Unix(), to.UTC().Unix())
	if err != nil {
		return nil, fmt.Errorf("rated usage: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			iccid, mccMNC string
			days          uint32
			t             uint8
			records, qty  uint64
		)
		if err := rows.Scan(&iccid, &days, &mccMNC, &t, &records, &qty); err != nil {
			return nil, fmt.Errorf("rated usage: %w", err)
		}
		out[iccid] = append(out[iccid], rating.Usage{
			Day:      time.Unix(int64(days)*86400, 0).UTC(),
			MCCMNC:   mccMNC,
			Type:     metering.UsageType(t),
			Records:  records,
			Quantity: qty,
		})
	}
	return out, rows.Err()
}

// ICCIDs lists the ICCIDs with usage in [from, to): what a re-rating after
// a tariff fix must cover.
func (u *Usage) ICCIDs(ctx context.Context, from, to time.Time) ([]string, error) {
	rows, err := u.conn.Query(ctx, `SELECT DISTINCT iccid FROM usage_records
		WHERE start_time >= toDateTime(?, 'UTC') AND start_time < toDateTime(?, 'UTC') ORDER BY iccid`, from.UTC().Unix(), to.UTC().Unix())
	if err != nil {
		return nil, fmt.Errorf("iccids with usage: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
