#!/bin/sh
# Refreshes the dashboard's charting library (uPlot, MIT) from the npm registry. Its built,
# minified files are committed under daemon/dashboard/ so that `make` needs neither npm
# nor the network; run this only to move to another version, then rebuild and run
# tests/browser/test_dashboard.mjs.
set -eu
version=${1:-1.6.32}
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack "uplot@$version" --silent >/dev/null && tar xzf uplot-"$version".tgz)
cp "$tmp/package/dist/uPlot.iife.min.js" "$tmp/package/dist/uPlot.min.css" "$root/daemon/dashboard/"
cp "$tmp/package/LICENSE" "$root/daemon/dashboard/uPlot.LICENSE.txt"
echo "uPlot $version copied into daemon/dashboard/"
