#!/usr/bin/env bash
# End-to-end ingest benchmark (make bench-ingest).
#
# Generates BENCH_RECORDS (2,000,000) canonical CSV records over BENCH_SIMS
# (50,000) SIMs with `simcore gen cdrs`, then on the same file and server:
#   (a) clickhouse-client INSERT ... FORMAT CSVWithNames into a plain MergeTree
#       table with the file's columns;
#   (b) simcore ingest, end to end (parse, validate, dedupe, raw insert, the
#       hourly and daily rollups, the ledger), with its peak RSS;
#   (c) the ceiling: ClickHouse alone doing simcore's server-side work
#       (INSERT ... SELECT of the stored rows into a fresh usage_records with
#       its hourly and daily views, fed side by side as simcore's inserts
#       feed them), to show where the time goes;
#   (d) a 30-day by-day usage query for one ICCID over that data, p50/p99.
# (a) and (b) run in turn BENCH_ROUNDS (3) times; prints each round and
# the medians, whose ratio is the figure. Needs `make services` and
# `make build`.
set -euo pipefail
cd "$(dirname "$0")/../.."

RECORDS="${BENCH_RECORDS:-2000000}"
SIMS="${BENCH_SIMS:-50000}"
DB=simcore_bench
OUT=.run/bench
BIN=bin/simcore
CH_PORT="${SIMCORE_CLICKHOUSE_ADDR##*:}"
CH=(clickhouse-client --host 127.0.0.1 --port "$CH_PORT")
PG_BASE="${SIMCORE_POSTGRES_URL%%\?*}"
PG_ADMIN="${PG_BASE%/*}/postgres"
PG_BENCH="${PG_BASE%/*}/$DB?sslmode=disable"

mkdir -p "$OUT"
# gen places records in the 30 days before today, inside the ingest window:
# the file is regenerated each day.
FILE="$OUT/cdrs-$RECORDS-$SIMS-$(date -u +%Y%m%d).csv"
if [ ! -s "$FILE" ]; then
	rm -f "$OUT"/cdrs-*.csv
	echo "bench: generating $RECORDS records over $SIMS SIMs -> $FILE" >&2
	"$BIN" gen cdrs --records "$RECORDS" --sims "$SIMS" --seed 42 --days 30 -o "$FILE"
fi
BYTES=$(stat -c %s "$FILE")

now() { date +%s.%N; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / s }'; }

# (a) and (b) in turn, BENCH_ROUNDS (3) times: on a shared 2-vCPU machine
# one pair's ratio ranged 37-52% in a row (session 13), so the ratio
# printed is the median of the rounds', each round's shown too.
ROUNDS="${BENCH_ROUNDS:-3}"
CH_LIST=() SC_LIST=() RATIOS=() RSS_MB=0
for round in $(seq "$ROUNDS"); do
	# (a) clickhouse-client
	"${CH[@]}" -q "DROP DATABASE IF EXISTS $DB"
	"${CH[@]}" -q "CREATE DATABASE $DB"
	"${CH[@]}" -q "CREATE TABLE $DB.plain (record_id String, node_id String, type String, iccid String, imsi String, msisdn String, start_time DateTime('UTC'), duration_s UInt32, bytes_up UInt64, bytes_down UInt64, mcc_mnc String, rat String, apn String, peer_number String, sequence UInt32, closing_cause UInt8) ENGINE = MergeTree PARTITION BY toYYYYMM(start_time) ORDER BY (iccid, start_time)"
	t0=$(now)
	"${CH[@]}" --date_time_input_format=best_effort -q "INSERT INTO $DB.plain FORMAT CSVWithNames" < "$FILE"
	t1=$(now)
	CH_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
	CH_ROWS=$("${CH[@]}" -q "SELECT count() FROM $DB.plain")
	"${CH[@]}" -q "DROP DATABASE $DB"

	# (b) simcore ingest into fresh stores
	psql "$PG_ADMIN" -qtc "DROP DATABASE IF EXISTS $DB" >/dev/null
	psql "$PG_ADMIN" -qtc "CREATE DATABASE $DB" >/dev/null
	export SIMCORE_CLICKHOUSE_DATABASE=$DB SIMCORE_POSTGRES_URL="$PG_BENCH" SIMCORE_LOG_LEVEL=warn
	"$BIN" migrate
	t0=$(now)
	/usr/bin/time -f "%M" -o "$OUT/rss" "$BIN" ingest "$FILE" > "$OUT/summary.json"
	t1=$(now)
	SC_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
	RSS_MB=$(awk -v m="$RSS_MB" '{ r = $1 / 1024; printf "%.0f", (r > m ? r : m) }' "$OUT/rss")
	SC_ROWS=$("${CH[@]}" -q "SELECT count() FROM $DB.usage_records")
	CH_LIST+=("$CH_SECS") SC_LIST+=("$SC_SECS")
	RATIOS+=("$(awk -v sc="$SC_SECS" -v c="$CH_SECS" -v r1="$SC_ROWS" -v r2="$CH_ROWS" 'BEGIN { printf "%.1f", 100 * (r1 / sc) / (r2 / c) }')")
done
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
CH_SECS=$(median "${CH_LIST[@]}")
SC_SECS=$(median "${SC_LIST[@]}")

# (c) ClickHouse alone: the same rows into a fresh schema with its views
SIMCORE_CLICKHOUSE_DATABASE=${DB}_ceiling "$BIN" migrate 2>/dev/null
t0=$(now)
"${CH[@]}" --parallel_view_processing=1 -q "INSERT INTO ${DB}_ceiling.usage_records SELECT * FROM $DB.usage_records"
t1=$(now)
CEIL_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
"${CH[@]}" -q "DROP DATABASE ${DB}_ceiling"

# (d) usage query latency over that data
QUERY=$(SIMCORE_BENCH_DATABASE=$DB go test -run '^$' -bench 'BenchmarkUsage30DaysByDay$' -benchtime 2000x ./metering/clickhouse/ | grep -E '^BenchmarkUsage30DaysByDay' || true)

CH_RATE=$(rate "$CH_ROWS" "$CH_SECS")
SC_RATE=$(rate "$SC_ROWS" "$SC_SECS")
cat <<TXT
bench-ingest: $RECORDS records over $SIMS SIMs, $(( BYTES / 1048576 )) MiB, $(nproc) cores, $(uname -m)
  rounds:                 $ROUNDS, clickhouse-client ${CH_LIST[*]} s, simcore ${SC_LIST[*]} s, ratios ${RATIOS[*]} %
  clickhouse-client CSV:  $CH_ROWS rows in ${CH_SECS}s = $CH_RATE rows/s (median)
  simcore ingest:         $SC_ROWS rows in ${SC_SECS}s = $SC_RATE rows/s (median), peak RSS ${RSS_MB} MB, summary $(cat "$OUT/summary.json")
  ratio simcore/client:   $(median "${RATIOS[@]}")% (median of the rounds)
  ClickHouse alone, raw + rollups (INSERT SELECT): $SC_ROWS rows in ${CEIL_SECS}s = $(rate "$SC_ROWS" "$CEIL_SECS") rows/s
  usage query:            $QUERY
TXT
