#!/usr/bin/env bash
# Two builds side by side on real containers (oci backend, runc here), in
# one run, each step alternating the builds (odd rounds BEFORE first):
#  1. cold apply of 50 replicas (network_mode none) and their delete,
#     ROUNDS (6) rounds after a warm-up round of each;
#  2. no-op apply with 200 running replicas (bridge networking): both
#     builds' 200 replicas run at once, then NOOP_RUNS (21) no-op applies
#     of each, alternating;
#  3. one more no-op apply of each, counted: instructions (valgrind
#     --tool=callgrind) and system calls (strace -c) of zlapply's process;
#  4. zlmon's memory per replica, each build's 200 monitors (still running
#     from 2): VmRSS and Pss (/proc/PID/smaps_rollup), averaged.
# Prints each build's median, the median of the per-round ratios after /
# before (the figure to quote on a noisy machine) and the counts.
# Usage: bench/oci-ab.sh BEFORE_BUILD AFTER_BUILD [ROUNDS] [NOOP_RUNS]  (as root)
# Each build has its own state root (under /tmp), bridge (zla<pid%1000>,
# zlz<pid%1000>), subnet (10.216.251.0/24, 10.216.252.0/24: outside the
# default 10.213.0.0/16) and deployment names; all removed at the end.
# env: AB_KEEP=DIR keeps the callgrind and strace outputs there.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { sed -n '2,19p' "$0" >&2; exit 2; }
rounds=${3:-6}
noop_runs=${4:-21}
command -v strace >/dev/null || { echo "bench: strace missing" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "bench: valgrind missing" >&2; exit 1; }

work=$(mktemp -d /tmp/zlapply-oci-ab.XXXXXX)
. bench/ab-lib.sh
ab_builds "$1" "$2" "$work" zla zlz 10.216.251.0/24 10.216.252.0/24
tag() { [ "$1" = before ] && echo b || echo a; }

cleanup() {
  for w in before after; do
    for d in "cold$(tag "$w")" "noop$(tag "$w")"; do z "$w" delete -d "$d" >/dev/null 2>&1 || true; done
  done
  ab_net_cleanup
  rm -rf "$work"
}
trap cleanup EXIT
scripts/build-example-image "$work/image" >/dev/null
# ratios FILE_BEFORE FILE_AFTER: median of the line-by-line ratios after / before
ratios() { paste "$1" "$2" | awk '$1 > 0 {print $2 / $1}' | median; }

spec() { # NAME REPLICAS NETWORK_MODE
  cat <<YAML
version: v1
deployment: $1
services:
  app:
    image: { name: "oci:$work/image:1.0", pull_policy: if_not_present }
    command: { args: ["/bin/sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"] }
    stop_grace_period: 2s
    network_mode: $3
    scale: { mode: fixed, replicas: $2 }
YAML
}
for w in before after; do
  t=$(tag "$w")
  spec "cold$t" 50 none >"$work/cold-$w.yaml"
  spec "noop$t" 200 default >"$work/noop-$w.yaml"
  ZLMON_BIN=${mon[$w]} "${zl[$w]}" --root "${root[$w]}" -q pull "oci:$work/image:1.0" >/dev/null
  : >"$work/cold-$w" ; : >"$work/delete-$w"; : >"$work/noop-$w"
done

# 1. cold apply and delete of 50, alternating; round 0 is the warm-up.
for r in $(seq 0 "$rounds"); do
  if [ $((r % 2)) -eq 1 ]; then order="before after"; else order="after before"; fi
  for w in $order; do
    t=$(now); z "$w" --backend oci -f "$work/cold-$w.yaml"; c=$(ms "$t")
    t=$(now); z "$w" delete -d "cold$(tag "$w")" >/dev/null; d=$(ms "$t")
    if [ "$r" -gt 0 ]; then echo "$c" >>"$work/cold-$w"; echo "$d" >>"$work/delete-$w"; fi
    echo "bench: round $r $w: cold apply $c ms, delete $d ms" >&2
  done
done

