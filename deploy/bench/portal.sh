#!/usr/bin/env bash
# Portal usage-summary benchmark (make bench-portal).
#
# Loads the ingest benchmark's data set (BENCH_RECORDS 2,000,000 records over
# BENCH_SIMS 50,000 SIMs from `simcore gen cdrs --seed 42`) into a database
# of its own through `simcore ingest`, gives BENCH_USERS portal users
# BENCH_SIMS_PER_USER of those SIMs each and a live session, starts
# `simcore portal`, and drives GET /v1/sims/{iccid}/usage with wrk: each
# request is a random user's random SIM with one of the ranges a
# subscriber's app polls (this month, this month by day, last month, the
# last 7 days by day). After a warm-up that asks each of those queries once
# (16,000 by default), prints wrk's figures for BENCH_RUNS runs of
# BENCH_DURATION each, with the load average and the usage cache's hits and
# misses.
#
# Users and sessions are written straight into PostgreSQL (argon2id logins
# for thousands of users would take minutes and are not what is measured);
# a session row is exactly what POST /v1/auth/login stores: the SHA-256 of
# a 32-byte base64url token.
#
# Needs `make services` and `make build`. wrk comes from Debian (installed
# here when missing): a C load generator that leaves the two cores to the
# portal, ClickHouse and PostgreSQL, and takes a Lua script for a mix of
# users, SIMs and ranges. Set BENCH_REUSE=1 to keep a data set loaded
# earlier, PORTAL_ARGS for extra `simcore portal` flags (e.g.
# "--portal-usage-cache-entries 0" for the uncached path).
#
# By default wrk's 64 connections send as fast as they are answered (the
# most the machine gives). BENCH_RATE paces them at about that many
# requests/s (wrk's delay() between each connection's requests). With
# BENCH_LIVE_INGEST=N, `simcore ingest --spool` stores N new records/s over
# all 50,000 SIMs during the runs (one file, so one batch, a second), and
# each batch makes the portal forget (and recompute) the answers of its
# ICCIDs: about N*0.73 SIMs a second, 1.5% of all SIMs at N=1000.
set -euo pipefail
cd "$(dirname "$0")/../.."

RECORDS="${BENCH_RECORDS:-2000000}"
SIMS="${BENCH_SIMS:-50000}"
USERS="${BENCH_USERS:-2000}"
PER_USER="${BENCH_SIMS_PER_USER:-2}"
RUNS="${BENCH_RUNS:-3}"
DURATION="${BENCH_DURATION:-30s}"
CONNS="${BENCH_CONNECTIONS:-64}"
RATE="${BENCH_RATE:-0}"               # requests/s to pace wrk at; 0: as fast as answered
LIVE="${BENCH_LIVE_INGEST:-0}"        # records/s stored meanwhile; 0: none
DB="${BENCH_DATABASE:-simcore_bench_portal}"
ADDR="${BENCH_PORTAL_ADDR:-127.0.0.1:18490}"
OPS_ADDR="${BENCH_OPS_ADDR:-127.0.0.1:19490}"
OUT=.run/bench
BIN=bin/simcore
CH_PORT="${SIMCORE_CLICKHOUSE_ADDR##*:}"
CH=(clickhouse-client --host 127.0.0.1 --port "$CH_PORT")
PG_BASE="${SIMCORE_POSTGRES_URL%%\?*}"
PG_ADMIN="${PG_BASE%/*}/postgres"
PG_BENCH="${PG_BASE%/*}/$DB?sslmode=disable"

if ! command -v wrk >/dev/null; then
	echo "bench: installing wrk (Debian package)" >&2
	apt-get install -y -qq wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
fi
mkdir -p "$OUT"
export SIMCORE_CLICKHOUSE_DATABASE=$DB SIMCORE_POSTGRES_URL="$PG_BENCH"

loaded() {
	[ "${BENCH_REUSE:-0}" = 1 ] &&
		[ "$("${CH[@]}" -q "SELECT count() >= $RECORDS FROM $DB.usage_records" 2>/dev/null || echo 0)" = 1 ]
}
if ! loaded; then
	# The same file as the ingest benchmark: records in the 30 days before
	# today, so it is made anew each day.
	FILE="$OUT/cdrs-$RECORDS-$SIMS-$(date -u +%Y%m%d).csv"
	if [ ! -s "$FILE" ]; then
		rm -f "$OUT"/cdrs-*.csv
		echo "bench: generating $RECORDS records over $SIMS SIMs -> $FILE" >&2
		"$BIN" gen cdrs --records "$RECORDS" --sims "$SIMS" --seed 42 --days 30 -o "$FILE" >/dev/null
	fi
	"${CH[@]}" -q "DROP DATABASE IF EXISTS $DB"
	psql "$PG_ADMIN" -qtc "DROP DATABASE IF EXISTS $DB" >/dev/null
	psql "$PG_ADMIN" -qtc "CREATE DATABASE $DB" >/dev/null
	SIMCORE_LOG_LEVEL=warn "$BIN" migrate >/dev/null
	echo "bench: ingesting $FILE" >&2
	SIMCORE_LOG_LEVEL=warn "$BIN" ingest "$FILE" >/dev/null
