#!/usr/bin/env bash
# Runs fuzz targets for a while each, one at a time, and prints how many
# inputs each executed. Usage: fuzz/run.sh SECONDS [TARGET...] (default:
# every target). Seeds the corpora first (fuzz/seed.sh) if they are missing.
# Needs cargo-fuzz; on a stable toolchain RUSTC_BOOTSTRAP=1 stands in for
# nightly (set here). Without -jobs, libFuzzer runs in this one process, on
# one core (-jobs=1 forks a worker that logs to fuzz-0.log). A crash stops
# the run with libFuzzer's report, whose input Debug is a reproducer (see
# fuzz/src/lib.rs), and leaves the input in fuzz/artifacts/TARGET/.
set -euo pipefail
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
seconds=${1:?usage: fuzz/run.sh SECONDS [TARGET...]}
shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(rule_yaml condition json_event differential correlation_yaml cli_input)
[ -d corpus/rule_yaml ] || ./seed.sh
cargo fuzz build >/dev/null 2>&1 || cargo fuzz build
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    log=$(mktemp)
    # -timeout: an input that runs 10 s is a hang; -rss_limit_mb: a rule
    # that blows up memory is a bug too (the limits of Config bound it).
    if ! cargo fuzz run "$t" "corpus/$t" -- -max_total_time="$seconds" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 > "$log" 2>&1; then
        cat "$log" >&2
        echo "fuzz target $t failed" >&2
        exit 1
    fi
    runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | awk '{print $2}' | tail -1)
    corpus=$(ls "corpus/$t" | wc -l)
    echo "$t: ${runs:-?} inputs in ${seconds}s, corpus $corpus"
    rm -f "$log"
done