# 2. no-op apply with 200 running replicas of each build at once.
for w in before after; do z "$w" --backend oci -f "$work/noop-$w.yaml"; done
for i in $(seq 1 "$noop_runs"); do
  if [ $((i % 2)) -eq 1 ]; then order="before after"; else order="after before"; fi
  for w in $order; do
    t=$(now); z "$w" --backend oci -f "$work/noop-$w.yaml"; ms "$t" >>"$work/noop-$w"
  done
done

# 3. one no-op apply of each, counted.
keep=${AB_KEEP:-$work}
mkdir -p "$keep"
for w in before after; do
  z "$w" --backend oci -f "$work/noop-$w.yaml" # warm
  args=(--root "${root[$w]}" --bridge "${bridge[$w]}" --subnet "${subnet[$w]}" -q --backend oci
    -f "$work/noop-$w.yaml")
  ZLMON_BIN=${mon[$w]} valgrind --tool=callgrind --callgrind-out-file="$keep/callgrind.oci-noop.$w" \
    "${zl[$w]}" "${args[@]}" 2>/dev/null
  ZLMON_BIN=${mon[$w]} strace -f -c -o "$keep/strace.oci-noop.$w" "${zl[$w]}" "${args[@]}"
done
# 4. zlmon memory: the average over a build's monitors (zlmon --ready-fd N
# --id zl-noopb-... or zl-noopa-...), VmRSS or Pss in kB.
mem() { # WHICH FIELD(VmRSS|Pss)
  local total=0 n=0 pid v
  for pid in $(pgrep -f "zlmon --ready-fd [0-9]+ --id zl-noop$(tag "$1")-"); do
    if [ "$2" = Pss ]; then v=$(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup")
    else v=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status"); fi
    total=$((total + v)); n=$((n + 1))
  done
  echo $((n ? total / n : 0))
}
ir() { sed -n 's/^summary: *//p' "$keep/callgrind.oci-noop.$1"; }
# system calls of zlapply (strace -f -c: it spawns nothing on a no-op).
sc() { awk '$NF == "total" {print (NF == 6 ? $(NF-2) : $(NF-1))}' "$keep/strace.oci-noop.$1"; }

echo "machine: $(nproc) cores, kernel $(uname -r), $(runc --version | sed -n 1p)"
printf '%-44s %10s %10s %10s\n' "" before after "ratio a/b"
line() { # LABEL FILE_STEM
  printf '%-44s %10s %10s %10s\n' "$1" "$(median <"$work/$2-before")" "$(median <"$work/$2-after")" \
    "$(printf '%.2f' "$(ratios "$work/$2-before" "$work/$2-after")")"
}
line "cold apply, 50 replicas, ms (median of $rounds)" cold
line "delete, 50 replicas, ms (median of $rounds)" delete
line "no-op apply, 200 running, ms (median of $noop_runs)" noop
printf '%-44s %10s %10s %10s\n' "no-op apply, 200 running, instructions" "$(ir before)" "$(ir after)" \
  "$(awk -v a="$(ir after)" -v b="$(ir before)" 'BEGIN {printf "%.2f", a / b}')"
printf '%-44s %10s %10s %10s\n' "no-op apply, 200 running, system calls" "$(sc before)" "$(sc after)" \
  "$(awk -v a="$(sc after)" -v b="$(sc before)" 'BEGIN {printf "%.2f", a / b}')"
for f in VmRSS Pss; do
  printf '%-44s %10s %10s %10s\n' "zlmon per replica (200 running), $f kB" "$(mem before $f)" \
    "$(mem after $f)" "$(awk -v a="$(mem after $f)" -v b="$(mem before $f)" 'BEGIN {printf "%.2f", a / b}')"
done
echo "per round, before / after: cold $(tr '\n' ' ' <"$work/cold-before")/ $(tr '\n' ' ' <"$work/cold-after")"
echo "  delete $(tr '\n' ' ' <"$work/delete-before")/ $(tr '\n' ' ' <"$work/delete-after")"
echo "  no-op $(tr '\n' ' ' <"$work/noop-before")/ $(tr '\n' ' ' <"$work/noop-after")"
