#!/bin/sh
# Installs what ttrelay needs on Debian 12. As root it runs apt-get; otherwise it prints
# the exact command. "runtime": only the shared libraries ttrelayd and ttrelayctl load (what
# `make install` needs on a server: no compiler, no -dev package). "build": the compiler and
# the -dev packages. "test" adds the test tools, the browser test's Chromium and its npm
# package; "bench" the benchmark tools.
set -eu
what=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)

# build-essential brings g++ for lib/phone.cc; libphonenumber-dev brings the protobuf and
# abseil headers its own headers include. The fuzz build's clang++ comes with "clang".
# libpq is the PostgreSQL store's client; "postgresql" (the server) only runs the throwaway
# cluster of the tests and of the benchmark (tests/pg/pg_server.sh).
runtime="libmicrohttpd12 libcurl4 libjansson4 libconfig9 libsqlite3-0 libssl3 libjemalloc2 libphonenumber8 libpq5"
pkgs="build-essential cmake pkg-config libmicrohttpd-dev libcurl4-openssl-dev libjansson-dev libconfig-dev libsqlite3-dev libssl-dev libjemalloc-dev libphonenumber-dev libpq-dev"
case "$what" in
  runtime) pkgs="$runtime" ;;
  build) ;;
  test)  pkgs="$pkgs python3 clang libclang-rt-14-dev chromium sqlite3 postgresql systemd man-db groff-base nginx-light wrk faketime" ;;
  bench) pkgs="$pkgs python3 nginx-light wrk postgresql" ;;
  *) echo "usage: scripts/deps.sh runtime|build|test|bench" >&2; exit 2 ;;
esac

missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# Node.js may come from elsewhere than Debian (with its own npm): only the commands matter.
if [ "$what" = test ]; then
  command -v node >/dev/null 2>&1 || missing="$missing nodejs"
  command -v npm >/dev/null 2>&1 || missing="$missing npm"
fi
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "deps: installing$missing"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing >/dev/null ||
      { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing >/dev/null; }
  else
    echo "deps: missing packages; run as root:"
    echo "  apt-get install -y$missing"
    exit 1
  fi
fi

if [ "$what" = test ] && [ -f "$root/tests/browser/package.json" ] &&
   [ ! -d "$root/tests/browser/node_modules/playwright-core" ]; then
  echo "deps: installing the browser test's npm packages"
  (cd "$root/tests/browser" && npm ci --no-audit --no-fund --loglevel=error)
fi
