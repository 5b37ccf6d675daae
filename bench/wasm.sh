#!/usr/bin/env bash
# Benchmark: WASM replicas (wasm backend: node:wasi under zlmon --exec)
# beside containers (oci backend, runc), in one run:
#  1. cold start of 50 WASM replicas (tests/wasm/sleeper.c, args ["3600"])
#     vs 50 containers of the example busybox image running a comparable
#     command (`echo started`, then sleep; network_mode: none), the two
#     alternating which goes first, COLD_ROUNDS (5) rounds after a warm-up:
#     the time until zlapply returns, and the time until every replica has
#     printed "started" (the line's timestamp in its ctr.log, from the
#     apply's start: node starts up after zlapply has returned); medians
#     and the median of the per-round ratios wasm / container;
#  2. no-op apply with 50 WASM + 50 container replicas in ONE deployment:
#     median of RUNS (15) and the processes it spawns (strace -f);
#  3. memory per replica of that deployment: the engine (node) and its zlmon
#     for WASM, the container's sh and its zlmon for containers: Rss and
#     Pss (/proc/PID/smaps_rollup), the replica cgroup's memory usage and
#     the CPU its start-up took (cgroup); medians;
#  4. one cold WASM replica of a module that exits at once
#     (tests/wasm/exit7.c), ONE_ROUNDS (5) times: zlapply apply of it, and
#     the time to its first output line, against the same launcher run by
#     hand on a copy of that replica's wasi.json, and `node -e 0`: how much
#     of a cold start is Node.js's own.
# Usage: bench/wasm.sh [BUILD_DIR] [RUNS]   (as root; needs node, clang with
#        wasm32-wasi (scripts/setup), runc, strace, jq)
# Its own state root (under /tmp), bridge zlw<pid%1000> and subnet
# BENCH_SUBNET (default 10.216.252.0/24, outside the default 10.213.0.0/16;
# no replica here has a network, the flags only keep zl0 out of it); all
# removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
runs=${2:-15}
cold_rounds=${COLD_ROUNDS:-5}
one_rounds=${ONE_ROUNDS:-5}
n=${BENCH_REPLICAS:-50}
zl=$(realpath "$build/cli/zlapply")
export ZLMON_BIN=$(realpath "$build/backends/monitor/zlmon")
bridge=zlw$(( $$ % 1000 ))
subnet=${BENCH_SUBNET:-10.216.252.0/24}
net=(--bridge "$bridge" --subnet "$subnet")
for tool in strace jq node clang runc; do
  command -v "$tool" >/dev/null || { echo "bench: $tool missing (scripts/setup installs it)" >&2; exit 1; }
done

