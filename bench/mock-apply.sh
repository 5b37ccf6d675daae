#!/usr/bin/env bash
# Benchmark: a spec of 1,000 services x 2 replicas on the mock backend
# (BENCH_SERVICES=N for N services: the curve at 500/1000/2500/5000).
# Measures the cold apply (2,000 creates), the no-op apply (median of runs)
# and the peak RSS of each. Usage: bench/mock-apply.sh [BUILD_DIR] [RUNS]
# env: BENCH_CALLGRIND=1 also counts the instructions of one more no-op
# apply under valgrind --tool=callgrind (noise-free; the callgrind.out file
# is kept in BENCH_CALLGRIND_OUT when that is set). BENCH_REVISIONS=N
# applies N changed specs (svc-1's env) and the spec again between the cold
# apply and the no-op runs, so the no-op runs with a history (at most 10
# revisions are kept).
# Targets (docs/benchmarks.md): no-op apply <= 100 ms, peak RSS <= 30 MB at
# 1,000 services; <= 300 ms and <= 100 MB at 5,000 (issue 16, item 5).
# Before/after on this noisy machine: bench/ab.sh mock-apply.sh OLD NEW ROUNDS.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
runs=${2:-15}
services=${BENCH_SERVICES:-1000}
zl=$build/cli/zlapply
[ -x "$zl" ] || { echo "bench: build first (scripts/build $build)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench: /usr/bin/time missing (scripts/setup)" >&2; exit 1; }

work=$(mktemp -d /tmp/zlapply-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
spec=$work/big.yaml
{
  echo "version: v1"
  echo "deployment: bench"
  echo "services:"
  for i in $(seq 1 "$services"); do
    cat <<YAML
  svc-$i:
    image: { name: "registry.example/bench/app:1.$i" }
    env: { INDEX: "$i", MODE: bench }
    resources: { cpu: 0.5, memory: 64Mi }
    scale: { mode: fixed, replicas: 2 }
YAML
  done
} >"$spec"

# run LABEL ARGS...: prints "<ms> <peak RSS KiB>" for one run.
run() {
  local t0 t1
  t0=$(date +%s%N)
  /usr/bin/time -f '%M' -o "$work/rss" "$zl" --root "$work/root" --backend mock -q "$@" >/dev/null
  t1=$(date +%s%N)
  echo "$(( (t1 - t0) / 1000000 )) $(cat "$work/rss")"
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

read -r cold_ms cold_rss < <(run -f "$spec")
revisions=${BENCH_REVISIONS:-0}
if [ "$revisions" -gt 0 ]; then
  for r in $(seq 1 "$revisions"); do
    sed "0,/MODE: bench }/s//MODE: bench-$r }/" "$spec" >"$work/changed.yaml"
    run -f "$work/changed.yaml" >/dev/null
  done
  run -f "$spec" >/dev/null
fi
: >"$work/noop"
for _ in $(seq 1 "$runs"); do run -f "$spec" >>"$work/noop"; done
noop_ms=$(cut -d' ' -f1 "$work/noop" | median)
noop_rss=$(cut -d' ' -f2 "$work/noop" | sort -n | tail -1)
replicas=$("$zl" --root "$work/root" --backend mock status -o json | grep -c '"state":' || true)

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
echo "spec: $services services x 2 replicas ($replicas replicas recorded)${BENCH_REVISIONS:+, $revisions changed specs applied before the no-op runs}"
echo "cold apply:  ${cold_ms} ms, peak RSS $((cold_rss / 1024)) MiB (${cold_rss} KiB)"
echo "no-op apply: median ${noop_ms} ms over ${runs} runs, peak RSS $((noop_rss / 1024)) MiB (${noop_rss} KiB)"
if [ -n "${BENCH_CALLGRIND:-}" ]; then
  out=${BENCH_CALLGRIND_OUT:-$work}/callgrind.out.$(basename "$(realpath "$build/..")").$$
  mkdir -p "$(dirname "$out")"
  valgrind --tool=callgrind --callgrind-out-file="$out" \
    "$zl" --root "$work/root" --backend mock -q -f "$spec" >/dev/null 2>"$work/cg"
  ir=$(sed -n 's/^summary: *//p' "$out")
  echo "no-op apply under callgrind: ${ir} instructions"
fi
