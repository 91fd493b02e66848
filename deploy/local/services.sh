#!/usr/bin/env bash
# Local PostgreSQL, Redis and ClickHouse for development and tests.
#
#   deploy/local/services.sh up       install (if missing) and start all three; idempotent
#   deploy/local/services.sh down     stop the instances this script started
#   deploy/local/services.sh status   print each service's state; exit 0 only if all are up
#
# Everything listens on 127.0.0.1 only and keeps its data under <checkout>/.run/
# (PostgreSQL's under the postgres user's home, named in .run/postgres-dir, when
# that user cannot reach the checkout: one in /root, which is 0700).
# After `up`, `. .run/env` exports the SIMCORE_* connection settings.
# `up` also installs the test peers (radclient) and fetches promtool into
# .run/tools for the alert-rule tests.
#
# Ports can be overridden (both for `up` and for `down`/`status`):
#   SIMCORE_PG_PORT (15432)  SIMCORE_REDIS_PORT (16379)
#   SIMCORE_CH_TCP_PORT (19000)  SIMCORE_CH_HTTP_PORT (18123)
#
# Only processes recorded in the pid files under .run/ are ever stopped;
# other PostgreSQL/Redis/ClickHouse servers on the machine are left alone.
set -euo pipefail

PATH="${PATH:-/usr/bin:/bin}:/usr/local/sbin:/usr/sbin:/sbin"

ROOT="$(cd -P -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd -P)"
RUN="$ROOT/.run"
HOST=127.0.0.1
DB=simcore

# Ports are chosen at the first `up` of a checkout and kept in .run/ports:
# the defaults, or the next free ones when something else (another
# checkout's services: a developer's beside CI's) holds them. SIMCORE_*_PORT
# in the environment wins.
PORTS_FILE="$RUN/ports"
SAVED_PG_PORT="" SAVED_REDIS_PORT="" SAVED_CH_TCP_PORT="" SAVED_CH_HTTP_PORT=""
if [ -s "$PORTS_FILE" ]; then
	# shellcheck source=/dev/null
	. "$PORTS_FILE"
fi
PG_PORT="${SIMCORE_PG_PORT:-${SAVED_PG_PORT:-15432}}"
REDIS_PORT="${SIMCORE_REDIS_PORT:-${SAVED_REDIS_PORT:-16379}}"
CH_TCP_PORT="${SIMCORE_CH_TCP_PORT:-${SAVED_CH_TCP_PORT:-19000}}"
CH_HTTP_PORT="${SIMCORE_CH_HTTP_PORT:-${SAVED_CH_HTTP_PORT:-18123}}"

# PostgreSQL's files live in .run/postgres, or, when the postgres OS user cannot
# reach the checkout (one in /root, which is 0700), in a directory under that
# user's home named after the checkout, recorded in .run/postgres-dir.
PG_DIR_FILE="$RUN/postgres-dir"
pg_set_dir() {
	PG_DIR=$1
	PG_DATA="$PG_DIR/data"
	PG_SOCK="$PG_DIR/sock"
	PG_LOG="$PG_DIR/log"
}
pg_set_dir "$RUN/postgres"
if [ -s "$PG_DIR_FILE" ]; then
	IFS= read -r saved_pg_dir <"$PG_DIR_FILE" || true
	[ -z "${saved_pg_dir:-}" ] || pg_set_dir "$saved_pg_dir"
fi

REDIS_DIR="$RUN/redis"
REDIS_PID="$REDIS_DIR/redis.pid"
REDIS_LOG="$REDIS_DIR/redis.log"

CH_DIR="$RUN/clickhouse"
CH_CONF="$CH_DIR/config.xml"
CH_USERS="$CH_DIR/users.xml"
CH_PID="$CH_DIR/clickhouse.pid"
CH_LOGDIR="$CH_DIR/log"
CH_LOG="$CH_LOGDIR/clickhouse-server.log"
CH_ERRLOG="$CH_LOGDIR/clickhouse-server.err.log"

PG_START_TIMEOUT=60
REDIS_START_TIMEOUT=15
CH_START_TIMEOUT=30
CH_STOP_TIMEOUT=60

log() { printf 'services: %s\n' "$*" >&2; }
die() { printf 'services: ERROR: %s\n' "$*" >&2; exit 1; }

# show_log FILE...: print the last lines of each existing, non-empty file to stderr.
show_log() {
	local f
	for f in "$@"; do
		[ -s "$f" ] || continue
		printf 'services: ---- last lines of %s ----\n' "$f" >&2
		tail -n 30 -- "$f" | sed 's/^/    /' >&2 || true
	done
}

