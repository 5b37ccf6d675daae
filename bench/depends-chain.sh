#!/usr/bin/env bash
# Benchmark: a long `depends` chain (N services, each depending on the one
# before) on the mock backend, with two zlapply builds side by side in one
# run: BEFORE (e.g. a build of an older commit) and AFTER. For each build and
# size: validate, apply --dry-run (plan), the cold apply (N creates, each
# gated on its dependency) and the no-op apply: milliseconds, and the read
# and write system calls of the cold apply (/proc/PID/io: work counted, not
# timed). Linear means 2,000 services cost twice what 1,000 do.
# Usage: bench/depends-chain.sh BEFORE_BUILD AFTER_BUILD [SIZES] [RUNS]
#   SIZES: quoted list, default "1000 2000"; RUNS: cold applies per size and
#   build, alternating builds (default 3; medians)
set -euo pipefail
cd "$(dirname "$0")/.."
before=$(realpath "$1")
after=$(realpath "$2")
sizes=${3:-1000 2000}
runs=${4:-3}
command -v python3 >/dev/null || { echo "bench: python3 missing (scripts/setup)" >&2; exit 1; }

work=$(mktemp -d /tmp/zlapply-depends-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

chain() {
  echo "version: v1"
  echo "deployment: chain"
  echo "services:"
  for i in $(seq 1 "$1"); do
    printf '  s%d:\n    image: {name: "busybox:1"}\n    scale: {mode: fixed, replicas: 1}\n' "$i"
    [ "$i" -gt 1 ] && printf '    depends:\n      - {service: s%d, condition: started}\n' $((i - 1))
  done
}

# measure ZLAPPLY ARGS...: prints "<ms> <read+write syscalls>" of one run.
measure() {
  python3 - "$@" <<'PY'
import os, subprocess, sys, time
t0 = time.monotonic()
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOWAIT)
ms = (time.monotonic() - t0) * 1000
io = dict(l.split(": ") for l in open("/proc/%d/io" % p.pid).read().split("\n") if l)
if p.wait() != 0:
    sys.exit("bench: %s failed" % " ".join(sys.argv[1:]))
print("%d %d" % (ms, int(io["syscr"]) + int(io["syscw"])))
PY
}

echo "machine: $(nproc) cores, $(uname -r), $(df -T /tmp | awk 'NR==2 {print $2}') /tmp"
printf '%-6s %-6s %10s %10s %12s %14s %10s\n' build N validate dry-run "cold apply" "cold syscalls" no-op
for n in $sizes; do
  chain "$n" >"$work/chain-$n.yaml"
  for b in before after; do : >"$work/$b-$n.cold"; : >"$work/$b-$n.io"; done
  for r in $(seq 1 "$runs"); do
    for b in before after; do
      dir=$before; [ "$b" = after ] && dir=$after
      root=$work/root-$b-$n-$r
      read -r ms io < <(measure "$dir/cli/zlapply" --root "$root" --backend mock -q -f "$work/chain-$n.yaml")
      echo "$ms" >>"$work/$b-$n.cold"
      echo "$io" >>"$work/$b-$n.io"
    done
  done
  for b in before after; do
    dir=$before; [ "$b" = after ] && dir=$after
    zl=$dir/cli/zlapply
    read -r v _ < <(measure "$zl" validate -f "$work/chain-$n.yaml")
    read -r d _ < <(measure "$zl" --root "$work/root-$b-$n-1" --backend mock -q apply --dry-run -f "$work/chain-$n.yaml")
    read -r noop _ < <(measure "$zl" --root "$work/root-$b-$n-1" --backend mock -q -f "$work/chain-$n.yaml")
    printf '%-6s %-6s %8s ms %8s ms %9s ms %14s %7s ms\n' "$b" "$n" "$v" "$d" \
      "$(median <"$work/$b-$n.cold")" "$(median <"$work/$b-$n.io")" "$noop"
  done
done
