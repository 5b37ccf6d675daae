#!/usr/bin/env bash
# Benchmark: removing replicas that ignore SIGTERM (so each costs its whole
# stop_grace_period), with two zlapply builds side by side in one run:
# BEFORE (e.g. a build of an older commit) and AFTER. `zlapply delete` of
# N replicas with a 1 s grace: one after another that is N s; stopped
# together it is one grace period.
# Usage: bench/stop.sh BEFORE_BUILD AFTER_BUILD [REPLICAS] [RUNS]   (as root)
set -euo pipefail
cd "$(dirname "$0")/.."
before=$(realpath "$1")
after=$(realpath "$2")
replicas=${3:-8}
runs=${4:-3}

work=$(mktemp -d /tmp/zlapply-stop-bench.XXXXXX)
cleanup() {
  for b in "$before" "$after"; do
    ZLMON_BIN=$b/backends/monitor/zlmon "$b/cli/zlapply" --root "$work/root" -q delete -d benchstop >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
scripts/build-example-image "$work/image" >/dev/null
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
cat >"$work/spec.yaml" <<YAML
version: v1
deployment: benchstop
services:
  stubborn:
    image: { name: "oci:$work/image:1.0" }
    command: { args: ["/bin/sh", "-c", "trap '' TERM; while true; do sleep 1; done"] }
    stop_grace_period: 1s
    network_mode: none
    scale: { mode: fixed, replicas: $replicas }
YAML

# One delete with build $1; prints milliseconds.
delete_ms() {
  local zl=$1/cli/zlapply
  export ZLMON_BIN=$1/backends/monitor/zlmon
  "$zl" --root "$work/root" -q -f "$work/spec.yaml"
  local t; t=$(date +%s%N)
  "$zl" --root "$work/root" -q delete -d benchstop
  echo $(( ($(date +%s%N) - t) / 1000000 ))
}

: >"$work/before"; : >"$work/after"
for _ in $(seq 1 "$runs"); do
  delete_ms "$before" >>"$work/before"
  delete_ms "$after" >>"$work/after"
done
b=$(median <"$work/before"); a=$(median <"$work/after")
echo "delete of $replicas replicas ignoring SIGTERM (stop_grace_period 1s), medians of $runs:"
echo "  before: $b ms"
echo "  after:  $a ms"
awk -v a="$a" -v b="$b" 'BEGIN { printf "  ratio after/before: %.2f\n", a / b }'
