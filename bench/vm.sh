#!/usr/bin/env bash
# Benchmark: VM replicas (isolation: vm: the oci backend makes the bundle,
# zlvm boots it in QEMU: the Debian guest kernel and zlapply's initramfs
# from /usr/local/lib/zlapply/guest) beside containers (runc) of the same
# image and command, in one run:
#  1. cold start of ONE VM replica vs one container replica of the example
#     busybox image running `echo started; trap "exit 0" TERM; while true;
#     do sleep 1 & wait; done`, both on the bench bridge (so the VM's tap and
#     in-namespace bridge set-up count), the two alternating which goes
#     first, ROUNDS (5) rounds after a warm-up: the time until `zlapply
#     apply` returns (the replica is running), and until its first output
#     line "started" (the line's time in its ctr.log, from the apply's
#     start); medians and the median of the per-round ratios VM / container.
#     For the VM also zlvm's own times from its vm.log (QEMU exec'd, guest
#     ready, first output) and the CPU the start-up took (replica cgroup);
#  2. the same with REPLICAS (5) replicas of one service (scale 5), VM vs
#     containers, PAR_ROUNDS (3) alternating rounds: apply returned, until
#     all of them printed "started", and the CPU their start-up took;
#  3. stop + delete (`zlapply delete`) of the one replica of each round of
#     part 1: SIGTERM goes to the guest's process (zlvm's vm.log, followed
#     through the delete, must say "signal 15 sent to the guest" and "the
#     process ended: exit 0");
#  4. the no-op apply with the REPLICAS VMs running: median of RUNS (15)
#     and the processes it spawns (strace -f);
#  5. memory per VM replica (those REPLICAS, guest memory 256 MiB, the
#     default; then one with resources.memory: 128Mi): Rss and Pss
#     (/proc/PID/smaps_rollup) of QEMU, the zlvm shim (the replica's pid)
#     and its zlmon; QEMU's Rss taken apart (/proc/PID/smaps): the guest
#     RAM block (how much of the guest's memory has been touched), the
#     guest kernel file QEMU keeps mapped, TCG's code buffer, QEMU's binary
#     and libraries, the rest; the cgroup's usage; the CPU idle VMs burn
#     (cgroups, over IDLE_S (5) s); against the containers' sh + zlmon.
# Usage: bench/vm.sh [BUILD_DIR] [RUNS]   (as root; needs qemu-system-x86_64,
#        the guest (scripts/build-vm-guest), runc, strace, jq)
# Its own state root (under /tmp), bridge zlbv<pid%1000> and subnet
# BENCH_SUBNET (default 10.216.253.0/24, outside the default
# 10.213.0.0/16). A container replica (bv-anchor) keeps the bridge up for
# the whole run, so no apply pays for the bridge or its NAT rule. All of it
# is removed at the end, and the end checks that no QEMU, zlvm shim, zlmon,
# network namespace (the tap lives in it), /run/zlvm/<id> or cgroup of the
# run is left. It runs copies of BUILD_DIR's zlapply, zlvm and zlmon (in
# its work dir), so a rebuild meanwhile does not change them mid-run.
# env: ROUNDS, PAR_ROUNDS, REPLICAS, IDLE_S, BENCH_SUBNET. About 2 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
runs=${2:-15}
rounds=${ROUNDS:-5}
par_rounds=${PAR_ROUNDS:-3}
n=${REPLICAS:-5}
idle_s=${IDLE_S:-5}
bridge=zlbv$(( $$ % 1000 ))
subnet=${BENCH_SUBNET:-10.216.253.0/24}
net=(--bridge "$bridge" --subnet "$subnet")
for tool in strace jq runc qemu-system-x86_64; do
  command -v "$tool" >/dev/null || { echo "bench: $tool missing (scripts/setup installs it)" >&2; exit 1; }
done