fi

# Users, their SIMs (the first USERS*PER_USER ICCIDs of the data set) and a
# session each; the token of user i is derived from i so the targets file
# can be written from the same numbers.
echo "bench: $USERS users with $PER_USER SIMs each" >&2
"${CH[@]}" -q "SELECT DISTINCT iccid FROM $DB.usage_records ORDER BY iccid LIMIT $((USERS * PER_USER))" > "$OUT/portal-iccids"
psql "$PG_BENCH" -q -v ON_ERROR_STOP=1 >/dev/null <<SQL
TRUNCATE portal_users, portal_sessions, portal_sims, portal_tokens RESTART IDENTITY CASCADE;
CREATE TEMP TABLE bench_iccids (n serial, iccid text);
\copy bench_iccids (iccid) FROM '$OUT/portal-iccids'
INSERT INTO portal_users (email, name, language, password_hash)
SELECT 'bench' || i || '@example.com', 'Bench User ' || i, 'en', '\$argon2id\$bench-user-logs-in-by-session-only'
FROM generate_series(1, $USERS) i;
INSERT INTO portal_sims (iccid, user_id)
SELECT iccid, (n - 1) / $PER_USER + 1 FROM bench_iccids ORDER BY n;
INSERT INTO portal_sessions (user_id, token_hash, csrf_hash, expires_at)
SELECT i, sha256(convert_to(tok, 'UTF8')), sha256(convert_to('csrf' || tok, 'UTF8')), now() + interval '1 day'
FROM (SELECT i, rtrim(translate(encode(sha256(convert_to('simcore-bench-' || i, 'UTF8')), 'base64'), '+/', '-_'), '=') AS tok
      FROM generate_series(1, $USERS) i) t;
ANALYZE;
SQL

# Targets: "token path" lines for wrk's Lua script, four ranges per SIM.
today=$(date -u +%F)
month=$(date -u +%Y-%m-01)
next_month=$(date -u -d "$month +1 month" +%F)
last_month=$(date -u -d "$month -1 month" +%F)
week_ago=$(date -u -d "$today -6 days" +%F)
tomorrow=$(date -u -d "$today +1 day" +%F)
psql "$PG_BENCH" -qAtF ' ' -c "
	SELECT rtrim(translate(encode(sha256(convert_to('simcore-bench-' || s.user_id, 'UTF8')), 'base64'), '+/', '-_'), '='),
	       '/v1/sims/' || s.iccid || '/usage?' || q
	FROM portal_sims s, unnest(ARRAY[
		'from=$month&to=$next_month',
		'from=$month&to=$next_month&by=day',
		'from=$last_month&to=$month',
		'from=$week_ago&to=$tomorrow&by=day']) q" > "$OUT/portal-targets"
TARGETS=$(wc -l < "$OUT/portal-targets")

cat > "$OUT/portal.lua" <<'LUA'
-- Each request is a line of the targets file, "token path": in order
-- (each thread its share) with "sweep", else a random line.
local targets, sweep, next, step, pause = {}, false, 1, 1, 0
local nthreads = 0
setup = function(thread)
	nthreads = nthreads + 1
	thread:set("id", nthreads)