# fail_start NAME MESSAGE LOGFILE...: report a service that did not come up and exit non-zero.
fail_start() {
	local name=$1 msg=$2
	shift 2
	printf 'services: ERROR: %s: %s; see %s\n' "$name" "$msg" "$*" >&2
	show_log "$@"
	exit 1
}

check_port() {
	local name=$1 val=$2
	[[ $val =~ ^[0-9]+$ ]] && ((val > 0 && val < 65536)) || die "$name must be a TCP port number, got '$val'"
}

# cmdline_of PID: the process's argv joined by spaces (fails if the process is gone or a zombie).
cmdline_of() {
	local pid=$1 cmd
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	cmd="$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline")" || return 1
	[ -n "$cmd" ] || return 1
	printf '%s' "$cmd"
}

# read_pid FILE: first line of FILE if it is a number.
read_pid() {
	local pid=""
	IFS= read -r pid 2>/dev/null <"$1" || true
	[[ $pid =~ ^[0-9]+$ ]] && printf '%s' "$pid"
}

# tcp_open PORT: something accepts TCP connections on $HOST:PORT.
tcp_open() {
	(exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

# closefds_exec CMD...: exec CMD without the file descriptors above 2 that this
# shell holds (the lock, pipes inherited from the caller), so that long-running
# servers started from here do not keep them open.
closefds_exec() {
	local fd
	for fd in "/proc/$BASHPID/fd/"*; do
		fd="${fd##*/}"
		if [[ $fd =~ ^[0-9]+$ ]] && ((fd > 2)) && [ -e "/proc/$BASHPID/fd/$fd" ]; then
			exec {fd}>&-
		fi
	done
	exec "$@"
}

# --------------------------------------------------------------------------
# Packages

pg_installed_bin() {
	# Highest installed PostgreSQL major with a server binary.
	local d best="" v
	for d in /usr/lib/postgresql/*/bin; do
		[ -x "$d/postgres" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] || continue
		v="${d#/usr/lib/postgresql/}"
		v="${v%/bin}"
		[[ $v =~ ^[0-9]+$ ]] || continue
		if [ -z "$best" ] || ((v > best)); then best=$v; fi
	done
	[ -n "$best" ] && printf '%s' "/usr/lib/postgresql/$best/bin"
}

ensure_packages() {
	local missing=()
	pg_installed_bin >/dev/null || missing+=(postgresql)
	getent passwd postgres >/dev/null || missing+=(postgresql)
	command -v redis-server >/dev/null || missing+=(redis-server)
	command -v redis-cli >/dev/null || missing+=(redis-tools)
	command -v clickhouse-server >/dev/null || missing+=(clickhouse-server)
	command -v clickhouse-client >/dev/null || missing+=(clickhouse-client)
	# Test peers: the real RADIUS client the accounting tests drive.
	command -v radclient >/dev/null || missing+=(freeradius-utils)
	# `go test -race` needs cgo, and Go turns cgo off when it finds no C compiler.
	command -v gcc >/dev/null || missing+=(gcc libc6-dev)
	((${#missing[@]} == 0)) && return 0
	mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
	log "installing ${missing[*]} (apt-get)"
	apt-get update -q >&2 || die "apt-get update failed"
	DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >&2 ||
		die "apt-get install ${missing[*]} failed"
	pg_installed_bin >/dev/null || die "postgresql installed but no /usr/lib/postgresql/<major>/bin/postgres found"
}

# ensure_promtool: Prometheus's promtool, which the tests run on the alert
# rules in deploy/prometheus. Taken out of Debian's prometheus package
# rather than installing it: the package would also start a Prometheus
# server on every interface, and enable it at boot.
PROMTOOL="$RUN/tools/promtool"
ensure_promtool() {
	if command -v promtool >/dev/null; then
		PROMTOOL="$(command -v promtool)"
		return 0
	fi
	[ -x "$PROMTOOL" ] && return 0
	local tmp deb
	tmp="$(mktemp -d)"
	# apt downloads as its own user where it can; root otherwise, with a warning.
	if getent passwd _apt >/dev/null; then chown _apt "$tmp"; fi
	log "fetching promtool (Debian package prometheus, not installed)"
	if ! (cd "$tmp" && apt-get download prometheus >&2); then
		apt-get update -q >&2 || die "apt-get update failed"
		(cd "$tmp" && apt-get download prometheus >&2) || die "apt-get download prometheus failed"
	fi
	deb="$(ls "$tmp"/prometheus_*.deb)"
	dpkg-deb -x "$deb" "$tmp/root" || die "dpkg-deb -x $deb failed"
	mkdir -p "$(dirname "$PROMTOOL")"
	install -m 0755 "$tmp/root/usr/bin/promtool" "$PROMTOOL"
	rm -rf -- "$tmp"
	"$PROMTOOL" --version >/dev/null 2>&1 || die "$PROMTOOL does not run"
}

# --------------------------------------------------------------------------
# PostgreSQL

PGBIN=""

# pg_select_bin: the binaries matching an existing cluster, else the newest installed.
pg_select_bin() {
	local major=""
	if [ -r "$PG_DATA/PG_VERSION" ]; then
		IFS= read -r major <"$PG_DATA/PG_VERSION" || true
		major="${major%%.*}"
		if [ -n "$major" ] && [ -x "/usr/lib/postgresql/$major/bin/postgres" ]; then
			PGBIN="/usr/lib/postgresql/$major/bin"
			return 0
		fi
	fi
	PGBIN="$(pg_installed_bin)" || return 1
	if [ -n "$major" ]; then
		die "$PG_DATA was created by PostgreSQL $major, which is not installed (have $PGBIN); remove $PG_DATA to recreate it"
	fi
}

# pg_pid: pid of the postmaster serving $PG_DATA, if it is running.
pg_pid() {
	local pid cmd
	pid="$(read_pid "$PG_DATA/postmaster.pid")" || return 1
	cmd="$(cmdline_of "$pid")" || return 1
	[[ $cmd == *postgres* && $cmd == *"$PG_DATA"* ]] || return 1
	printf '%s' "$pid"
}

pg_probe() {
	local bin=${PGBIN:-/usr/bin}
	[ -x "$bin/pg_isready" ] || bin=/usr/bin
	"$bin/pg_isready" -q -h "$HOST" -p "$PG_PORT" -U postgres -d postgres -t 3 >/dev/null 2>&1
}

pg_psql() {
	PGCONNECT_TIMEOUT=5 "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$HOST" -p "$PG_PORT" -U postgres -d postgres "$@"
}

pg_ensure_db() {
	local exists
	exists="$(pg_psql -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'" 2>&1)" ||
		die "postgres: cannot query databases on $HOST:$PG_PORT: $exists"
	if [ "$exists" != 1 ]; then
		pg_psql -c "CREATE DATABASE $DB" >/dev/null || die "postgres: CREATE DATABASE $DB failed"
		log "postgres: created database $DB"
	fi
}

as_postgres() {
	# cd / so that tools running as postgres do not warn about an unreadable cwd.
	(cd / && closefds_exec runuser -u postgres -- "$@")
}

# pg_choose_dir: once per checkout, move PostgreSQL's directory out of a
# checkout the postgres OS user cannot traverse into (its home, usually
# /var/lib/postgresql), rather than fail or loosen the permissions of /root.
pg_choose_dir() {
	[ ! -s "$PG_DIR_FILE" ] || return 0
	mkdir -p "$RUN"
	chmod o+x "$RUN"
	as_postgres test -x "$RUN" && return 0
	local home
	home="$(getent passwd postgres | cut -d: -f6)"
	[ -n "$home" ] && as_postgres test -w "$home" || return 0 # pg_prepare_dirs explains
	pg_set_dir "$home/simcore-$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)"
	printf '%s\n' "$PG_DIR" >"$PG_DIR_FILE"
	log "postgres: the postgres OS user cannot reach $RUN; keeping its data in $PG_DIR"
}

# pg_prepare_dirs: PostgreSQL's directory owned by postgres and reachable by it.
pg_prepare_dirs() {
	pg_choose_dir
	mkdir -p "$PG_DIR" "$PG_SOCK"
	touch "$PG_LOG"
	chown postgres:postgres "$PG_DIR" "$PG_SOCK" "$PG_LOG"
	chmod 0700 "$PG_SOCK"
	# The postgres user has to traverse .run to reach its directory.
	chmod o+x "$RUN"
	if ! as_postgres test -w "$PG_DIR"; then
		local d="$ROOT" blocked=()
		while [ "$d" != / ]; do
			as_postgres test -x "$d" || blocked=("$d" "${blocked[@]}")
			d="$(dirname -- "$d")"
		done
		die "postgres: the postgres OS user cannot reach $PG_DIR (no search permission on: ${blocked[*]:-?}); make those directories traversable, e.g. chmod o+x ${blocked[*]:-<dir>}, or use a checkout outside them"
	fi
	if [ -d "$PG_DATA" ]; then
		if [ ! -e "$PG_DATA/PG_VERSION" ]; then
			# Leftover of an interrupted initdb: nothing worth keeping.
			rm -rf -- "$PG_DATA"
		elif [ "$(stat -c %U -- "$PG_DATA")" != postgres ]; then
			chown -R postgres:postgres "$PG_DATA"
			chmod 0700 "$PG_DATA"
		fi
	fi
}

# pg_remove_stale_locks (only when our postmaster is not running): drop
# postmaster.pid if its pid is gone, a zombie (after a crash, init may reap it
# late, and postgres takes a zombie for a live postmaster) or not a postgres
# process, and drop the socket lock files left in our private socket directory.
pg_remove_stale_locks() {
	local pid cmd
	if pid="$(read_pid "$PG_DATA/postmaster.pid")"; then
		if ! cmd="$(cmdline_of "$pid")" || [[ $cmd != *postgres* ]]; then
			log "postgres: removing stale $PG_DATA/postmaster.pid (pid $pid is not running)"
			rm -f -- "$PG_DATA/postmaster.pid"
		fi
	fi
	rm -f -- "$PG_SOCK"/.s.PGSQL.*
}

pg_up() {
	local pid port i
	pg_select_bin || die "postgres: no PostgreSQL server binaries under /usr/lib/postgresql"
	if pid="$(pg_pid)"; then
		port="$(sed -n 4p "$PG_DATA/postmaster.pid" 2>/dev/null || true)"
		if [ -n "$port" ] && [ "$port" != "$PG_PORT" ]; then
			die "postgres: the instance from $PG_DATA (pid $pid) runs on port $port, not $PG_PORT; run '$0 down' first (with the old port settings)"
		fi
		for ((i = 0; i < PG_START_TIMEOUT * 5; i++)); do
			pg_probe && break
			kill -0 "$pid" 2>/dev/null || fail_start postgres "pid $pid exited" "$PG_LOG"
			sleep 0.2
		done
		pg_probe || fail_start postgres "pid $pid is running but does not answer on $HOST:$PG_PORT" "$PG_LOG"
		pg_ensure_db
		return 0
	fi
	if pg_probe; then
		die "postgres: something not started by this script already answers on $HOST:$PG_PORT; stop it or set SIMCORE_PG_PORT"
	fi

	pg_prepare_dirs
	pg_remove_stale_locks
	if [ ! -e "$PG_DATA/PG_VERSION" ]; then
		local locale_opt=--no-locale
		locale -a 2>/dev/null | grep -ix 'c\.utf-\?8' >/dev/null && locale_opt=--locale=C.UTF-8
		log "postgres: initdb $PG_DATA ($("$PGBIN/postgres" --version))"
		as_postgres "$PGBIN/initdb" -D "$PG_DATA" --no-sync -U postgres --auth=trust -E UTF8 "$locale_opt" \
			>"$PG_DIR/initdb.log" 2>&1 ||
			fail_start postgres "initdb failed" "$PG_DIR/initdb.log"
	fi
	# The socket path must fit in sun_path (107 bytes); fall back to TCP only.
	local sock_opt="-k '$PG_SOCK'"
	if ((${#PG_SOCK} + ${#PG_PORT} + 10 > 107)); then
		log "postgres: $PG_SOCK is too long for a unix socket path; TCP only"
		sock_opt="-k ''"
	fi
	[[ $PG_SOCK != *"'"* ]] || die "postgres: the checkout path must not contain a single quote"
	local opts="-c listen_addresses=$HOST -p $PG_PORT $sock_opt -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
	log "postgres: starting on $HOST:$PG_PORT"
	if ! as_postgres "$PGBIN/pg_ctl" -w -t "$PG_START_TIMEOUT" -D "$PG_DATA" -o "$opts" -l "$PG_LOG" start \
		</dev/null >"$PG_DIR/pg_ctl.out" 2>&1; then
		fail_start postgres "did not start" "$PG_LOG" "$PG_DIR/pg_ctl.out"
	fi
	pg_probe || fail_start postgres "started but does not answer on $HOST:$PG_PORT" "$PG_LOG"
	pg_ensure_db
}

pg_down() {
	local pid
	if ! pid="$(pg_pid)"; then
		log "postgres: not running"
		return 0
	fi
	pg_select_bin || die "postgres: no PostgreSQL server binaries under /usr/lib/postgresql"
	log "postgres: stopping (pid $pid)"
	as_postgres "$PGBIN/pg_ctl" stop -m fast -w -t 60 -D "$PG_DATA" </dev/null >"$PG_DIR/pg_ctl.out" 2>&1 ||
		fail_start postgres "pg_ctl stop failed" "$PG_DIR/pg_ctl.out" "$PG_LOG"
}

# --------------------------------------------------------------------------
# Redis

redis_pid() {
	local pid cmd cwd
	pid="$(read_pid "$REDIS_PID")" || return 1
	cmd="$(cmdline_of "$pid")" || return 1
	[[ $cmd == *redis-server* ]] || return 1
	cwd="$(readlink "/proc/$pid/cwd" 2>/dev/null)" || return 1
	[ "$cwd" = "$REDIS_DIR" ] || return 1
	printf '%s' "$pid"
}

redis_probe() {
	local out
	out="$(timeout 5 redis-cli -h "$HOST" -p "$REDIS_PORT" ping 2>/dev/null)" || return 1
	[ "$out" = PONG ]
}

redis_up() {
	local pid i
	if pid="$(redis_pid)"; then
		for ((i = 0; i < REDIS_START_TIMEOUT * 5; i++)); do
			redis_probe && return 0
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.2
		done
		redis_probe && return 0
		die "redis: the instance from $REDIS_DIR (pid $pid) does not answer on $HOST:$REDIS_PORT (different SIMCORE_REDIS_PORT?); run '$0 down' first"
	fi
	if tcp_open "$REDIS_PORT"; then
		die "redis: something not started by this script already listens on $HOST:$REDIS_PORT; stop it or set SIMCORE_REDIS_PORT"
	fi
	mkdir -p "$REDIS_DIR"
	rm -f -- "$REDIS_PID"
	log "redis: starting on $HOST:$REDIS_PORT"
	(closefds_exec redis-server --bind "$HOST" --port "$REDIS_PORT" --daemonize yes --save '' --appendonly no \
		--dir "$REDIS_DIR" --pidfile "$REDIS_PID" --logfile "$REDIS_LOG" --databases 64) \
		</dev/null >"$REDIS_DIR/start.out" 2>&1 ||
		fail_start redis "redis-server failed to start" "$REDIS_LOG" "$REDIS_DIR/start.out"
	for ((i = 0; i < REDIS_START_TIMEOUT * 10; i++)); do
		redis_probe && return 0
		# Once the pid file is written, a vanished process means it failed.
		if pid="$(read_pid "$REDIS_PID")" && ! kill -0 "$pid" 2>/dev/null; then break; fi
		sleep 0.1
	done
	fail_start redis "did not become ready on $HOST:$REDIS_PORT within ${REDIS_START_TIMEOUT}s" "$REDIS_LOG" "$REDIS_DIR/start.out"
}

# stop_pid NAME PID TIMEOUT: SIGTERM, wait, SIGKILL as a last resort.
stop_pid() {
	kill -TERM "$2" 2>/dev/null || return 0
	wait_gone "$@"
}

# wait_gone NAME PID TIMEOUT: wait for an already signalled process; SIGKILL after TIMEOUT seconds.
wait_gone() {
	local name=$1 pid=$2 timeout=$3 i
	for ((i = 0; i < timeout * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		# A zombie (our own child) counts as stopped.
		[ "$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null)" != Z ] || return 0
		sleep 0.1
	done
	log "$name: pid $pid still running after ${timeout}s; sending SIGKILL"
	kill -KILL "$pid" 2>/dev/null || true
	sleep 0.2
}

redis_down() {
	local pid
	if ! pid="$(redis_pid)"; then
		log "redis: not running"
		rm -f -- "$REDIS_PID"
		return 0
	fi
	log "redis: stopping (pid $pid)"
	stop_pid redis "$pid" 15
	rm -f -- "$REDIS_PID"
}

# --------------------------------------------------------------------------
# ClickHouse

ch_pid() {
	local pid cmd
	pid="$(read_pid "$CH_PID")" || return 1
	cmd="$(cmdline_of "$pid")" || return 1
	[[ $cmd == *clickhouse* && $cmd == *"--config-file=$CH_CONF"* ]] || return 1
	printf '%s' "$pid"
}

ch_client() {
	timeout 20 clickhouse-client --host "$HOST" --port "$CH_TCP_PORT" "$@"
}

ch_probe() {
	ch_client -q 'SELECT 1' >/dev/null 2>&1
}

# ch_http_ping: GET /ping on the HTTP port answers "Ok.".
ch_http_ping() {
	local line
	(
		exec 3<>"/dev/tcp/$HOST/$CH_HTTP_PORT" || exit 1
		printf 'GET /ping HTTP/1.0\r\nHost: %s\r\n\r\n' "$HOST" >&3
		while IFS= read -r -t 3 line <&3; do
			[ "${line%$'\r'}" = "Ok." ] && exit 0
		done
		exit 1
	) 2>/dev/null
}

ch_ensure_db() {
	local out
	out="$(ch_client -q "CREATE DATABASE IF NOT EXISTS $DB" 2>&1)" ||
		die "clickhouse: CREATE DATABASE $DB failed: $out"
}

# write_if_changed FILE: replace FILE with stdin unless identical (ClickHouse reloads changed configs).
write_if_changed() {
	local file=$1 tmp
	tmp="$(mktemp "$file.XXXXXX")"
	cat >"$tmp"
	if cmp -s -- "$tmp" "$file"; then
		rm -f -- "$tmp"
	else
		chmod 0644 "$tmp"
		mv -f -- "$tmp" "$file"
	fi
}

ch_write_config() {
	mkdir -p "$CH_DIR/data" "$CH_DIR/tmp" "$CH_DIR/user_files" "$CH_DIR/format_schemas" "$CH_LOGDIR"
	write_if_changed "$CH_CONF" <<EOF
<?xml version="1.0"?>
<!-- Generated by deploy/local/services.sh; rewritten on every start. -->
<yandex>
    <logger>
        <level>warning</level>
        <log>$CH_LOG</log>
        <errorlog>$CH_ERRLOG</errorlog>
        <size>100M</size>
        <count>3</count>
    </logger>

    <listen_host>$HOST</listen_host>
    <tcp_port>$CH_TCP_PORT</tcp_port>
    <http_port>$CH_HTTP_PORT</http_port>
    <!-- No interserver_http_port / https / secure tcp: only the two ports above are opened. -->

    <max_connections>1024</max_connections>
    <keep_alive_timeout>3</keep_alive_timeout>
    <max_concurrent_queries>100</max_concurrent_queries>

    <mark_cache_size>268435456</mark_cache_size>
    <uncompressed_cache_size>67108864</uncompressed_cache_size>

    <path>$CH_DIR/data/</path>
    <tmp_path>$CH_DIR/tmp/</tmp_path>
    <user_files_path>$CH_DIR/user_files/</user_files_path>
    <format_schema_path>$CH_DIR/format_schemas/</format_schema_path>

    <users_config>$CH_USERS</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>

    <mlock_executable>false</mlock_executable>

    <merge_tree>
        <old_parts_lifetime>10</old_parts_lifetime>
    </merge_tree>

    <!-- Tests may drop tables and partitions of any size. -->
    <max_table_size_to_drop>0</max_table_size_to_drop>
    <max_partition_size_to_drop>0</max_partition_size_to_drop>
</yandex>
EOF
	write_if_changed "$CH_USERS" <<'EOF'
<?xml version="1.0"?>
<!-- Generated by deploy/local/services.sh; rewritten on every start. -->
<yandex>
    <profiles>
        <default>
            <max_memory_usage>4000000000</max_memory_usage>
            <use_uncompressed_cache>0</use_uncompressed_cache>
            <load_balancing>random</load_balancing>
        </default>
    </profiles>

    <users>
        <default>
            <password></password>
            <networks>
                <ip>::1</ip>
                <ip>127.0.0.1</ip>
            </networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>

    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
EOF
}

ch_up() {
	local pid i
	if pid="$(ch_pid)"; then
		for ((i = 0; i < CH_START_TIMEOUT * 5; i++)); do
			ch_probe && break
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.2
		done
		ch_probe ||
			die "clickhouse: the instance from $CH_DIR (pid $pid) does not answer on $HOST:$CH_TCP_PORT (different SIMCORE_CH_TCP_PORT?); run '$0 down' first"
		ch_ensure_db
		return 0
	fi
	local p
	for p in "$CH_TCP_PORT" "$CH_HTTP_PORT"; do
		if tcp_open "$p"; then
			die "clickhouse: something not started by this script already listens on $HOST:$p; stop it or set SIMCORE_CH_TCP_PORT/SIMCORE_CH_HTTP_PORT"
		fi
	done
	ch_write_config
	# A stale pid file whose pid now belongs to another process would make
	# clickhouse-server refuse to start.
	rm -f -- "$CH_PID"
	log "clickhouse: starting on $HOST:$CH_TCP_PORT (http $HOST:$CH_HTTP_PORT)"
	# --daemon: the server forks, calls setsid() and writes the pid file itself
	# (18.16 ignores --pid-file without --daemon).
	(closefds_exec clickhouse-server --daemon --config-file="$CH_CONF" --pid-file="$CH_PID") \
		</dev/null >"$CH_DIR/start.out" 2>&1 ||
		fail_start clickhouse "clickhouse-server failed to start" "$CH_DIR/start.out" "$CH_ERRLOG"
	local seen=""
	for ((i = 0; i < CH_START_TIMEOUT * 10; i++)); do
		if ch_probe; then
			ch_ensure_db
			return 0
		fi
		if pid="$(read_pid "$CH_PID")"; then
			seen=$pid
		fi
		if [ -n "$seen" ] && ! kill -0 "$seen" 2>/dev/null; then
			fail_start clickhouse "server process $seen exited during startup" "$CH_ERRLOG" "$CH_LOG" "$CH_LOGDIR/stderr.log" "$CH_DIR/start.out"
		fi
		sleep 0.1
	done
	fail_start clickhouse "did not answer on $HOST:$CH_TCP_PORT within ${CH_START_TIMEOUT}s" "$CH_ERRLOG" "$CH_LOG" "$CH_LOGDIR/stderr.log" "$CH_DIR/start.out"
}

# ch_down [PID]: stop ClickHouse; with PID, it has already been sent SIGTERM.
ch_down() {
	local pid
	if [ -n "${1:-}" ]; then
		wait_gone clickhouse "$1" "$CH_STOP_TIMEOUT"
	elif pid="$(ch_pid)"; then
		log "clickhouse: stopping (pid $pid)"
		stop_pid clickhouse "$pid" "$CH_STOP_TIMEOUT"
	else
		log "clickhouse: not running"
	fi
	rm -f -- "$CH_PID"
}

# --------------------------------------------------------------------------

write_env() {
	local tmp key
	# A development key for hashing SIM activation codes, made once and kept
	# (rows hashed with it must stay verifiable). Production sets its own.
	if [ ! -s "$RUN/activation-key" ]; then
		(umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$RUN/activation-key")
	fi
	key="$(cat "$RUN/activation-key")"
	tmp="$(mktemp "$RUN/env.XXXXXX")"
	cat >"$tmp" <<EOF
export SIMCORE_POSTGRES_URL=postgres://postgres@$HOST:$PG_PORT/$DB?sslmode=disable
export SIMCORE_REDIS_ADDR=$HOST:$REDIS_PORT
export SIMCORE_CLICKHOUSE_ADDR=$HOST:$CH_TCP_PORT
export SIMCORE_CLICKHOUSE_DATABASE=$DB
export SIMCORE_CLICKHOUSE_HTTP_ADDR=$HOST:$CH_HTTP_PORT
export SIMCORE_ACTIVATION_KEY=$key
export SIMCORE_PROMTOOL=$PROMTOOL
EOF
	chmod 0600 "$tmp"
	mv -f -- "$tmp" "$RUN/env"
}

lock() {
	mkdir -p "$RUN"
	exec 9>"$RUN/.services.lock"
	if ! flock -n 9; then
		log "waiting for another services.sh to finish"
		flock -w 300 9 || die "timed out waiting for the lock $RUN/.services.lock"
	fi
}

require_root() {
	[ "$(id -u)" = 0 ] || die "must run as root (installs packages and runs PostgreSQL as the postgres user)"
}

# port_busy PORT: something accepts connections on $HOST:PORT.
port_busy() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# choose_ports picks and records this checkout's ports once.
choose_ports() {
	[ -s "$PORTS_FILE" ] && return 0
	# Services this checkout already runs keep the ports they have.
	if [ ! -e "$PG_DATA/postmaster.pid" ] && [ ! -e "$REDIS_PID" ] && [ ! -e "$CH_DIR/clickhouse.pid" ]; then
		local taken=" "
		next_free() {
			local p=$1
			while port_busy "$p" || [[ "$taken" == *" $p "* ]]; do
				p=$((p + 1))
				[ "$p" -lt $(($1 + 200)) ] || die "no free port in $1-$(($1 + 199)) on $HOST"
			done
			echo "$p"
		}
		[ -n "${SIMCORE_PG_PORT:-}" ] || PG_PORT="$(next_free "$PG_PORT")"
		taken+="$PG_PORT "
		[ -n "${SIMCORE_REDIS_PORT:-}" ] || REDIS_PORT="$(next_free "$REDIS_PORT")"
		taken+="$REDIS_PORT "
		[ -n "${SIMCORE_CH_TCP_PORT:-}" ] || CH_TCP_PORT="$(next_free "$CH_TCP_PORT")"
		taken+="$CH_TCP_PORT "
		[ -n "${SIMCORE_CH_HTTP_PORT:-}" ] || CH_HTTP_PORT="$(next_free "$CH_HTTP_PORT")"
	fi
	printf 'SAVED_PG_PORT=%s\nSAVED_REDIS_PORT=%s\nSAVED_CH_TCP_PORT=%s\nSAVED_CH_HTTP_PORT=%s\n' \
		"$PG_PORT" "$REDIS_PORT" "$CH_TCP_PORT" "$CH_HTTP_PORT" >"$PORTS_FILE"
	if [ "$PG_PORT$REDIS_PORT$CH_TCP_PORT$CH_HTTP_PORT" != "15432163791900018123" ]; then
		log "ports in use elsewhere; this checkout uses postgres $PG_PORT, redis $REDIS_PORT, clickhouse $CH_TCP_PORT/$CH_HTTP_PORT"
	fi
}

cmd_up() {
	require_root
	lock
	choose_ports
	ensure_packages
	ensure_promtool
	pg_up
	redis_up
	ch_up
	write_env
	log "up: postgres $HOST:$PG_PORT, redis $HOST:$REDIS_PORT, clickhouse $HOST:$CH_TCP_PORT (http $CH_HTTP_PORT); env in $RUN/env"
}

cmd_down() {
	require_root
	lock
	# ClickHouse takes a few seconds to shut down: signal it first, stop the others meanwhile.
	local ch=""
	if ch="$(ch_pid)"; then
		log "clickhouse: stopping (pid $ch)"
		kill -TERM "$ch" 2>/dev/null || true
	fi
	pg_down
	redis_down
	ch_down "$ch"
}

cmd_status() {
	local ok=0 pid state extra
	PGBIN="$(pg_installed_bin)" || PGBIN=""

	# status_line NAME ADDR PID PROBE_OK
	status_line() {
		local name=$1 addr=$2 pid=$3 probe=$4 extra=${5:-}
		if [ -n "$pid" ] && [ "$probe" = 1 ]; then
			state="up (pid $pid)"
		elif [ -n "$pid" ]; then
			state="down (pid $pid running but not answering)"
			ok=1
		elif [ "$probe" = 1 ]; then
			state="down (port answered by a process not started by this script)"
			ok=1
		else
			state=down
			ok=1
		fi
		printf '%-11s %-16s %s%s\n' "$name" "$addr" "$state" "$extra"
	}

	pid="$(pg_pid)" || pid=""
	if pg_probe; then status_line postgres "$HOST:$PG_PORT" "$pid" 1; else status_line postgres "$HOST:$PG_PORT" "$pid" 0; fi

	pid="$(redis_pid)" || pid=""
	if command -v redis-cli >/dev/null && redis_probe; then
		status_line redis "$HOST:$REDIS_PORT" "$pid" 1
	else
		status_line redis "$HOST:$REDIS_PORT" "$pid" 0
	fi

	pid="$(ch_pid)" || pid=""
	if ch_http_ping; then extra=", http $HOST:$CH_HTTP_PORT up"; else extra=", http $HOST:$CH_HTTP_PORT down"; fi
	if command -v clickhouse-client >/dev/null && ch_probe; then
		status_line clickhouse "$HOST:$CH_TCP_PORT" "$pid" 1 "$extra"
	else
		status_line clickhouse "$HOST:$CH_TCP_PORT" "$pid" 0 "$extra"
	fi
	return "$ok"
}

usage() {
	echo "usage: $0 up|down|status" >&2
	exit 2
}

check_port SIMCORE_PG_PORT "$PG_PORT"
check_port SIMCORE_REDIS_PORT "$REDIS_PORT"
check_port SIMCORE_CH_TCP_PORT "$CH_TCP_PORT"
check_port SIMCORE_CH_HTTP_PORT "$CH_HTTP_PORT"

[ $# -eq 1 ] || usage
case "$1" in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
-h | --help | help) usage ;;
*) usage ;;
esac
