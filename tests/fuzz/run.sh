#!/bin/sh
# Runs every fuzz target of BUILD_DIR for SECONDS each (`make fuzz`), one after the other,
# with the committed seeds and a growing corpus kept in the build tree. Stops at the first
# target that finds a crash; the input is left in BUILD_DIR/tests/fuzz/artifacts/.
# usage: tests/fuzz/run.sh BUILD_DIR [SECONDS]
set -eu

build=${1:?usage: run.sh BUILD_DIR [SECONDS]}
seconds=${2:-300}
here=$(cd "$(dirname "$0")" && pwd)
bin=$build/tests/fuzz
artifacts=$bin/artifacts

case $seconds in
    ''|*[!0-9]*) echo "run.sh: SECONDS must be a whole number" >&2; exit 2 ;;
esac
[ -d "$bin" ] || { echo "run.sh: $bin not found (configure with -DTTR_FUZZ=ON)" >&2; exit 2; }
mkdir -p "$artifacts"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$here/lsan.supp}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

found=0
for src in "$here"/fuzz_*.c; do
    name=$(basename "$src" .c)
    exe=$bin/$name
    [ -x "$exe" ] || { echo "run.sh: $exe not built" >&2; exit 2; }
    mkdir -p "$bin/corpus/$name"
    echo "== $name: ${seconds}s"
    start=$(date +%s)
    if ! "$exe" -max_total_time="$seconds" -rss_limit_mb=1024 -timeout=10 \
            -print_final_stats=1 -artifact_prefix="$artifacts/$name-" \
            "$bin/corpus/$name" "$here/corpus/$name" 2>"$bin/$name.log"; then
        tail -n 60 "$bin/$name.log"
        echo "== $name: FAILED (log $bin/$name.log, input in $artifacts/)"
        found=1
        break
    fi
    grep -E '^stat::number_of_executed_units|^#[0-9]+.*DONE' "$bin/$name.log" | tail -n 2
    echo "== $name: ok in $(( $(date +%s) - start ))s"
done
exit $found