deps=(bw-wasm bw-ctr bw-both bw-one)
work=$(mktemp -d /tmp/zlapply-wasm-bench.XXXXXX)
root=$work/root
zlr() { "$zl" --root "$root" "${net[@]}" "$@"; }
cleanup() {
  local d pids left
  for d in "${deps[@]}"; do zlr -q delete -d "$d" >/dev/null 2>&1 || true; done
  # Anything of this root still running is a leftover of zlapply's: say so,
  # then end it (by pid: only processes whose command line names this root).
  pids=$(pgrep -f -- "$root/" || true)
  if [ -n "$pids" ]; then
    echo "bench: LEFTOVER processes after delete:" >&2
    ps -o pid,ppid,args -p "$(echo $pids | tr ' ' ,)" >&2 || true
    kill -9 $pids 2>/dev/null || true
  fi
  left=$(find /sys/fs/cgroup/*/zlapply -mindepth 1 -maxdepth 1 -type d \
    \( -name 'zl-bw-wasm-*' -o -name 'zl-bw-ctr-*' -o -name 'zl-bw-both-*' -o -name 'zl-bw-one-*' \) 2>/dev/null || true)
  if [ -n "$left" ]; then
    echo "bench: LEFTOVER cgroups after delete: $(echo "$left" | wc -l)" >&2
    echo "$left" | head -5 >&2
    echo "$left" | xargs -r rmdir 2>/dev/null || true
  fi
  iptables -w -t nat -D POSTROUTING -s "$subnet" ! -o "$bridge" -m comment --comment zlapply -j MASQUERADE 2>/dev/null || true
  ip link del "$bridge" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s%N; }
ms() { echo $(( ($(now) - $1) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
ratio() { awk "BEGIN {printf \"%.2f\", $1/$2}"; }

# The modules, compiled as tests/infra/build-wasm-modules.sh does.
clang --target=wasm32-wasi -O2 -o "$work/sleeper.wasm" tests/wasm/sleeper.c
clang --target=wasm32-wasi -O2 -o "$work/exit7.wasm" tests/wasm/exit7.c
scripts/build-example-image "$work/image" >/dev/null

wasm_svc() { # NAME REPLICAS MODULE ARGS...
  local name=$1 reps=$2 mod=$3 args=""
  shift 3
  [ $# -gt 0 ] && args=$(printf '"%s", ' "$@") && args="command: { args: [${args%, }] }"
  cat <<YAML
  $name:
    image: { name: "file:$mod" }
    ${args}
    stop_grace_period: 2s
    scale: { mode: fixed, replicas: $reps }
YAML
}
ctr_svc() { # NAME REPLICAS
  cat <<YAML
  $1:
    image: { name: "oci:$work/image:1.0", pull_policy: if_not_present }
    command: { args: ["/bin/sh", "-c", "echo started; trap 'exit 0' TERM; while true; do sleep 1; done"] }
    stop_grace_period: 2s
    network_mode: none
    scale: { mode: fixed, replicas: $2 }
YAML
}
{ printf 'version: v1\ndeployment: bw-wasm\nservices:\n'; wasm_svc mod "$n" "$work/sleeper.wasm" 3600; } >"$work/wasm.yaml"
{ printf 'version: v1\ndeployment: bw-ctr\nservices:\n'; ctr_svc app "$n"; } >"$work/ctr.yaml"
{ printf 'version: v1\ndeployment: bw-both\nservices:\n'; wasm_svc mod "$n" "$work/sleeper.wasm" 3600; ctr_svc app "$n"; } >"$work/both.yaml"
{ printf 'version: v1\ndeployment: bw-one\nservices:\n'; wasm_svc one 1 "$work/exit7.wasm"; } >"$work/one.yaml"

# Pull once so the cold applies measure replicas, not image copies.
"$zl" --root "$root" -q pull "oci:$work/image:1.0" >/dev/null
"$zl" --root "$root" -q pull "file:$work/sleeper.wasm" >/dev/null
"$zl" --root "$root" -q pull "file:$work/exit7.wasm" >/dev/null

# replica dirs of deployment DEP: <root>/{wasm,containers}/zl-DEP-SVC-N
dirs_of() { # DEP SVC
  local kind=wasm
  [ "$2" = app ] && kind=containers
  ls -d "$root/$kind/zl-$1-$2-"* 2>/dev/null || true
}
# Waits until every replica's ctr.log has a line with TEXT (timeout 120 s);
# prints the latest such line's time (ns since the epoch), or "timeout:K/N".
wait_printed() { # TEXT DIRS...
  local text=$1 deadline=$(( $(now) + 120000000000 )) got latest
  shift
  while :; do
    got=$(grep -l -F -m1 "\"text\":\"$text" "${@/%//ctr.log}" 2>/dev/null | wc -l || true)
    [ "$got" -ge $# ] && break
    [ "$(now)" -gt "$deadline" ] && { echo "timeout:$got/$#"; return; }
    sleep 0.02
  done
  # ISO times (UTC, ms) sort as text; take each log's first such line.
  latest=$(for d in "$@"; do grep -F -m1 "\"text\":\"$text" "$d/ctr.log"; done |
    sed 's/.*"time":"\([^"]*\)".*/\1/' | sort | tail -1)
  date -d "$latest" +%s%N
}

# 1. cold start, 50 WASM vs 50 containers, alternating.
for f in wasm_ret wasm_all ctr_ret ctr_all wasm_del ctr_del cold_ratio all_ratio; do : >"$work/$f"; done
cold_errors=0
cold_one() { # KIND (wasm|ctr) ROUND
  local kind=$1 round=$2 dep svc t ret all del
  if [ "$kind" = wasm ]; then dep=bw-wasm svc=mod; else dep=bw-ctr svc=app; fi
  t=$(now)
  if ! zlr --backend oci -q -f "$work/$kind.yaml"; then
    echo "bench: round $round: apply of $n $kind replicas failed" >&2
    cold_errors=$((cold_errors + 1))
  fi
  ret=$(ms "$t")
  # shellcheck disable=SC2046
  all=$(wait_printed started $(dirs_of "$dep" "$svc"))
  case $all in
  timeout:*) echo "bench: round $round: $kind: only ${all#timeout:} replicas printed \"started\" in 120 s" >&2
    cold_errors=$((cold_errors + 1)); all=-1 ;;
  *) all=$(( (all - t) / 1000000 )) ;;
  esac
  local t2; t2=$(now)
  zlr -q delete -d "$dep" >/dev/null
  del=$(ms "$t2")
  echo "  round $round, $kind: apply returned ${ret} ms, all printed started ${all} ms, delete ${del} ms" >&2
  if [ "$round" -gt 0 ]; then
    echo "$ret" >>"$work/${kind}_ret"; echo "$all" >>"$work/${kind}_all"; echo "$del" >>"$work/${kind}_del"
  fi
  eval "last_${kind}_ret=$ret last_${kind}_all=$all"
}
echo "1. cold start, $n replicas each, round 0 is the warm-up:" >&2
for round in $(seq 0 "$cold_rounds"); do
  if [ $((round % 2)) -eq 0 ]; then order="wasm ctr"; else order="ctr wasm"; fi
  for kind in $order; do cold_one "$kind" "$round"; done
  if [ "$round" -gt 0 ]; then
    ratio "$last_wasm_ret" "$last_ctr_ret" >>"$work/cold_ratio"; echo >>"$work/cold_ratio"
    ratio "$last_wasm_all" "$last_ctr_all" >>"$work/all_ratio"; echo >>"$work/all_ratio"
  fi
