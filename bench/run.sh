#!/bin/sh
# The ttrelay benchmark (see bench/README.md): bench/run.sh BUILD_DIR [--smoke] [--json FILE]
# BUILD_DIR holds a Release ttrelayd (`make bench` builds it into build/). Needs nginx
# (Debian's nginx-light), wrk and python3: scripts/deps.sh bench installs them.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
if [ $# -lt 1 ] || [ ! -x "$1/ttrelayd" ]; then
  echo "usage: bench/run.sh BUILD_DIR [--smoke] [--json FILE] [--keep]" >&2
  echo "  (BUILD_DIR must hold a built ttrelayd)" >&2
  exit 2
fi
build=$1
shift
exec python3 "$here/bench.py" --build "$build" "$@"