deps=(bv-vm bv-ctr bv-vm5 bv-ctr5 bv-vm128 bv-anchor)
work=$(mktemp -d /tmp/zlapply-vm-bench.XXXXXX)
root=$work/root
# The build's binaries, copied: a rebuild while this runs (another
# session's ninja) cannot swap them mid-run. zlapply finds zlvm beside it.
# A copy taken while the linker writes one is empty or not executable: try
# again (for up to 30 s) until each copy is an ELF file that runs.
mkdir "$work/bin"
runs_ok() { # FILE ARGS...: an ELF file that runs (any exit below 126)
  local rc=0
  [ "$(head -c4 "$1" 2>/dev/null | tail -c3)" = ELF ] || return 1
  "$@" >/dev/null 2>&1 || rc=$?
  [ "$rc" -lt 126 ]
}
for try in $(seq 1 15); do
  rm -f "$work/bin/"*
  if cp "$build/cli/zlapply" "$build/backends/vm/zlvm" "$build/backends/monitor/zlmon" "$work/bin/" 2>/dev/null &&
    runs_ok "$work/bin/zlapply" version && runs_ok "$work/bin/zlvm" accel && runs_ok "$work/bin/zlmon"; then
    break
  fi
  [ "$try" = 15 ] && { echo "bench: cannot copy runnable binaries from $build" >&2; exit 1; }
  sleep 2
