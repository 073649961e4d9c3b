#!/usr/bin/env bash
# Private PostgreSQL and Redis for development and tests, under .cronops/ on loopback.
#
#   scripts/services.sh up      install what is missing (Debian packages), start both, idempotent
#   scripts/services.sh down    stop what `up` started (by pid file)
#   scripts/services.sh status  say what runs
#   scripts/services.sh env     print the connection variables for the running services
#   scripts/services.sh node    install Node.js and npm (Debian packages) when missing: the
#                               dashboard is built with them
#   scripts/services.sh test-tools  install what the tests drive (Debian packages) when
#                               missing: Node.js and npm, and Chromium
#
# Ports: CRONOPS_PG_PORT (15432) and CRONOPS_REDIS_PORT (16379). Nothing here uses systemd;
# PostgreSQL refuses to run as root, so as root it runs as Debian's `postgres` user.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="$ROOT/.cronops"
PG_PORT="${CRONOPS_PG_PORT:-15432}"
REDIS_PORT="${CRONOPS_REDIS_PORT:-16379}"
PG_DIR="$STATE/pg"
PG_DATA="$PG_DIR/data"

log() { printf '[services] %s\n' "$*" >&2; }
die() { printf '[services] error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

pg_bindir() {
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  [ -n "$dir" ] && [ -x "$dir/initdb" ] && printf '%s' "$dir"
}

# Installs the Debian packages named, when some are given.
apt_install() {
  local pkgs=("$@")
  [ ${#pkgs[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null 2>&1 || die "missing ${pkgs[*]} and no apt-get: install them by hand"
  log "installing ${pkgs[*]} from Debian"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  # policy-rc.d keeps the package scripts from starting the system-wide services.
  as_root env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
}

# Installs Debian's postgresql and redis-server when their binaries are missing.
install_missing() {
  local pkgs=()
  [ -n "$(pg_bindir)" ] || pkgs+=(postgresql)
  command -v redis-server >/dev/null 2>&1 || pkgs+=(redis-server)
  command -v redis-cli >/dev/null 2>&1 || pkgs+=(redis-tools)
  [ ${#pkgs[@]} -eq 0 ] && return 0
  apt_install "${pkgs[@]}"
  [ -n "$(pg_bindir)" ] || die "postgresql installed but no initdb found under /usr/lib/postgresql"
}

# The user PostgreSQL runs as: ourselves, or `postgres` when we are root.
pg_user() {
  if [ "$(id -u)" -eq 0 ]; then printf postgres; else id -un; fi
}

pg_run() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# As root the data folder belongs to `postgres`, which must be able to walk down to it.
make_reachable() {
  [ "$(id -u)" -eq 0 ] || return 0
  local dir="$STATE"
  while [ "$dir" != "/" ]; do
    if ! runuser -u postgres -- test -x "$dir" 2>/dev/null; then
      log "granting search permission on $dir so the postgres user can reach .cronops/pg"
      chmod o+x "$dir"
    fi
    dir="$(dirname "$dir")"
  done
}

pg_up() {
  local bin
  bin="$(pg_bindir)"
  mkdir -p "$STATE"
  make_reachable
  if [ ! -f "$PG_DATA/PG_VERSION" ]; then
    log "creating PostgreSQL cluster in $PG_DATA"
    install -d -m 700 "$PG_DIR"
    [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$PG_DIR"
    pg_run "$bin/initdb" -D "$PG_DATA" -U postgres -A trust -E UTF8 --no-locale >/dev/null
  fi
  if pg_run "$bin/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
    log "PostgreSQL already running on 127.0.0.1:$PG_PORT"
  else
    log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
    # No unix socket: its path length limit breaks deep checkouts, and TCP on loopback suffices.
    pg_run "$bin/pg_ctl" -D "$PG_DATA" -l "$PG_DIR/server.log" -w -t 60 \
      -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c max_connections=300" \
      start >/dev/null || { tail -n 20 "$PG_DIR/server.log" >&2; die "PostgreSQL did not start"; }
  fi
}

redis_running() {
  [ -f "$STATE/redis.pid" ] && kill -0 "$(cat "$STATE/redis.pid")" 2>/dev/null
}

redis_up() {
  mkdir -p "$STATE"
  if redis_running; then
    log "Redis already running on 127.0.0.1:$REDIS_PORT"
    return 0
  fi
  log "starting Redis on 127.0.0.1:$REDIS_PORT"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize yes \
    --pidfile "$STATE/redis.pid" --dir "$STATE" --logfile "$STATE/redis.log" \
    --save '' --appendonly no --databases 16 >/dev/null
  for _ in $(seq 1 100); do
    redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG && return 0
    sleep 0.1
  done
  tail -n 20 "$STATE/redis.log" >&2
  die "Redis did not answer on port $REDIS_PORT"
}

# Creates a database unless it exists (names come from the Makefile, not from users).
create_db() {
  local name="$1"
  if ! psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname = '$name'" | grep -q 1; then
    log "creating database $name"
    psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -qc "CREATE DATABASE \"$name\"" >/dev/null
  fi
}

down() {
  local bin
  bin="$(pg_bindir || true)"
  if [ -n "$bin" ] && [ -f "$PG_DATA/postmaster.pid" ]; then
    log "stopping PostgreSQL"
    pg_run "$bin/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null || true
  fi
  if redis_running; then
    log "stopping Redis"
    kill "$(cat "$STATE/redis.pid")" 2>/dev/null || true
    for _ in $(seq 1 50); do redis_running || break; sleep 0.1; done
  fi
  rm -f "$STATE/redis.pid"
}

status() {
  local bin
  bin="$(pg_bindir || true)"
  if [ -n "$bin" ] && pg_run "$bin/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
    echo "postgresql: running on 127.0.0.1:$PG_PORT"
  else
    echo "postgresql: stopped"
  fi
  if redis_running; then echo "redis: running on 127.0.0.1:$REDIS_PORT"; else echo "redis: stopped"; fi
}

case "${1:-}" in
  up)
    install_missing
    pg_up
    redis_up
    shift
    for db in "$@"; do create_db "$db"; done
    ;;
  node)
    pkgs=()
    command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
    command -v npm >/dev/null 2>&1 || pkgs+=(npm)
    [ ${#pkgs[@]} -eq 0 ] || apt_install "${pkgs[@]}"
    ;;
  test-tools)
    pkgs=()
    command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
    command -v npm >/dev/null 2>&1 || pkgs+=(npm)
    command -v chromium >/dev/null 2>&1 || pkgs+=(chromium)
    [ ${#pkgs[@]} -eq 0 ] || apt_install "${pkgs[@]}"
    ;;
  down) down ;;
  status) status ;;
  env)
    echo "PG_ADMIN_URL=postgres://postgres@127.0.0.1:$PG_PORT/postgres"
    echo "REDIS_URL=redis://127.0.0.1:$REDIS_PORT"
    ;;
  *) die "usage: $0 up [DATABASE...] | down | status | env | node | test-tools" ;;
esac