done

# 2. no-op apply with 50 + 50 running in one deployment.
t=$(now)
zlr --backend oci -q -f "$work/both.yaml"
both_ret=$(ms "$t")
# shellcheck disable=SC2046
both_all=$(wait_printed started $(dirs_of bw-both mod) $(dirs_of bw-both app))
case $both_all in timeout:*) echo "bench: 50+50: only ${both_all#timeout:} printed \"started\"" >&2; both_all=-1 ;;
*) both_all=$(( (both_all - t) / 1000000 )) ;; esac
sleep 1 # let the engines settle after their start-up
: >"$work/noop"
for _ in $(seq 1 "$runs"); do
  t=$(now)
  zlr --backend oci -q -f "$work/both.yaml"
  ms "$t" >>"$work/noop"
done
strace -f -qq -e trace=execve,clone,clone3,fork,vfork -o "$work/strace" \
  "$zl" --root "$root" "${net[@]}" --backend oci -q -f "$work/both.yaml"
spawned=$(grep -cE 'clone|fork' "$work/strace" || true)
execs=$(( $(grep -c 'execve(' "$work/strace" || true) - 1 )) # less zlapply's own

# 3. memory per replica of that deployment.
"$zl" --root "$root" status -o json >"$work/status.json"
kb() { awk -v k="$2" '$1 == k":" {print $2; exit}' "/proc/$1/${3:-smaps_rollup}"; }
: >"$work/mem"
not_running=$(jq '[.replicas[] | select(.deployment == "bw-both" and .state != "running")] | length' "$work/status.json")
jq -r '.replicas[] | select(.deployment == "bw-both" and .state == "running") |
  [.service, .replica, .pid, .memory_bytes // 0, .cpu_usage_ns // 0] | @tsv' "$work/status.json" |
while IFS=$'\t' read -r svc rep pid cg cpu; do
  if [ "$svc" = mod ]; then d=$root/wasm/zl-bw-both-mod-$rep; else d=$root/containers/zl-bw-both-app-$rep; fi
  read -r mon _ <"$d/monitor"
  echo "$svc $(kb "$pid" Rss) $(kb "$pid" Pss) $(kb "$mon" Rss) $(kb "$mon" Pss) $((cg / 1024)) $(cat "/proc/$pid/comm") $(kb "$pid" Pss_Anon) $((cpu / 1000000))"
done >"$work/mem"
col() { awk -v s="$1" -v c="$2" '$1 == s {print $c}' "$work/mem" | median; }
sum() { awk -v s="$1" '$1 == s {print $2 + $4 " " $3 + $5}' "$work/mem"; }
mem_n_wasm=$(awk '$1 == "mod"' "$work/mem" | wc -l)
mem_n_ctr=$(awk '$1 == "app"' "$work/mem" | wc -l)
wasm_comm=$(awk '$1 == "mod" {print $7}' "$work/mem" | sort | uniq -c | tr -s ' ' | paste -sd,)
ctr_comm=$(awk '$1 == "app" {print $7}' "$work/mem" | sort | uniq -c | tr -s ' ' | paste -sd,)
wasm_total_pss=$(sum mod | awk '{print $2}' | median)
ctr_total_pss=$(sum app | awk '{print $2}' | median)
wasm_total_rss=$(sum mod | awk '{print $1}' | median)
ctr_total_rss=$(sum app | awk '{print $1}' | median)
zlr -q delete -d bw-both >/dev/null

# 4. one cold replica of exit7: zlapply vs the launcher by hand vs bare node.
for f in one_dry one_ret one_out hand_exit node_bare; do : >"$work/$f"; done
launcher=""
replica_env=(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)
for round in $(seq 1 "$one_rounds"); do
  # the fixed part of an apply (parse, open the state, observe, plan)
  t=$(now)
  zlr -q apply --dry-run -f "$work/one.yaml" >/dev/null
  ms "$t" >>"$work/one_dry"
  t=$(now)
  zlr -q -f "$work/one.yaml" || echo "bench: apply of bw-one failed" >&2
  ms "$t" >>"$work/one_ret"
  d=$(dirs_of bw-one one)
  out=$(wait_printed "exit7: out" "$d")
  case $out in timeout:*) echo "bench: bw-one printed nothing in 120 s" >&2; out=-1 ;; *) out=$(( (out - t) / 1000000 )) ;; esac
  echo "$out" >>"$work/one_out"
  if [ -z "$launcher" ]; then
    # The engine and launcher the replica ran (zlapply's memo of the engine;
    # the launcher found beside zlapply as backends/wasm/engine.c finds it:
    # the build's copy), and its config with the exit record moved out of
    # the replica's directory.
    node=$(cat "$root/wasm-engine" 2>/dev/null || command -v node)
    for c in zlwasi.mjs ../backends/wasm/zlwasi.mjs ../libexec/zlapply/zlwasi.mjs; do
      [ -r "$(dirname "$zl")/$c" ] && { launcher=$(realpath "$(dirname "$zl")/$c"); break; }
    done
    jq --arg r "$work/hand-exit.json" '.exit_record = $r' "$d/wasi.json" >"$work/hand.json"
  fi
  zlr -q delete -d bw-one >/dev/null
  # By hand in the environment zlmon --exec gives the engine (PATH only):
  # this shell's own may slow node down (NODE_EXTRA_CA_CERTS: a CA bundle
  # parsed at every start, NODE_OPTIONS).
  t=$(now)
  rc=0; "${replica_env[@]}" "$node" --no-warnings "$launcher" "$work/hand.json" >/dev/null 2>&1 || rc=$?
  ms "$t" >>"$work/hand_exit"
  [ "$rc" = 7 ] || echo "bench: the launcher by hand exited $rc, not 7" >&2
  t=$(now)
  "${replica_env[@]}" "$node" --no-warnings -e 0
  ms "$t" >>"$work/node_bare"
