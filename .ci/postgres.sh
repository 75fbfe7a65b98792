#!/usr/bin/env bash
# Makes sure a PostgreSQL is there for `make run` and `make test` and prints
# the DATABASE_URL to use on stdout (everything else goes to stderr).
#
# - DATABASE_URL set: used as it is.
# - Otherwise a private cluster under .data/pg in the project (or
#   $RAPPORT_PG_DATA), on port ${RAPPORT_PG_PORT:-55432}, started from the
#   system's PostgreSQL binaries;
#   if there are none and we are root, Debian's postgresql package is
#   installed first. PostgreSQL refuses to run as root, so as root the
#   cluster belongs to the `postgres` user.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
data="${RAPPORT_PG_DATA:-$root/.data/pg}"
if [ "${1:-}" = stop ]; then
  alt="/var/tmp/rapport-pg-$(printf '%s' "$root" | sha256sum | cut -c1-12)"
  [ -f "$data/PG_VERSION" ] || [ -n "${RAPPORT_PG_DATA:-}" ] || data="$alt"
  if [ -f "$data/PG_VERSION" ]; then
    bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r | head -n1)
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$bindir/pg_ctl" -D "$data" -m fast stop || true
    else "$bindir/pg_ctl" -D "$data" -m fast stop || true; fi
  fi
  exit 0
fi

if [ -n "${DATABASE_URL:-}" ] && [ -z "${RAPPORT_PG_DATA:-}" ]; then
  echo "$DATABASE_URL"
  exit 0
fi

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
log() { echo "postgres.sh: $*" >&2; }

find_bindir() {
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
    pg_config --bindir; return 0
  fi
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$d/initdb" ]; then echo "$d"; return 0; fi
  done
  return 1
}

bindir=$(find_bindir || true)
if [ -z "$bindir" ]; then
  if [ "$(id -u)" != 0 ]; then
    log "no PostgreSQL binaries found; install Debian's postgresql package or set DATABASE_URL"
    exit 1
  fi
  log "installing Debian's postgresql package"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
  bindir=$(find_bindir)
fi

as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
  useradd --system --home-dir "$root/.data" --shell /usr/sbin/nologin postgres
fi

mkdir -p "$root/.data"
# As root the cluster runs as `postgres`, which must be able to reach the
# data folder. When the checkout sits under a directory it cannot enter
# (say a private temp dir), the cluster goes to a folder of its own under
# /var/tmp instead, named after the checkout.
if [ -z "${RAPPORT_PG_DATA:-}" ] && [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$root/.data" 2>/dev/null; then
  data="/var/tmp/rapport-pg-$(printf '%s' "$root" | sha256sum | cut -c1-12)"
  mkdir -p "$(dirname "$data")"
  log "postgres cannot enter $root; using $data"
fi
if [ ! -f "$data/PG_VERSION" ]; then
  # Another checkout's cluster may hold the usual port: take the first free
  # one from RAPPORT_PG_PORT (55432) on; the cluster remembers it.
  port="${RAPPORT_PG_PORT:-55432}"
  while port_in_use "$port"; do port=$((port + 1)); done
  log "creating a private cluster in $data"
  mkdir -p "$data"
  [ "$(id -u)" = 0 ] && chown postgres: "$data"
  chmod 700 "$data"
  as_owner "$bindir/initdb" -D "$data" -U rapport --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null 2>&1 ||
    as_owner "$bindir/initdb" -D "$data" -U rapport --auth=trust -E UTF8 >&2
  cat >>"$data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$data'
max_connections = 400
shared_buffers = 256MB
CONF
fi

port=$(sed -n 's/^port = \([0-9]*\).*/\1/p' "$data/postgresql.conf" | tail -n 1)
if ! as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
  log "starting the private cluster on 127.0.0.1:$port"
  as_owner "$bindir/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 start >&2
fi

for _ in $(seq 1 60); do
  if "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port"; then break; fi
  sleep 0.5
done
if ! "$bindir/psql" -h 127.0.0.1 -p "$port" -U rapport -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='rapport'" | grep -q 1; then
  "$bindir/psql" -h 127.0.0.1 -p "$port" -U rapport -d postgres -qc "CREATE DATABASE rapport" >&2
fi
echo "postgres://rapport@127.0.0.1:$port/rapport?sslmode=disable"
