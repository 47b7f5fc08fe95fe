#!/usr/bin/env bash
# Fuzzes the evpnd-wire codec and the whole receive path of evpnd-node: builds every cargo-fuzz
# target of fuzz/ (`cargo fuzz list`: the codec targets and node_receive) and runs each for
# SECONDS (default 60) on a temporary copy of the committed seed corpus (fuzz/corpus/<target>),
# so runs never grow the committed corpus. Exits non-zero if any target crashes, panics, times
# out or runs out of memory; the input that did it is left in fuzz/artifacts/<target>/.
#
# Usage: scripts/fuzz.sh [SECONDS]
#
# cargo-fuzz needs nightly compiler flags; they are enabled on the stable toolchain with
# RUSTC_BOOTSTRAP=1. The crates fuzzed forbid unsafe code, so the targets are built without a
# sanitizer (-s none), which makes them several times faster; panics, overflow checks and
# debug assertions are on.
set -euo pipefail

secs="${1:-60}"
case "$secs" in
    '' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/fuzz"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== cargo-fuzz not found: installing it (cargo install cargo-fuzz)"
    cargo install --locked cargo-fuzz
fi

echo "== checking the harnesses (every node_receive seed does what it is meant to)"
cargo test --lib --quiet

export RUSTC_BOOTSTRAP=1
echo "== building fuzz targets"
cargo fuzz build -s none

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

status=0
summary=""
for target in $(cargo fuzz list); do
    mkdir -p "$work/corpus/$target" "artifacts/$target"
    if [ -d "corpus/$target" ]; then
        cp -R "corpus/$target/." "$work/corpus/$target/"
    fi
    log="$work/$target.log"
    echo "== fuzzing $target for ${secs}s"
    # -timeout: an input that takes over 10 s is a hang; the outer timeout bounds the whole run.
    # -max_len: above 4096 so that extended messages (RFC 8654) are explored too.
    if timeout "$((secs + 300))" cargo fuzz run -s none "$target" "$work/corpus/$target" -- \
        -max_total_time="$secs" -max_len=16384 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="artifacts/$target/" >"$log" 2>&1; then
        result="ok"
    else
        result="FAILED"
        status=1
        echo "---- last lines of the $target log:"
        tail -n 60 "$log"
        echo "---- crashing inputs are in fuzz/artifacts/$target/"
    fi
    execs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1 || true)"
    rate="$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1 || true)"
    line="$target: $result, ${execs:-?} executions, ${rate:-?} exec/s"
    echo "$line"
    summary="$summary$line"$'\n'
done

echo "== fuzz summary (${secs}s per target)"
printf '%s' "$summary"
exit "$status"
