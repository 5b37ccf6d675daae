#!/usr/bin/env bash
# Kill -9 proof at scale: tests/integration/test_kill9.c's sweep with many
# kill points. Cold apply (of a new state root and of one that ran before),
# rolling recreate, scale down, scale up and delete of real containers
# (runc, bridge networking, a published port), in a cycle; each run is
# SIGKILLed at a point spread over its measured duration, then run again,
# and the host is checked: exactly the desired replicas, every pid alive,
# no duplicates, nothing left that no replica owns (processes, mounts,
# runtime containers, netns, veths, cgroups, claims, leases, port rules,
# temporary files; `zlapply doctor` clean), no pending journal entry,
# PRAGMA integrity_check ok. A failing point is reported, repaired and the
# sweep goes on; the summary line gives the count.
# Usage: bench/kill9.sh [BUILD_DIR] [POINTS]   (as root; default build, 300)
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(realpath "${1:-build}")
points=${2:-300}
log=$(mktemp /tmp/zlapply-kill9.XXXXXX.log)
echo "kill9: $points kill points with $build (log: $log)"
status=0
ZLAPPLY_BIN=$build/cli/zlapply ZLMON_BIN=$build/backends/monitor/zlmon \
  ZLAPPLY_SOURCE_ROOT=$PWD ZL_KILL9_POINTS=$points ZL_KILL9_KEEP_GOING=1 \
  ZL_KILL9_TESTS=test_kill9_sweep \
  "$build/tests/test_kill9" >"$log" 2>&1 || status=$?
grep -E '^k9 calibration|^kill9:' "$log" || true
grep -A12 '^k9 FAILURE' "$log" || true
# Where the kills landed: killed mid-run or after the run had finished.
awk '/^k9 point/ { n[$0 ~ /\(killed\)/ ? "killed mid-run" : "run had finished"]++ }
     END { for (k in n) printf "  %s: %d\n", k, n[k] }' "$log"
exit "$status"
