#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz into a clang build dir (ASan +
# UBSan) and runs each on its seeds (tests/fuzz/corpus/NAME) and
# regressions (tests/fuzz/regressions/NAME, replayed first, with the seeds).
# Fails when any target reports a crash, a sanitizer error, a leak, an
# input slower than 5 s or more than 2 GiB of RSS. Used by scripts/test
# (the fuzz phase) and bench/fuzz.sh; see tests/fuzz/README.md.
#
# Usage: tests/fuzz/run.sh [-s SECONDS] [-r RUNS] [-j JOBS] [-t TABLE] [TARGET...]
#   -s SECONDS  time per target (libFuzzer -max_total_time; default 8)
#   -r RUNS     stop a target after RUNS inputs (-runs; default: no limit)
#   -j JOBS     targets run at once (default: the number of CPUs)
#   -t TABLE    also write one line per target to TABLE:
#               "NAME RESULT EXECUTIONS SECONDS EXEC_PER_S CORPUS COVERAGE"
#   TARGET      fuzz_NAME names without the prefix (default: all)
#   env: ZL_FUZZ_BUILD (build dir, default build-fuzz).
# Each run starts from the seeds alone: what the fuzzer finds goes to
# BUILD/fuzz-work/NAME/corpus (kept until the next run, for a look), a
# failing input to BUILD/fuzz-work/NAME/ as crash-*, leak-*, timeout-* or
# oom-* (copy it to tests/fuzz/regressions/NAME/ to keep it), the output
# to BUILD/fuzz-work/NAME/log.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=8 runs=-1 jobs=$(nproc) table=
while getopts s:r:j:t: opt; do
  case $opt in
  s) seconds=$OPTARG ;;
  r) runs=$OPTARG ;;
  j) jobs=$OPTARG ;;
  t) table=$OPTARG ;;
  *) sed -n '2,22p' "$0" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
build=${ZL_FUZZ_BUILD:-build-fuzz}

# Configure (reconfigure on later runs, as scripts/build does, so a new
# target is seen) and build only the targets: the rest of the tree is built
# and tested by the plain and ASan builds.
if [ -f "$build/meson-private/coredata.dat" ]; then
  out=$(meson setup --reconfigure "$build" 2>&1) || { echo "$out" >&2; exit 1; }
else
  rm -rf "$build"
  out=$(CC=clang meson setup "$build" -Dfuzz=true -Db_sanitize=address,undefined \
    -Db_lundef=false 2>&1) || { echo "$out" >&2; exit 1; }
fi
meson compile -C "$build" fuzz

if [ $# -eq 0 ]; then
  set -- $(cd tests/fuzz && ls fuzz_*.c | sed 's/^fuzz_//; s/\.c$//')
fi
for t in "$@"; do
  [ -x "$build/tests/fuzz/fuzz_$t" ] || { echo "fuzz: no target fuzz_$t in $build" >&2; exit 2; }
done

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# run_one NAME: one target; writes BUILD/fuzz-work/NAME/{log,result}.
run_one() {
  local t=$1 work=$build/fuzz-work/$1
  rm -rf "$work"
  mkdir -p "$work/corpus"
  local args=(-max_total_time="$seconds" -runs="$runs" -timeout=5 -rss_limit_mb=2048
    -print_final_stats=1 -artifact_prefix="$work/" "$work/corpus" "tests/fuzz/corpus/$t")
  [ -f "tests/fuzz/$t.dict" ] && args=(-dict="tests/fuzz/$t.dict" "${args[@]}")
  case $t in manifest | monitor) args=(-dict=tests/fuzz/json.dict "${args[@]}") ;; esac
  [ -d "tests/fuzz/regressions/$t" ] && args+=("tests/fuzz/regressions/$t")
  local status=0
  "$build/tests/fuzz/fuzz_$t" "${args[@]}" >"$work/log" 2>&1 &
  local pid=$!
  wait "$pid" 2>/dev/null || status=$? # (no "Aborted" notice: the log has the report)
  # What a crashed run left under /tmp: its scratch directories carry its pid.
  rm -rf "${TMPDIR:-/tmp}"/zlfuzz-*-"$pid"-??????
  local execs secs rate cov
  # (a crashing run may print its final stats twice: the last ones count)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -n1)
  secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$work/log" | tail -n1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log" | tail -n1)
  cov=$(grep -o 'cov: [0-9]*' "$work/log" | tail -1 | cut -d' ' -f2 || true)
  local result=ok
  if [ "$status" -ne 0 ]; then
    result=$(grep -oE -m1 'ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer): [a-z -]+|runtime error|fuzz: property violated' \
      "$work/log" | sed -E 's/^ERROR: //; s/ (on address|after) *$//; s/ +$//; s/: /:/; s/ /-/g' || true)
    result=${result:-exit-$status}
  fi
  echo "$t $result ${execs:-0} ${secs:-$seconds} ${rate:-0} $(ls "$work/corpus" | wc -l) ${cov:-0}" >"$work/result"
}

pids=()
for t in "$@"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  run_one "$t" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || true; done

failed=0
[ -z "$table" ] || : >"$table"
for t in "$@"; do
  work=$build/fuzz-work/$t
  read -r name result execs secs rate corpus cov <"$work/result"
  [ -z "$table" ] || cat "$work/result" >>"$table"
  if [ "$result" = ok ]; then
    echo "fuzz: $name: ok, $execs inputs in $secs s ($rate/s), coverage $cov"
  else
    failed=1
    echo "fuzz: $name: FAILED ($result) after $execs inputs; log $work/log"
    ls "$work" | grep -E '^(crash|leak|timeout|oom|slow-unit)-' | sed "s|^|fuzz:   input: $work/|" || true
    # The report: the sanitizer's or libFuzzer's, with its stack.
    sed -n '/^==[0-9]*== *ERROR\|runtime error\|^fuzz: property violated\|ALARM: working on the last Unit/,/^SUMMARY/p' \
      "$work/log" | grep -v '^    #[0-9]* 0x[0-9a-f]* in fuzzer::' | head -40 | sed 's/^/fuzz:   /'
  fi
done
exit $failed