end
init = function(args)
	for line in io.lines(args[1]) do
		local tok, path = line:match("^(%S+) (%S+)$")
		targets[#targets + 1] = { path = path, headers = { Authorization = "Bearer " .. tok } }
	end
	sweep = args[2] == "sweep"
	next, step = id, tonumber(args[3] or "1")
	pause = tonumber(args[4] or "0")
	math.randomseed(os.time() * 100 + id)
end
request = function()
	local t
	if sweep then
		t = targets[(next - 1) % #targets + 1]
		next = next + step
	else
		t = targets[math.random(#targets)]
	end
	return wrk.format("GET", t.path, t.headers)
end
delay = function()
	return pause
end
done = function(summary, latency, requests)
	io.write(string.format("bench-portal: %d requests, %d errors (status %d, timeout %d), p50 %.2f ms, p99 %.2f ms\n",
		summary.requests, summary.errors.status + summary.errors.timeout + summary.errors.connect + summary.errors.read + summary.errors.write,
		summary.errors.status, summary.errors.timeout, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
LUA

echo "bench: starting simcore portal on $ADDR" >&2
# shellcheck disable=SC2086
SIMCORE_LOG_FORMAT=json "$BIN" portal --listen "$ADDR" --ops-addr "$OPS_ADDR" --portal-insecure-cookies \
	${PORTAL_ARGS:-} > "$OUT/portal.out" 2> "$OUT/portal.log" &
PORTAL=$!
trap 'kill $PORTAL 2>/dev/null; wait $PORTAL 2>/dev/null || true' EXIT
for _ in $(seq 100); do
	curl -fsS -o /dev/null "http://$ADDR/v1/openapi.json" 2>/dev/null && break
	sleep 0.2
done
first=$(head -1 "$OUT/portal-targets")
code=$(curl -s -o "$OUT/portal-sample.json" -w '%{http_code}' -H "Authorization: Bearer ${first%% *}" "http://$ADDR${first#* }")
[ "$code" = 200 ] || { echo "bench: sample request answered $code: $(cat "$OUT/portal-sample.json")" >&2; exit 1; }

run() { # duration [sweep] [ms between a connection's requests]
	wrk -t 2 -c "$CONNS" -d "$1" --timeout 5s -s "$OUT/portal.lua" "http://$ADDR" -- "$OUT/portal-targets" "${2:-random}" 2 "${3:-0}"
}
PAUSE=0
if [ "$RATE" -gt 0 ]; then
	PAUSE=$((CONNS * 1000 / RATE))
fi
echo "bench-portal: $TARGETS targets ($USERS users, $((USERS * PER_USER)) SIMs, 4 ranges), $RECORDS records over $SIMS SIMs, $(nproc) cores, $(uname -m), wrk -t 2 -c $CONNS"
# The warm-up asks every target once, in order, at the uncached rate
# (300-600/s here, so it is sized at 250/s): what a day of polling leaves in
# the cache. Its misses are in the portal's metrics.
WARMUP="${BENCH_WARMUP:-$((TARGETS / 250 + 5))s}"
echo "warm-up ($WARMUP, every target in turn):"
run "$WARMUP" sweep | grep -E '^(bench-portal|Requests/sec)'
misses() {
	curl -fsS "http://$OPS_ADDR/metrics" | awk '/^simcore_usage_cache_lookups_total\{outcome="miss"\}/ { printf "%d", $2 }'
}
# On a busy machine one sweep may not reach every target: sweep again
# (the cached part goes by fast) until each has been asked.
for _ in 1 2 3 4 5; do
	m=$(misses || true)
	[ -n "$m" ] && [ "$m" -lt "$TARGETS" ] || break
	echo "warm-up again: $m of $TARGETS asked"
	run 30s sweep | grep -E '^(bench-portal|Requests/sec)'
done
if [ "$LIVE" -gt 0 ]; then
	# New records for random SIMs, a file a second, each with its own node
	# id so none is a duplicate of the data set's.
	SPOOL="$OUT/portal-spool"
	rm -rf "$SPOOL" && mkdir -p "$SPOOL/in"
	SIMCORE_LOG_LEVEL=warn "$BIN" ingest --spool "$SPOOL/in" --ops-addr "${BENCH_INGEST_OPS_ADDR:-127.0.0.1:19491}" \
		> "$OUT/portal-ingest.out" 2> "$OUT/portal-ingest.log" &
	INGEST=$!
	(
		n=0
		while sleep 1; do
			n=$((n + 1))
			"$BIN" gen cdrs --records "$LIVE" --sims "$SIMS" --seed "$n" --days 2 --node-id "live-$$-$n" -o "$SPOOL/f$n.tmp" 2>/dev/null
			mv "$SPOOL/f$n.tmp" "$SPOOL/in/f$n.csv"
		done
	) &
	FEED=$!
	trap 'kill $FEED $INGEST $PORTAL 2>/dev/null; wait $FEED $INGEST $PORTAL 2>/dev/null || true' EXIT
	# Measure the steady state: the ingest's start (its dedupe keys read
	# back from ClickHouse) is over once a few files are stored.
	for _ in $(seq 120); do
		[ "$(find "$SPOOL/in/done" -name '*.csv' 2>/dev/null | wc -l)" -ge 5 ] && break
		sleep 0.5
	done
	echo "live ingest: $LIVE records/s through simcore ingest --spool, $(find "$SPOOL/in/done" -name '*.csv' 2>/dev/null | wc -l) files stored"
fi
for i in $(seq "$RUNS"); do
	echo "run $i ($DURATION, rate ${RATE:-0}/s (0: unpaced), $LIVE records/s stored meanwhile), $(uptime | sed 's/.*load/load/'):"
	run "$DURATION" random "$PAUSE" | grep -E "^(bench-portal|Requests/sec)"
	curl -fsS "http://$OPS_ADDR/metrics" | grep -E '^simcore_usage_cache_(lookups|refreshed)_total' | tr '\n' ' ' || true
	echo
done
