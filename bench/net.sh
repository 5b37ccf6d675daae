#!/usr/bin/env bash
# Benchmark: per-replica network set-up and teardown (target: set-up < 5 ms).
#  1. zlapply end to end: N replicas on the bridge (network_mode default)
#     against N replicas with network_mode none, same image and command, so
#     the difference per replica is what zlapply's networking costs (netns,
#     veth, address, routes, resolv.conf/hosts, lease) minus the runtime's
#     own netns creation that mode none does instead; apply and delete.
#  2. net/ alone: tests/test_net's 100-replica case (net_replica_setup and
#     net_replica_teardown timed in-process).
#  3. the same steps by hand with `ip` (one process per step), same run:
#     ip netns add; ip link add veth; ip link set netns; rename to eth0;
#     master + up; ip addr add; lo + eth0 up; ip route add default; and
#     ip link del + ip netns del.
# Everything lives on a bench bridge zlb<pid%1000> with 10.216.250.0/24
# (outside the default 10.213.0.0/16: a live zl0 keeps its routes);
# no traffic is sent. Usage: bench/net.sh [BUILD_DIR] [RUNS] [N]  (as root)
# env: BENCH_SUBNET (a /24, default 10.216.250.0/24); BENCH_NO_LIB=1 skips
# part 2 (a build's tests/test_net picks its own subnet: older ones used
# 10.213.<100 + pid%150>.0/24, inside the default).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
runs=${2:-3}
n=${3:-100}
zl=$(realpath "$build/cli/zlapply")
export ZLMON_BIN=$(realpath "$build/backends/monitor/zlmon")
bridge=zlb$(( $$ % 1000 ))
subnet=${BENCH_SUBNET:-10.216.250.0/24}
prefix=${subnet%.0/24}

work=$(mktemp -d /tmp/zlapply-net-bench.XXXXXX)
root=$work/root
cleanup() {
  for d in netbench-bridge netbench-none; do
    "$zl" --root "$root" --backend oci --bridge "$bridge" --subnet "$subnet" -q delete -d "$d" >/dev/null 2>&1 || true
  done
  for i in $(seq 1 "$n"); do
    ip link del "zlbh$i" 2>/dev/null || true
    ip netns del "zlb-$$-$i" 2>/dev/null || true
  done
  iptables -w -t nat -D POSTROUTING -s "$subnet" ! -o "$bridge" -m comment --comment zlapply -j MASQUERADE 2>/dev/null || true
  ip link del "$bridge" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
scripts/build-example-image "$work/image" >/dev/null
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
per() { awk -v a="$1" -v b="$2" -v n="$n" 'BEGIN {printf "%.2f", (a - b) / n}'; }

spec() { # NAME MODE
  cat <<YAML
version: v1
deployment: $1
services:
  app:
    image: { name: "oci:$work/image:1.0" }
    command: { args: ["/bin/sh", "-c", "trap 'exit 0' TERM; sleep 100000 & wait"] }
    stop_grace_period: 2s
    network_mode: $2
    scale: { mode: fixed, replicas: $n }
YAML
}
spec netbench-bridge default >"$work/bridge.yaml"
spec netbench-none none >"$work/none.yaml"
z() { "$zl" --root "$root" --backend oci --bridge "$bridge" --subnet "$subnet" -q "$@"; }
z pull "oci:$work/image:1.0" >/dev/null 2>&1 || "$zl" --root "$root" -q pull "oci:$work/image:1.0" >/dev/null

ab=() an=() db=() dn=()
for r in $(seq 1 "$runs"); do
  t=$(date +%s%N); z -f "$work/bridge.yaml"; ab+=("$(ms "$t")")
  t=$(date +%s%N); z delete -d netbench-bridge; db+=("$(ms "$t")")
  t=$(date +%s%N); z -f "$work/none.yaml"; an+=("$(ms "$t")")
  t=$(date +%s%N); z delete -d netbench-none; dn+=("$(ms "$t")")
done
leftover=$(z doctor 2>/dev/null || true)

# By hand with ip, on the same bridge: it exists after the zlapply runs
# of builds that keep it; newer ones remove it with the last deployment, so
# make it the same way (address .1, up) when it is gone.
if ! ip link show "$bridge" >/dev/null 2>&1; then
  ip link add "$bridge" type bridge
  ip addr add "$prefix.1/24" dev "$bridge"
  ip link set "$bridge" up
fi
hs=() ht=()
for r in $(seq 1 "$runs"); do
  t=$(date +%s%N)
  for i in $(seq 1 "$n"); do
    ns=zlb-$$-$i h=zlbh$i
    ip netns add "$ns"
    ip link add "$h" type veth peer name "zlbp$i"
    ip link set "zlbp$i" netns "$ns"
    ip -n "$ns" link set "zlbp$i" name eth0
    ip link set "$h" master "$bridge"
    ip link set "$h" up
    ip -n "$ns" addr add "$prefix.$((i + 1))/24" dev eth0
    ip -n "$ns" link set lo up
    ip -n "$ns" link set eth0 up
    ip -n "$ns" route add default via "$prefix.1"
  done
  hs+=("$(ms "$t")")
  t=$(date +%s%N)
  for i in $(seq 1 "$n"); do
    ip link del "zlbh$i"
    ip netns del "zlb-$$-$i"
  done
  ht+=("$(ms "$t")")
done

lib=""
if [ -z "${BENCH_NO_LIB:-}" ] && [ -x "$build/tests/test_net" ]; then
  lib=$("$build/tests/test_net" 2>&1 | grep -o '[0-9]* replicas: setup avg.*' | sed -n 1p || true)
fi

mab=$(printf '%s\n' "${ab[@]}" | median) man=$(printf '%s\n' "${an[@]}" | median)
mdb=$(printf '%s\n' "${db[@]}" | median) mdn=$(printf '%s\n' "${dn[@]}" | median)
mhs=$(printf '%s\n' "${hs[@]}" | median) mht=$(printf '%s\n' "${ht[@]}" | median)
echo "replicas per run: $n, runs: $runs (medians)"
echo "zlapply apply  bridge ${mab} ms, none ${man} ms: network set-up $(per "$mab" "$man") ms/replica  (runs: ${ab[*]} / ${an[*]})"
echo "zlapply delete bridge ${mdb} ms, none ${mdn} ms: network teardown $(per "$mdb" "$mdn") ms/replica  (runs: ${db[*]} / ${dn[*]})"
echo "ip by hand: set-up $(per "$mhs" 0) ms/replica, teardown $(per "$mht" 0) ms/replica  (runs: ${hs[*]} / ${ht[*]})"
[ -n "$lib" ] && echo "net/ in-process (tests/test_net): $lib"
echo "doctor after the runs: ${leftover:-?}"
