#!/bin/sh
# A throwaway PostgreSQL cluster for the tests: `start DIR` runs initdb and pg_ctl (as the
# postgres system user when run as root: the server refuses root) on 127.0.0.1 at a port
# chosen now, and writes the conninfo to DIR/conninfo (and prints it); `stop DIR` stops
# the server and removes everything it made. `createdb DIR NAME` prints a conninfo for a
# new empty database NAME, so that tests sharing one server do not see each other's rows.
# `down DIR` stops the server and keeps its data; `up DIR` starts it again on the same
# port (a database outage, for the tests that own their server).
# PG_DURABLE=1 at start (the benchmark): the data goes under /var/tmp, on a disk where /tmp
# may be tmpfs, and the server keeps PostgreSQL's defaults (fsync, synchronous_commit,
# full_page_writes, shared_buffers) instead of the tests' cheaper settings.
set -eu
cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop|createdb|down|up DIR [NAME]" >&2; exit 2; }

# The newest server binaries Debian installed (postgresql-NN); PGBIN overrides.
pgbin() {
  if [ -n "${PGBIN:-}" ]; then echo "$PGBIN"; return; fi
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n -r); do
    [ -x "$d/initdb" ] && { echo "$d"; return; }
  done
  command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return; }
  echo "pg_server: no PostgreSQL server binaries (apt-get install postgresql)" >&2
  exit 1
}

# Runs a command as the server's owner: postgres when we are root, else ourselves.
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

server_on() {
  cheap="-c fsync=off -c full_page_writes=off -c synchronous_commit=off -c shared_buffers=32MB"
  [ -f "$2/durable" ] && cheap=""
  as_owner "$1/pg_ctl" -D "$2/db" -l "$2/server.log" -w -t 30 \
    -o "-c listen_addresses=127.0.0.1 -p $3 -c unix_socket_directories=$2 \
        -c max_connections=200 $cheap" start >/dev/null 2>&1
}

down() {
  data=$(cat "$dir/datadir")
  as_owner "$(pgbin)/pg_ctl" -D "$data/db" -m fast -w -t 30 stop >/dev/null
}

up() {
  data=$(cat "$dir/datadir")
  server_on "$(pgbin)" "$data" "$(cat "$data/port")" || { tail -n 5 "$data/server.log" >&2; exit 1; }
}

start() {
  bin=$(pgbin)
  mkdir -p "$dir"
  # What an interrupted run left behind goes first: every run starts from an empty cluster.
  [ -f "$dir/datadir" ] && stop && mkdir -p "$dir"
  # The data lives under /tmp (or /var/tmp): the postgres user may not traverse the build tree.
  if [ "${PG_DURABLE:-0}" = 1 ]; then
    data=$(mktemp -d /var/tmp/ttr-pg.XXXXXX)
    touch "$data/durable"
  else
    data=$(mktemp -d /tmp/ttr-pg.XXXXXX)
  fi
  echo "$data" >"$dir/datadir"
  [ "$(id -u)" = 0 ] && chown postgres: "$data"
  chmod 700 "$data"
  as_owner "$bin/initdb" -D "$data/db" -U ttrelay -A trust -E UTF8 --locale=C --no-sync \
    >"$data/initdb.log" 2>&1 || { cat "$data/initdb.log" >&2; exit 1; }
  # A port taken between the probe and the server's bind is retried with another.
  for attempt in 1 2 3 4 5; do
    port=$(free_port)
    if server_on "$bin" "$data" "$port"; then
      echo "$port" >"$data/port"
      info="host=127.0.0.1 port=$port user=ttrelay dbname=postgres"
      echo "$info" >"$dir/conninfo"
      echo "$info"
      return
    fi
    tail -n 5 "$data/server.log" >&2 || true
  done
  echo "pg_server: the server did not start" >&2
  exit 1
}

stop() {
  [ -f "$dir/datadir" ] || { rm -f "$dir/conninfo"; return; }
  data=$(cat "$dir/datadir")
  case "$data" in /tmp/ttr-pg.*|/var/tmp/ttr-pg.*) ;; *) echo "pg_server: unexpected data dir $data" >&2; exit 1 ;; esac
  if [ -f "$data/db/postmaster.pid" ]; then
    as_owner "$(pgbin)/pg_ctl" -D "$data/db" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$data"
  rm -f "$dir/datadir" "$dir/conninfo"
  rmdir "$dir" 2>/dev/null || true
}

createdb() {
  name=${3:-}
  case "$name" in ''|*[!a-z0-9_]*) echo "pg_server: database names are [a-z0-9_]+" >&2; exit 2 ;; esac
  info=$(cat "$dir/conninfo")
  data=$(cat "$dir/datadir")
  as_owner "$(pgbin)/psql" -X -q -v ON_ERROR_STOP=1 -d "$info" -c "CREATE DATABASE $name" >/dev/null
  echo "$info" | sed "s/dbname=[^ ]*/dbname=$name/"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  createdb) createdb "$@" ;;
  down) down ;;
  up) up ;;
  *) echo "usage: $0 start|stop|createdb|down|up DIR [NAME]" >&2; exit 2 ;;
esac