done

wr=$(median <"$work/wasm_ret"); wa=$(median <"$work/wasm_all")
cr=$(median <"$work/ctr_ret"); ca=$(median <"$work/ctr_all")
echo
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r), node $(node --version), $(runc --version | sed -n 1p), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "1. cold start, $n replicas (medians of $cold_rounds alternating rounds after a warm-up; errors: $cold_errors)"
echo "   apply returned:        wasm ${wr} ms, containers ${cr} ms; median ratio wasm/containers $(median <"$work/cold_ratio")"
echo "   all printed started:   wasm ${wa} ms, containers ${ca} ms; median ratio wasm/containers $(median <"$work/all_ratio")"
echo "   per replica (apply returned / $n): wasm $(ratio "$wr" "$n") ms, containers $(ratio "$cr" "$n") ms"
echo "   delete of $n:          wasm $(median <"$work/wasm_del") ms, containers $(median <"$work/ctr_del") ms"
echo "   rounds (wasm ret/all, ctr ret/all): $(paste -d/ "$work/wasm_ret" "$work/wasm_all" | paste -sd' ') | $(paste -d/ "$work/ctr_ret" "$work/ctr_all" | paste -sd' ')"
echo "2. no-op apply, $n wasm + $n containers running in one deployment: median $(median <"$work/noop") ms over $runs runs; processes spawned: $spawned (execve: $execs)"
echo "   (its cold apply, once: returned ${both_ret} ms, all $((2 * n)) printed started ${both_all} ms; replicas not running at the memory count: $not_running)"
echo "3. memory per replica (medians; $mem_n_wasm wasm: $wasm_comm; $mem_n_ctr containers: $ctr_comm), kB:"
echo "   wasm engine (node):    RSS $(col mod 2), Pss $(col mod 3) (Pss_Anon $(col mod 8)); its zlmon RSS $(col mod 4), Pss $(col mod 5); together Pss $wasm_total_pss (RSS $wasm_total_rss); cgroup usage $(col mod 6)"
echo "   container (sh):        RSS $(col app 2), Pss $(col app 3) (Pss_Anon $(col app 8)); its zlmon RSS $(col app 4), Pss $(col app 5); together Pss $ctr_total_pss (RSS $ctr_total_rss); cgroup usage $(col app 6)"
echo "   wasm / container, Pss with the monitor: $(ratio "$wasm_total_pss" "$ctr_total_pss")"
echo "   CPU used so far (cgroup, ms; the start-up, a second after it): wasm $(col mod 9), container $(col app 9)"
echo "4. one cold wasm replica of exit7 (medians of $one_rounds):"
echo "   zlapply apply returned $(median <"$work/one_ret") ms (apply --dry-run of it: $(median <"$work/one_dry") ms); its first output line at $(median <"$work/one_out") ms"
echo "   by hand (env PATH only, as zlmon --exec): node --no-warnings zlwasi.mjs wasi.json, start to exit $(median <"$work/hand_exit") ms; node --no-warnings -e 0 $(median <"$work/node_bare") ms"
echo "   launcher: $launcher"
