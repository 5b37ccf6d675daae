#!/usr/bin/env bash
# Benchmark and long run of the libFuzzer targets (tests/fuzz): each target
# runs on its seeds and regressions, as many at once as there are CPUs, and
# a table gives per target the inputs executed, the time, executions per
# second, the corpus it grew, its coverage (edges) and whether it crashed
# (0 expected: a crash, leak, timeout or OOM stops that target, and its
# input and report are under build-fuzz/fuzz-work/TARGET/).
#
# Usage: bench/fuzz.sh [SECONDS_PER_TARGET]
#   no argument: each target until 10,000,000 inputs, at most 900 s (the
#   slow ones, unpack and spec_load, stop at the time);
#   SECONDS_PER_TARGET: each target for that long, whatever it executes.
#   env: ZL_FUZZ_BUILD (build dir, default build-fuzz), FUZZ_JOBS (targets
#   at once, default the number of CPUs).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -ge 1 ]; then
  limits=(-s "$1")
  what="$1 s per target"
else
  limits=(-s 900 -r 10000000)
  what="10,000,000 inputs per target, at most 900 s"
fi
jobs=${FUZZ_JOBS:-$(nproc)}
table=$(mktemp /tmp/zlapply-fuzz-bench.XXXXXX)
trap 'rm -f "$table"' EXIT

echo "fuzz bench: $what, $jobs at once on $(nproc) CPUs ($(clang --version | head -1))"
status=0
tests/fuzz/run.sh "${limits[@]}" -j "$jobs" -t "$table" || status=$?

echo
echo "| target | inputs | seconds | inputs/s | corpus | coverage | crashes |"
echo "|---|--:|--:|--:|--:|--:|--:|"
total=0
while read -r name result execs secs rate corpus cov; do
  crashes=0
  [ "$result" = ok ] || crashes="1 ($result)"
  total=$((total + execs))
  printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$name" \
    "$(printf "%'d" "$execs")" "$secs" "$(printf "%'d" "$rate")" "$corpus" "$cov" "$crashes"
done <"$table"
echo
echo "total: $(printf "%'d" "$total") inputs"
exit $status
