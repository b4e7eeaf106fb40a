#!/usr/bin/env bash
# Runs fuzz targets for a while each, one at a time, and prints how many
# inputs each executed. Usage: fuzz/run.sh SECONDS [TARGET...] (default:
# every target). Seeds the corpora first (fuzz/seed.sh) if they are missing.
#
# The targets are libFuzzer binaries (libfuzzer-sys). With cargo-fuzz
# installed they are built by `cargo fuzz build` (AddressSanitizer included,
# which needs RUSTC_BOOTSTRAP=1 on a stable toolchain). Without it — the CI
# machine has only the Rust toolchain — they are built by cargo itself with
# the coverage instrumentation cargo-fuzz passes (sanitizer coverage, `cfg
# fuzzing`, debug assertions and overflow checks), without AddressSanitizer:
# the code under test is safe Rust (but for the SSE2 loads of 16 bytes out of
# a 64-byte array in the JSON scanner), where ASan finds nothing the panics
# and checks do not. Without -jobs, libFuzzer runs in this one process, on one
# core. A crash stops the run with libFuzzer's report, whose input Debug is
# a reproducer (see fuzz/src/lib.rs), and leaves the input in
# fuzz/artifacts/TARGET/.
set -euo pipefail
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
seconds=${1:?usage: fuzz/run.sh SECONDS [TARGET...]}
shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(rule_yaml condition json_event differential correlation_yaml cli_input bundle)
[ -d corpus/rule_yaml ] || ./seed.sh
triple=$(rustc -vV | sed -n 's/^host: //p')
if cargo fuzz --version > /dev/null 2>&1; then
    cargo fuzz build > /dev/null 2>&1 || cargo fuzz build
    run() { cargo fuzz run "$@"; }
else
    # The flags of cargo-fuzz's `build` without -Zsanitizer; a target dir of
    # its own so that these flags never mix with a normal build's.
    RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks" \
        cargo build --release --target "$triple" --target-dir target/fuzz-plain --bins
    # `cargo fuzz run T CORPUS -- ARGS` is the binary with CORPUS ARGS and
    # crashes saved under artifacts/T/.
    run() {
        local t=$1 args=()
        shift
        for a in "$@"; do [ "$a" = -- ] || args+=("$a"); done
        mkdir -p "artifacts/$t"
        "target/fuzz-plain/$triple/release/$t" -artifact_prefix="artifacts/$t/" "${args[@]}"
    }
fi
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    log=$(mktemp)
    # -timeout: an input that runs 10 s is a hang; -rss_limit_mb: a rule
    # that blows up memory is a bug too (the limits of Config bound it).
    if ! run "$t" "corpus/$t" -- -max_total_time="$seconds" -timeout=10 \
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
