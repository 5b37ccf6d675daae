#!/usr/bin/env bash
# Two builds side by side in one run: runs bench/SCRIPT with BEFORE_BUILD
# and with AFTER_BUILD, alternating, for ROUNDS rounds (odd rounds BEFORE
# first, even rounds AFTER first, so neither always runs on a warmer
# machine), keeps every output, and prints for each figure the value of
# every round, each build's median and the median of the per-round ratios
# after / before (the figure to quote on a noisy machine).
#
# Usage: bench/ab.sh SCRIPT BEFORE_BUILD AFTER_BUILD ROUNDS [SCRIPT ARGS...]
#   SCRIPT: mock-apply.sh, oci-apply.sh, net.sh or pull.sh; each is called
#   as bench/SCRIPT BUILD [SCRIPT ARGS...] (environment passed through).
#   env: AB_OUT (directory for the outputs; default a new /tmp directory,
#   kept).
# Example: bench/ab.sh mock-apply.sh /tmp/old/build build 6 15
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 4 ] || { sed -n '2,15p' "$0" >&2; exit 2; }
script=$1 before=$(realpath "$2") after=$(realpath "$3") rounds=$4
shift 4
[ -x "bench/$script" ] || { echo "ab: no bench/$script" >&2; exit 2; }
out=${AB_OUT:-$(mktemp -d /tmp/zlapply-ab.XXXXXX)}
mkdir -p "$out"

# figures FILE: "name value" lines from one output of SCRIPT.
figures() {
  case $script in
  mock-apply.sh) sed -nE \
    -e 's/^cold apply: +([0-9]+) ms, peak RSS [0-9]+ MiB \(([0-9]+) KiB\).*/cold_apply_ms \1\ncold_peak_rss_kib \2/p' \
    -e 's/^no-op apply: median ([0-9.]+) ms .*peak RSS [0-9]+ MiB \(([0-9]+) KiB\).*/noop_apply_ms \1\nnoop_peak_rss_kib \2/p' \
    -e 's/^no-op apply under callgrind: ([0-9]+) instructions.*/noop_apply_instructions \1/p' "$1" ;;
  oci-apply.sh) sed -nE \
    -e 's/^cold apply.*: zlapply ([0-9.]+) ms; runc create\+start x50 ([0-9.]+) ms; ratio ([0-9.]+).*/cold50_zlapply_ms \1\ncold50_runc_ms \2\ncold50_ratio_zlapply_runc \3/p' \
    -e 's/^no-op apply, 200 running replicas: median ([0-9.]+) ms .*processes spawned: ([0-9]+).*/noop200_ms \1\nnoop200_processes \2/p' \
    -e 's/^zlmon per replica.*: VmRSS ([0-9]+) kB, Pss ([0-9]+) kB.*/zlmon_vmrss_kb \1\nzlmon_pss_kb \2/p' "$1" ;;
  net.sh) sed -nE \
    -e 's/^zlapply apply +bridge ([0-9.]+) ms, none ([0-9.]+) ms: network set-up (-?[0-9.]+) ms.*/apply_bridge_ms \1\napply_none_ms \2\nsetup_ms_per_replica \3/p' \
    -e 's/^zlapply delete bridge ([0-9.]+) ms, none ([0-9.]+) ms: network teardown (-?[0-9.]+) ms.*/delete_bridge_ms \1\ndelete_none_ms \2\nteardown_ms_per_replica \3/p' \
    -e 's/^ip by hand: set-up ([0-9.]+) ms\/replica, teardown ([0-9.]+) ms.*/ip_setup_ms_per_replica \1\nip_teardown_ms_per_replica \2/p' \
    -e 's/^net\/ in-process.*setup avg ([0-9.]+) ms.*/lib_setup_ms_per_replica \1/p' "$1" ;;
  pull.sh) sed -nE \
    -e 's/^zlapply pull +median ([0-9]+) ms.*/zlapply_pull_ms \1/p' \
    -e 's/^skopeo \+ umoci +median ([0-9]+) ms.*/skopeo_umoci_ms \1/p' \
    -e 's/^ratio +([0-9.]+).*/ratio_zlapply_skopeo \1/p' "$1" ;;
  *) echo "ab: no figures known for $script" >&2; return 1 ;;
  esac
}

echo "ab: $script, before $before, after $after, $rounds rounds; outputs in $out" >&2
for r in $(seq 1 "$rounds"); do
  if [ $((r % 2)) -eq 1 ]; then order="before after"; else order="after before"; fi
  for which in $order; do
    if [ "$which" = before ]; then b=$before; else b=$after; fi
    f=$out/round$r-$which.out
    "bench/$script" "$b" "$@" >"$f" 2>"$out/round$r-$which.err" ||
      { echo "ab: round $r $which failed, see $out/round$r-$which.err" >&2; exit 1; }
    figures "$f" >"$out/round$r-$which.fig"
    echo "ab: round $r $which: $(tr '\n' ' ' <"$out/round$r-$which.fig")" >&2
  done
done

/usr/bin/python3 - "$out" "$rounds" <<'PY'
import statistics as st, sys
out, rounds = sys.argv[1], int(sys.argv[2])
def load(r, w):
    d = {}
    for line in open(f"{out}/round{r}-{w}.fig"):
        k, v = line.split()
        d[k] = float(v)
    return d
rs = [(load(r, "before"), load(r, "after")) for r in range(1, rounds + 1)]
names = [k for k in rs[0][0]]
fmt = lambda x: f"{x:.0f}" if abs(x) >= 100 else f"{x:.2f}"
print(f"{'figure':28} {'before (per round)':>30} {'after (per round)':>30} {'median b':>10} {'median a':>10} {'ratio a/b':>9}")
for k in names:
    b = [x[0][k] for x in rs if k in x[0]]
    a = [x[1][k] for x in rs if k in x[1]]
    ratios = [x[1][k] / x[0][k] for x in rs if k in x[0] and k in x[1] and x[0][k] > 0]
    ratio = f"{st.median(ratios):.2f}" if ratios else "-"
    print(f"{k:28} {' '.join(fmt(v) for v in b):>30} {' '.join(fmt(v) for v in a):>30} "
          f"{fmt(st.median(b)):>10} {fmt(st.median(a)):>10} {ratio:>9}")
PY