done
zl=$work/bin/zlapply
zlvm=$work/bin/zlvm
export ZLMON_BIN=$work/bin/zlmon
zlr() { "$zl" --root "$root" "${net[@]}" "$@"; }
# What of this run is still there: processes whose command line names the
# root (zlmon, the zlvm shim, QEMU: its -fsdev path), zlvm state dirs,
# network namespaces (each VM's tap and in-namespace bridge live in its
# replica's), cgroups, the bridge's ports. Prints one line per kind found.
leftovers() {
  local pids dirs ns cg ports
  pids=$(pgrep -f -- "$root/" || true)
  [ -n "$pids" ] && echo "processes: $(ps -o pid=,comm= -p "$(echo $pids | tr ' ' ,)" | tr -s ' ' | paste -sd,)"
  dirs=$(ls -d /run/zlvm/zl-bv-* 2>/dev/null || true)
  [ -n "$dirs" ] && echo "zlvm state: $(echo $dirs)"
  ns=$(ip netns list 2>/dev/null | awk '$1 ~ /^zl-bv-/ {print $1}')
  [ -n "$ns" ] && echo "netns: $(echo $ns)"
  cg=$(find /sys/fs/cgroup/ -maxdepth 3 -type d -name 'zl-bv-*' 2>/dev/null || true)
  [ -n "$cg" ] && echo "cgroups: $(echo "$cg" | wc -l) ($(echo "$cg" | head -2 | paste -sd' '))"
  ports=$(ip -o link show master "$bridge" 2>/dev/null | awk -F': ' '{print $2}' || true)
  [ -n "$ports" ] && echo "ports on $bridge: $(echo $ports)"
  return 0
}
cleanup() {
  local d left pids id
  for d in "${deps[@]}"; do zlr -q delete -d "$d" >/dev/null 2>&1 || true; done
  left=$(leftovers)
  if [ -n "$left" ]; then
    echo "cleanup check: LEFTOVERS after delete:"
    echo "$left" | sed 's/^/  /'
    pids=$(pgrep -f -- "$root/" || true)
    [ -n "$pids" ] && kill -9 $pids 2>/dev/null || true
    for d in /run/zlvm/zl-bv-*; do
      [ -d "$d" ] || continue
      id=${d##*/}
      "$zlvm" delete --force "$id" >/dev/null 2>&1 || true
    done
    for d in $(ip netns list 2>/dev/null | awk '$1 ~ /^zl-bv-/ {print $1}'); do ip netns del "$d" 2>/dev/null || true; done
    find /sys/fs/cgroup/ -maxdepth 3 -depth -type d -name 'zl-bv-*' -exec rmdir {} \; 2>/dev/null || true
  else
    echo "cleanup check: nothing left (no QEMU, zlvm shim, zlmon, netns/tap, /run/zlvm/<id>, cgroup or bridge port of this run)"
  fi
  iptables -w -t nat -D POSTROUTING -s "$subnet" ! -o "$bridge" -m comment --comment zlapply -j MASQUERADE 2>/dev/null || true
  ip link del "$bridge" 2>/dev/null || true
  grep -qs "$root" /proc/mounts && awk -v r="$root" 'index($2, r) == 1 {print $2}' /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s%N; }
ms() { echo $(( ($(now) - $1) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {if (NR == 0) print "-"; else print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
ratio() { awk "BEGIN {printf \"%.2f\", $1/$2}"; }
iso_ns() { date -d "$1" +%s%N; }

scripts/build-example-image "$work/image" >/dev/null
cmd="echo started; trap 'exit 0' TERM; while true; do sleep 1 & wait; done"
svc() { # NAME REPLICAS ISOLATION [MEMORY]
  cat <<YAML
  $1:
    isolation: $3
    image: { name: "oci:$work/image:1.0", pull_policy: if_not_present }
    command: { args: ["/bin/sh", "-c", "$cmd"] }
    stop_grace_period: 5s
    scale: { mode: fixed, replicas: $2 }
YAML
  [ -n "${4:-}" ] && printf '    resources: { memory: %s }\n' "$4"
  return 0
}
spec() { # DEPLOYMENT REPLICAS ISOLATION [MEMORY]
  printf 'version: v1\ndeployment: %s\nservices:\n' "$1"
  svc app "$2" "$3" "${4:-}"
}
spec bv-vm 1 vm >"$work/vm.yaml"
spec bv-ctr 1 process >"$work/ctr.yaml"
spec bv-vm5 "$n" vm >"$work/vm5.yaml"
spec bv-ctr5 "$n" process >"$work/ctr5.yaml"
spec bv-vm128 1 vm 128Mi >"$work/vm128.yaml"
spec bv-anchor 1 process >"$work/anchor.yaml"
sed -i 's/echo started; //' "$work/anchor.yaml"

# Pull once (so no apply copies the image) and keep the bridge up.
"$zl" --root "$root" -q pull "oci:$work/image:1.0" >/dev/null
zlr --backend oci -q -f "$work/anchor.yaml"

dir_of() { echo "$root/containers/zl-$1-app-$2"; } # DEP N
# Waits until every replica's ctr.log has a "started" line (at most
# TIMEOUT seconds); prints the latest such line's time (ns since the
# epoch), or "timeout:K/N".
wait_started() { # TIMEOUT DIRS...
  local deadline=$(( $(now) + $1 * 1000000000 )) got latest
  shift
  while :; do
    got=$(grep -l -F -m1 '"text":"started' "${@/%//ctr.log}" 2>/dev/null | wc -l || true)
    [ "$got" -ge $# ] && break
    [ "$(now)" -gt "$deadline" ] && { echo "timeout:$got/$#"; return; }
    sleep 0.02
  done
  latest=$(for d in "$@"; do grep -F -m1 '"text":"started' "$d/ctr.log"; done |
    sed 's/.*"time":"\([^"]*\)".*/\1/' | sort | tail -1)
  iso_ns "$latest"
}
status_json() { "$zl" --root "$root" status -o json; }
# cgroup CPU (ms) of each replica of DEP, one a line
cpu_of() { status_json | jq -r --arg d "$1" '.replicas[] | select(.deployment == $d) | (.cpu_usage_ns // 0) / 1000000 | floor'; }
errors=0

# 1 + 3. one replica, VM vs container, alternating; each round deletes it.
for f in vm_ret vm_first ctr_ret ctr_first vm_del ctr_del ret_ratio first_ratio del_ratio \
  vm_qemu vm_ready vm_out vm_cpu ctr_cpu vm_sig vm_term_exit vm_qemu_end; do : >"$work/$f"; done
one() { # KIND (vm|ctr) ROUND
  local kind=$1 round=$2 dep=bv-$1 d t ret first del tp line q wait_s=90
  d=$(dir_of "$dep" 1)
  t=$(now)
  zlr --backend oci -q -f "$work/$kind.yaml" || { echo "bench: round $round: apply of one $kind failed" >&2; errors=$((errors + 1)); wait_s=3; }
  ret=$(ms "$t")
  first=$(wait_started "$wait_s" "$d")
  case $first in
  timeout:*) echo "bench: round $round: $kind printed nothing in $wait_s s" >&2; errors=$((errors + 1)); first=-1 ;;
  *) first=$(( (first - t) / 1000000 )) ;;
  esac
  if [ "$round" -gt 0 ]; then
    echo "$ret" >>"$work/${kind}_ret"; echo "$first" >>"$work/${kind}_first"
    cpu_of "$dep" >>"$work/${kind}_cpu"
    if [ "$kind" = vm ]; then
      # zlvm's times: QEMU exec'd (from the apply's start), guest ready and
      # first output (from QEMU's start)
      line=$(grep -m1 ' QEMU [0-9]* started' "$d/vm.log" || true)
      [ -n "$line" ] && echo $(( ($(iso_ns "${line%% *}") - t) / 1000000 )) >>"$work/vm_qemu"
      grep -m1 -o 'guest ready [0-9]*' "$d/vm.log" | awk '{print $3}' >>"$work/vm_ready" || true
      grep -m1 -o 'first output [0-9]*' "$d/vm.log" | awk '{print $3}' >>"$work/vm_out" || true
    fi
  fi
  # the delete; for the VM, its vm.log followed through it (tail -f keeps
  # the file open once the replica's directory is removed)
  tp=""
  if [ "$kind" = vm ]; then
    tail -f -n 0 "$d/vm.log" >"$work/stoplog" 2>/dev/null &
    tp=$!
    sleep 0.1
  fi
  t=$(now)
  zlr -q delete -d "$dep" >/dev/null || { echo "bench: round $round: delete of $kind failed" >&2; errors=$((errors + 1)); }
  del=$(ms "$t")
  if [ -n "$tp" ]; then
    sleep 0.2
    kill "$tp" 2>/dev/null || true
    wait "$tp" 2>/dev/null || true
    if [ "$round" -gt 0 ]; then
      grep -c 'signal 15 sent to the guest' "$work/stoplog" >>"$work/vm_sig" || true
      grep -c 'the process ended: exit 0 signal 0' "$work/stoplog" >>"$work/vm_term_exit" || true
      # QEMU's end, from the delete's start
      line=$(grep -m1 'QEMU ended' "$work/stoplog" || true)
      [ -n "$line" ] && echo $(( ($(iso_ns "${line%% *}") - t) / 1000000 )) >>"$work/vm_qemu_end"
    fi
    [ "$round" -eq 1 ] && cp "$work/stoplog" "$work/stoplog.1"
  fi
  [ "$round" -gt 0 ] && echo "$del" >>"$work/${kind}_del"
  echo "  round $round, $kind: apply returned ${ret} ms, first line ${first} ms, delete ${del} ms" >&2
  eval "last_${kind}_ret=$ret last_${kind}_first=$first last_${kind}_del=$del"
}
echo "1. one replica, VM vs container; round 0 is the warm-up:" >&2
# shellcheck disable=SC2154 # last_* are set by one()'s eval
for round in $(seq 0 "$rounds"); do
  if [ $((round % 2)) -eq 0 ]; then order="vm ctr"; else order="ctr vm"; fi
  for kind in $order; do one "$kind" "$round"; done
  if [ "$round" -gt 0 ]; then
    ratio "$last_vm_ret" "$last_ctr_ret" >>"$work/ret_ratio"; echo >>"$work/ret_ratio"
    ratio "$last_vm_first" "$last_ctr_first" >>"$work/first_ratio"; echo >>"$work/first_ratio"
    ratio "$last_vm_del" "$last_ctr_del" >>"$work/del_ratio"; echo >>"$work/del_ratio"
  fi
done

# 2. REPLICAS of one service, VM vs container, alternating.
for f in vm5_ret vm5_all ctr5_ret ctr5_all ret5_ratio all5_ratio vm5_del ctr5_del vm5_cpu ctr5_cpu; do : >"$work/$f"; done
many() { # KIND (vm5|ctr5) ROUND KEEP
  local kind=$1 round=$2 keep=$3 dep=bv-$1 t ret all del dirs=() i wait_s=120
  for i in $(seq 1 "$n"); do dirs+=("$(dir_of "$dep" "$i")"); done
  t=$(now)
  zlr --backend oci -q -f "$work/$kind.yaml" || { echo "bench: round $round: apply of $n $kind failed" >&2; errors=$((errors + 1)); wait_s=3; }
  ret=$(ms "$t")
  all=$(wait_started "$wait_s" "${dirs[@]}")
  case $all in
  timeout:*) echo "bench: round $round: $kind: only ${all#timeout:} printed \"started\" in $wait_s s" >&2; errors=$((errors + 1)); all=-1 ;;
  *) all=$(( (all - t) / 1000000 )) ;;
  esac
  cpu_of "$dep" | awk '{s += $1} END {print s + 0}' >>"$work/${kind}_cpu"
  del=-
  if [ "$keep" = 0 ]; then
    t=$(now)
    zlr -q delete -d "$dep" >/dev/null || { echo "bench: delete of $kind failed" >&2; errors=$((errors + 1)); }
    del=$(ms "$t")
    echo "$del" >>"$work/${kind}_del"
  fi
  echo "$ret" >>"$work/${kind}_ret"; echo "$all" >>"$work/${kind}_all"
  echo "  round $round, $n x $kind: apply returned ${ret} ms, all printed started ${all} ms, delete ${del} ms" >&2
  eval "last_${kind}_ret=$ret last_${kind}_all=$all"
}
echo "2. $n replicas, VM vs container:" >&2
# shellcheck disable=SC2154 # last_* are set by many()'s eval
for round in $(seq 1 "$par_rounds"); do
  if [ $((round % 2)) -eq 1 ]; then order="vm5 ctr5"; else order="ctr5 vm5"; fi
  # the last round keeps both running for parts 4 and 5 (the VMs last)
  keep=0; [ "$round" -eq "$par_rounds" ] && keep=1 && order="ctr5 vm5"
  for kind in $order; do many "$kind" "$round" "$keep"; done
  ratio "$last_vm5_ret" "$last_ctr5_ret" >>"$work/ret5_ratio"; echo >>"$work/ret5_ratio"
  ratio "$last_vm5_all" "$last_ctr5_all" >>"$work/all5_ratio"; echo >>"$work/all5_ratio"
done

# 4. no-op apply with the REPLICAS VMs running.
sleep 2
: >"$work/noop"
for _ in $(seq 1 "$runs"); do
  t=$(now)
  zlr --backend oci -q -f "$work/vm5.yaml"
  ms "$t" >>"$work/noop"
done
strace -f -qq -e trace=execve,clone,clone3,fork,vfork -o "$work/strace" \
  "$zl" --root "$root" "${net[@]}" --backend oci -q -f "$work/vm5.yaml"
spawned=$(grep -cE 'clone|fork' "$work/strace" || true)
execs=$(( $(grep -c 'execve(' "$work/strace" || true) - 1 )) # less zlapply's own

# 5. memory per replica: the VMs' QEMU, shim and zlmon; the containers'
#    sh and zlmon.
kb() { awk -v k="$2" '$1 == k":" {print $2; exit}' "/proc/$1/smaps_rollup"; }
# Rss (kB) of QEMU's parts: the guest RAM block (the anonymous mapping of
# the guest's size, GUEST_KB), the guest kernel file (QEMU keeps vmlinux
# mapped, private: its page cache, shared by every QEMU), TCG's code
# buffer (the largest rwx mapping: reserved, touched as code is translated)
qemu_parts() { # PID GUEST_KB -> ram_rss vmlinux_rss tcg_rss files_rss
  awk -v g="$2" '/^[0-9a-f]+-[0-9a-f]+ / {m++; perm[m] = $2; file[m] = $6}
    $1 == "Size:" {s[m] = $2} $1 == "Rss:" {r[m] = $2}
    END {
      for (i = 1; i <= m; i++) {
        if (s[i] == g && file[i] == "" && ram == "") ram = r[i]
        if (file[i] ~ /vmlinu/) k += r[i]
        else if (file[i] ~ /^\//) f += r[i]
        if (perm[i] ~ /x/ && file[i] == "" && s[i] > ts) {ts = s[i]; t = r[i]}
      }
      print (ram == "" ? -1 : ram), k + 0, t + 0, f + 0
    }' "/proc/$1/smaps"
}
mem_rows() { # DEP KIND(vm|ctr) -> kind shim_rss shim_pss mon_rss mon_pss q_rss q_pss guest_kb ram_rss vmlinux_rss tcg_rss files_rss cg_kb comm
  status_json | jq -r --arg d "$1" '.replicas[] | select(.deployment == $d and .state == "running") |
    [.replica, .pid, (.memory_bytes // 0)] | @tsv' |
  while IFS=$'\t' read -r rep pid cg; do
    local mon q g d
    d=$(dir_of "$1" "$rep")
    read -r mon _ <"$d/monitor"
    if [ "$2" = vm ]; then
      q=$(pgrep -P "$pid" | head -1)
      g=$(( $(grep -m1 -o 'starting .*: [0-9]* MiB' "$d/vm.log" | awk '{print $(NF-1)}') * 1024 ))
      echo "$2 $(kb "$pid" Rss) $(kb "$pid" Pss) $(kb "$mon" Rss) $(kb "$mon" Pss) $(kb "$q" Rss) $(kb "$q" Pss) $g $(qemu_parts "$q" "$g") $((cg / 1024)) $(cat "/proc/$q/comm")"
    else
      echo "$2 $(kb "$pid" Rss) $(kb "$pid" Pss) $(kb "$mon" Rss) $(kb "$mon" Pss) 0 0 0 0 0 0 0 $((cg / 1024)) $(cat "/proc/$pid/comm")"
    fi
  done
}
col() { awk -v c="$2" '{print $c}' "$1" | median; }
tot() { awk -v a="$2" -v b="$3" -v c="$4" '{print $a + $b + $c}' "$1" | median; }
# idle CPU: the VMs' cgroups over IDLE_S seconds
cpu_of bv-vm5 | awk '{s += $1} END {print s + 0}' >"$work/idle0"
t=$(now); sleep "$idle_s"
idle_ms=$(( $(cpu_of bv-vm5 | awk '{s += $1} END {print s + 0}') - $(cat "$work/idle0") ))
idle_wall=$(ms "$t")
mem_rows bv-vm5 vm >"$work/mem_vm"
mem_rows bv-ctr5 ctr >"$work/mem_ctr"
vm_comm=$(awk '{print $14}' "$work/mem_vm" | sort | uniq -c | tr -s ' ' | paste -sd,)
zlr -q delete -d bv-ctr5 >/dev/null
zlr -q delete -d bv-vm5 >/dev/null
# one VM with 128 MiB of guest memory
t=$(now)
zlr --backend oci -q -f "$work/vm128.yaml"
m128=$(wait_started 90 "$(dir_of bv-vm128 1)")
case $m128 in timeout:*) errors=$((errors + 1)); m128=-1 ;; *) m128=$(( (m128 - t) / 1000000 )) ;; esac
sleep 2
mem_rows bv-vm128 vm >"$work/mem_128"
vm128_note=$(grep -m1 -o 'starting .*' "$(dir_of bv-vm128 1)/vm.log" || true)
zlr -q delete -d bv-vm128 >/dev/null

vr=$(median <"$work/vm_ret"); vf=$(median <"$work/vm_first")
cr=$(median <"$work/ctr_ret"); cf=$(median <"$work/ctr_first")
echo
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r), $(qemu-system-x86_64 --version | sed -n 1p), $(runc --version | sed -n 1p), guest kernel $(cat /usr/local/lib/zlapply/guest/kernel-version 2>/dev/null || echo '?'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "zlvm accel: $("$zlvm" accel 2>&1)"
echo "errors: $errors"
echo "1. one replica, cold (medians of $rounds alternating rounds after a warm-up):"
echo "   apply returned:      VM ${vr} ms, container ${cr} ms; median ratio VM/container $(median <"$work/ret_ratio")"
echo "   first line started:  VM ${vf} ms, container ${cf} ms; median ratio VM/container $(median <"$work/first_ratio")"
echo "   VM, zlvm's vm.log:   QEMU exec'd $(median <"$work/vm_qemu") ms after the apply's start; guest ready $(median <"$work/vm_ready") ms and first output $(median <"$work/vm_out") ms after QEMU's start"
echo "   CPU of the start-up (replica cgroup, at the first line + a status): VM $(median <"$work/vm_cpu") ms, container $(median <"$work/ctr_cpu") ms"
echo "   rounds (VM ret/first, ctr ret/first): $(paste -d/ "$work/vm_ret" "$work/vm_first" | paste -sd' ') | $(paste -d/ "$work/ctr_ret" "$work/ctr_first" | paste -sd' ')"
echo "2. $n replicas, one service (medians of $par_rounds alternating rounds):"
echo "   apply returned:      VM $(median <"$work/vm5_ret") ms, containers $(median <"$work/ctr5_ret") ms; median ratio $(median <"$work/ret5_ratio")"
echo "   all printed started: VM $(median <"$work/vm5_all") ms, containers $(median <"$work/ctr5_all") ms; median ratio $(median <"$work/all5_ratio")"
echo "   CPU of the start-up, all $n (replica cgroups, at the last first line + a status): VM $(median <"$work/vm5_cpu") ms, containers $(median <"$work/ctr5_cpu") ms"
echo "   delete of $n:         VM $(median <"$work/vm5_del") ms, containers $(median <"$work/ctr5_del") ms ($((par_rounds - 1)) rounds)"
echo "   rounds (VM ret/all, ctr ret/all): $(paste -d/ "$work/vm5_ret" "$work/vm5_all" | paste -sd' ') | $(paste -d/ "$work/ctr5_ret" "$work/ctr5_all" | paste -sd' ')"
echo "3. stop + delete of one replica (medians of $rounds):"
echo "   zlapply delete:      VM $(median <"$work/vm_del") ms, container $(median <"$work/ctr_del") ms; median ratio $(median <"$work/del_ratio")"
echo "   VM: QEMU ended $(median <"$work/vm_qemu_end") ms after the delete's start; SIGTERM sent to the guest in $(awk '{s += $1} END {print s + 0}' "$work/vm_sig")/$rounds rounds, the process ended 'exit 0 signal 0' in $(awk '{s += $1} END {print s + 0}' "$work/vm_term_exit")/$rounds"
echo "   vm.log through round 1's delete:"; sed 's/^/     /' "$work/stoplog.1"
echo "   delete rounds (VM, ctr): $(paste -sd' ' "$work/vm_del") | $(paste -sd' ' "$work/ctr_del")"
echo "4. no-op apply, $n VM replicas running: median $(median <"$work/noop") ms over $runs runs; processes spawned: $spawned (execve: $execs)"
echo "5. memory per replica, kB, medians ($(wc -l <"$work/mem_vm") VMs: $vm_comm; $(wc -l <"$work/mem_ctr") containers):"
memline() { # FILE LABEL
  echo "   $2 QEMU RSS $(col "$1" 6), Pss $(col "$1" 7); of its RSS: guest RAM $(col "$1" 9) of $(col "$1" 8) touched, the guest kernel file $(col "$1" 10) (page cache, shared), TCG's code buffer $(col "$1" 11), QEMU's binary and libraries $(col "$1" 12), the rest (QEMU's heap and buffers) $(awk '{print $6 - $9 - $10 - $11 - $12}' "$1" | median)"
  echo "     shim RSS $(col "$1" 2), Pss $(col "$1" 3); zlmon RSS $(col "$1" 4), Pss $(col "$1" 5); together RSS $(tot "$1" 2 4 6), Pss $(tot "$1" 3 5 7); cgroup usage $(col "$1" 13)"
}
memline "$work/mem_vm" "VM, 256 MiB (default, $(wc -l <"$work/mem_vm") running):"
memline "$work/mem_128" "VM, 128Mi (alone):"
echo "     (128Mi: first line at $m128 ms; vm.log: $vm128_note)"
echo "   container (sh):  RSS $(col "$work/mem_ctr" 2), Pss $(col "$work/mem_ctr" 3); zlmon RSS $(col "$work/mem_ctr" 4), Pss $(col "$work/mem_ctr" 5); together RSS $(tot "$work/mem_ctr" 2 4 6), Pss $(tot "$work/mem_ctr" 3 5 7); cgroup usage $(col "$work/mem_ctr" 13)"
echo "   idle: the $n VMs' cgroups used $idle_ms ms of CPU in $idle_wall ms ($(awk -v c="$idle_ms" -v w="$idle_wall" -v n="$n" 'BEGIN {printf "%.1f", 100 * c / w / n}') % of a core per VM)"
