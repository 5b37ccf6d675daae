#!/usr/bin/env bash
# Benchmark: real containers (oci backend, runc here).
#  1. cold apply of 50 replicas vs 50 x (runc create + runc start) of the
#     same kind of bundle, alternating in COLD_ROUNDS (3) rounds after a
#     warm-up, medians (target ratio <= 1.3). Each runc container has a
#     bundle of its own, as each replica has: its own overlay rootfs (own
#     upper and work dirs over the image's layers) and its own cgroup
#     (runc makes it, as for a replica); the bundles are made once, outside
#     the timing;
#  2. no-op apply with 200 running replicas: median time (target <= 100 ms)
#     and the number of processes it spawns (target 0);
#  3. zlmon memory per replica (VmRSS target <= 1 MB; Pss reported too).
# Usage: bench/oci-apply.sh [BUILD_DIR] [RUNS]   (as root)
# Its own state root (under /tmp), bridge zlo<pid%1000> and subnet
# BENCH_SUBNET (default 10.216.251.0/24, outside the default 10.213.0.0/16:
# a live zl0 keeps its routes); all removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
runs=${2:-9}
zl=$(realpath "$build/cli/zlapply")
export ZLMON_BIN=$(realpath "$build/backends/monitor/zlmon")
bridge=zlo$(( $$ % 1000 ))
subnet=${BENCH_SUBNET:-10.216.251.0/24}
net=(--bridge "$bridge" --subnet "$subnet")
command -v strace >/dev/null || { echo "bench: strace missing (apt-get install strace)" >&2; exit 1; }

work=$(mktemp -d /tmp/zlapply-oci-bench.XXXXXX)
root=$work/root
cleanup() {
  "$zl" --root "$root" "${net[@]}" -q delete -d bench50 >/dev/null 2>&1 || true
  "$zl" --root "$root" "${net[@]}" -q delete -d bench200 >/dev/null 2>&1 || true
  for i in $(seq 1 50); do
    runc delete -f "zlb-base-$i" >/dev/null 2>&1 || true
    umount "$work/base-$i/rootfs" 2>/dev/null || true
  done
  iptables -w -t nat -D POSTROUTING -s "$subnet" ! -o "$bridge" -m comment --comment zlapply -j MASQUERADE 2>/dev/null || true
  ip link del "$bridge" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
scripts/build-example-image "$work/image" >/dev/null
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

spec() { # NAME REPLICAS
  cat <<YAML
version: v1
deployment: $1
services:
  app:
    image: { name: "oci:$work/image:1.0", pull_policy: if_not_present }
    command: { args: ["/bin/sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"] }
    stop_grace_period: 2s
    # Containers only: bench/net.sh measures the per-replica network set-up.
    network_mode: $3
    scale: { mode: fixed, replicas: $2 }
YAML
}
spec bench50 50 none >"$work/b50.yaml"
spec bench200 200 default >"$work/b200.yaml"

# Pull once so the cold apply measures containers, not the image copy.
"$zl" --root "$root" -q pull "oci:$work/image:1.0" >/dev/null

# 1. cold start of 50 replicas, zlapply against runc by hand, alternating
#    in rounds (this machine's timing drifts; one round of each would not
#    compare like with like). Round 0 also makes the bundles for runc.
cold_rounds=${COLD_ROUNDS:-3}
: >"$work/zl_cold"; : >"$work/runc_cold"
for round in $(seq 0 "$cold_rounds"); do
  # 1a. zlapply: 50 replicas from nothing.
  t=$(date +%s%N)
  "$zl" --root "$root" "${net[@]}" --backend oci -q -f "$work/b50.yaml"
  [ "$round" -gt 0 ] && ms "$t" >>"$work/zl_cold"
  if [ "$round" -eq 0 ]; then
    # the same work by hand: 50 bundles like the replicas' (an overlay
    # rootfs each + its config.json with its own rootfs and cgroup), then
    # runc create + start 50 times.
    # lowerdir=A:B (mount(2)) or one lowerdir+=X per layer (the new mount
    # API); awk reads on: no SIGPIPE under pipefail.
    lower=$(awk -v m="$root/containers/zl-bench50-app-1/rootfs" '$2 == m {print $4; exit}' /proc/mounts |
      grep -oE 'lowerdir\+?=[^,]*' | cut -d= -f2- | paste -sd:)
    for i in $(seq 1 50); do
      b=$work/base-$i
      mkdir -p "$b"/{upper,work,rootfs}
      mount -t overlay overlay -o "lowerdir=$lower,upperdir=$b/upper,workdir=$b/work" "$b/rootfs"
      jq --arg r "$b/rootfs" --arg c "/zlbench/base-$i" '.root.path = $r | .linux.cgroupsPath = $c' \
        "$root/containers/zl-bench50-app-1/config.json" >"$b/config.json"
    done
  fi
  # 1b. runc create + start x50 (zlapply's 50 still run, as they always
  # did: the bundles use the image's layers, which the replicas hold).
  t=$(date +%s%N)
  for i in $(seq 1 50); do
    runc create --bundle "$work/base-$i" --pid-file "$work/base-$i/pid" "zlb-base-$i" </dev/null >/dev/null 2>&1
    runc start "zlb-base-$i"
  done
  [ "$round" -gt 0 ] && ms "$t" >>"$work/runc_cold"
  for i in $(seq 1 50); do runc delete -f "zlb-base-$i" >/dev/null 2>&1 || true; done
  "$zl" --root "$root" "${net[@]}" -q delete -d bench50 >/dev/null
done
zl_cold=$(median <"$work/zl_cold")
runc_cold=$(median <"$work/runc_cold")

# 2. no-op apply with 200 running replicas.
"$zl" --root "$root" "${net[@]}" --backend oci -q -f "$work/b200.yaml"
: >"$work/noop"
for _ in $(seq 1 "$runs"); do
  t=$(date +%s%N)
  "$zl" --root "$root" "${net[@]}" --backend oci -q -f "$work/b200.yaml"
  ms "$t" >>"$work/noop"
done
noop=$(median <"$work/noop")
strace -f -qq -e trace=execve,clone,clone3,fork,vfork -o "$work/strace" \
  "$zl" --root "$root" "${net[@]}" --backend oci -q -f "$work/b200.yaml"
spawned=$(grep -cE 'clone|fork' "$work/strace" || true)

# 3. zlmon memory.
rss_kb=0; pss_kb=0; n=0
for pid in $(pgrep -f "zlmon --ready-fd [0-9]+ --id zl-bench200-"); do
  rss_kb=$((rss_kb + $(awk '/^VmRSS/ {print $2}' /proc/$pid/status)))
  pss_kb=$((pss_kb + $(awk '/^Pss:/ {print $2}' /proc/$pid/smaps_rollup)))
  n=$((n + 1))
done

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r), $(runc --version | sed -n 1p)"
echo "cold apply, 50 replicas (medians of $cold_rounds alternating rounds): zlapply ${zl_cold} ms; runc create+start x50 ${runc_cold} ms; ratio $(awk "BEGIN {printf \"%.2f\", $zl_cold/$runc_cold}")"
echo "no-op apply, 200 running replicas: median ${noop} ms over ${runs} runs; processes spawned: ${spawned}"
echo "zlmon per replica ($n monitors): VmRSS $((rss_kb / n)) kB, Pss $((pss_kb / n)) kB"
