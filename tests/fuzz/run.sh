#!/usr/bin/env bash
# Runs one fuzz target on stable Rust: ./run.sh TARGET [RUNS] [extra libFuzzer flags...]
# RUNS defaults to 1000000 executions; 0 means until stopped (or -max_total_time=SECONDS).
# One target at a time: the machine's two cores are shared.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
t="${1:?target: csv_grants xlsx_grants pain002 camt domestic_result config}"
runs="${2:-1000000}"
shift $(( $# >= 2 ? 2 : 1 ))
cd "$here"
[ -d "corpus/$t" ] || ./seed.sh > /dev/null
case "$t" in
    pain002|camt) dict=(-dict=dict/xml.dict); max_len=65536 ;;
    config) dict=(-dict=dict/toml.dict); max_len=16384 ;;
    csv_grants) dict=(); max_len=16384 ;;
    *) dict=(); max_len=65536 ;;
esac
# The readers that take a path get a scratch file: keep it on tmpfs.
export TMPDIR="${TMPDIR:-/dev/shm}"
cd "$here/../.."
exec cargo fuzz run --fuzz-dir tests/fuzz --sanitizer none "$t" "tests/fuzz/corpus/$t" -- \
    -runs="$runs" "${dict[@]/#-dict=/-dict=tests/fuzz/}" -max_len="$max_len" -timeout=10 -rss_limit_mb=512 \
    -print_final_stats=1 "$@"
