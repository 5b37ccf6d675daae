#!/usr/bin/env bash
# zlapply against the bare runtime and against podman (issue 16, item 5),
# with two builds side by side in one run. Each round runs every contender
# once:
#  - BEFORE and AFTER: cold apply of 50 replicas WITH networking (bridge
#    networking: a netns, a veth and an address each), then the same spec
#    with one env value changed (50 rolling recreates, no health checks),
#    each timed, then a delete (not timed);
#  - runc: the same 50 by hand WITHOUT networking, one after another: for
#    each its own bundle (a directory, an overlay rootfs on the image's
#    layers, the config.json zlapply writes for a `network_mode: none`
#    replica), then `runc create` + `runc start`; all of it timed;
#  - podman: `podman run -d` x50 on a bridge network of its own (podman's
#    default backend: netavark, or CNI on Debian 12 without netavark).
#    podman is installed with apt-get when missing (here only, not for the
#    tests); when it cannot run, the script says why and goes on without it.
# Order: odd rounds BEFORE, runc, AFTER, podman; even rounds AFTER, podman,
# BEFORE, runc. Round 0 warms up and is not counted. Prints each contender's
# median, the medians of the per-round ratios (after/runc, before/runc,
# after/podman, before/podman; cold apply and env change after/before)
# beside the issue's targets, every round's figures, and the load average
# at start and end.
# Usage: bench/versus.sh BEFORE_BUILD AFTER_BUILD [ROUNDS]  (as root; ROUNDS 3)
#   env: VERSUS_N replicas per contender (50).
# Touches: a work directory /tmp/zlapply-versus.<pid> (both state roots, the
# runc bundles and runc's state, podman's store, run and network-config
# directories); bridges zlvb<pid%1000> (BEFORE, 10.216.253.0/24) and
# zlva<pid%1000> (AFTER, 10.216.254.0/24); podman's network zlv<pid> on
# 10.216.250.0/24 (podman names its bridge) with its address leases under
# /var/lib/cni/networks/zlv<pid>; cgroups /zlv<pid> (runc) and /zlv<pid>p
# (podman). No traffic is sent. All of it is removed at exit, also after a
# failure or ctrl-C; a podman the script installed stays installed.
set -euo pipefail
shopt -s inherit_errexit # a failure inside $(...) fails the run too
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { sed -n '2,32p' "$0" >&2; exit 2; }
rounds=${3:-3}
n=${VERSUS_N:-50}
runc=$(command -v runc) || { echo "bench: runc missing" >&2; exit 1; }
cmd="trap 'exit 0' TERM; sleep 3600 & wait" # every contender's replicas run this

# lower case: podman names the image it pulls from an oci: directory after its path
work=/tmp/zlapply-versus.$$
mkdir -m 0700 "$work"
. bench/ab-lib.sh
ab_builds "$1" "$2" "$work" zlvb zlva 10.216.253.0/24 10.216.254.0/24
declare -A dep
dep[before]=vsb-$$ dep[after]=vsa-$$ dep[tmpl]=vst-$$
runc_state=$work/runc-state cgroup=zlv$$
pnet=zlv$$ psubnet=10.216.250.0/24
P=(podman --root "$work/podman/root" --runroot "$work/podman/run" --tmpdir "$work/podman/tmp"
  --network-config-dir "$work/podman/net" --runtime "$runc" --cgroup-manager cgroupfs)
podman_ok='' podman_why='' pbridge='' cni_chains_before=''

runc_clean() { # the runc contender's containers, overlay mounts, bundles and cgroups
  local id b
  for id in $("$runc" --root "$runc_state" list -q 2>/dev/null); do
    "$runc" --root "$runc_state" delete -f "$id" >/dev/null 2>&1 || true
  done
  for b in "$work"/runc/*; do
    [ ! -d "$b/rootfs" ] || umount "$b/rootfs" 2>/dev/null || true
  done
  rm -rf "$work/runc"
  rm_cgroup "$cgroup"
}
rm_cgroup() { # NAME: that cgroup and those below it, in every hierarchy
  local d
  for d in /sys/fs/cgroup/*/"$1" /sys/fs/cgroup/"$1"; do
    [ ! -d "$d" ] || find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
}

cleanup() {
  trap '' INT TERM
  for w in before after; do
    for d in "${dep[$w]}" "${dep[tmpl]}"; do z "$w" delete -d "$d" >/dev/null 2>&1 || true; done
  done
  ab_net_cleanup
  runc_clean
  if [ -d "$work/podman" ]; then
    "${P[@]}" rm -a -f -t 0 >/dev/null 2>&1 || true
    "${P[@]}" network rm -f "$pnet" >/dev/null 2>&1 || true
    "${P[@]}" rmi -a -f >/dev/null 2>&1 || true
    [ -z "$pbridge" ] || ip link del "$pbridge" 2>/dev/null || true
    rm -rf "/var/lib/cni/networks/$pnet"
    rm_cgroup "${cgroup}p"
    # CNI's firewall plugin leaves its chains behind: drop them when this
    # run made them and they hold nothing but the plugin's own rule.
    if [ -z "$cni_chains_before" ] && [ "$(iptables -w -S CNI-FORWARD 2>/dev/null | wc -l)" -eq 2 ]; then
      iptables -w -D FORWARD -m comment --comment "CNI firewall plugin rules" -j CNI-FORWARD 2>/dev/null || true
      iptables -w -F CNI-FORWARD 2>/dev/null && iptables -w -X CNI-FORWARD 2>/dev/null || true
      iptables -w -X CNI-ADMIN 2>/dev/null || true
    fi
  fi
  # whatever is still mounted below the work directory (podman's store)
  awk -v w="$work/" 'index($2, w) == 1 {print $2}' /proc/mounts | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ratio A B: the median of the per-round ratios A / B (files $data/A, $data/B)
ratio() {
  [ -s "$data/$1" ] && [ -s "$data/$2" ] || { echo -; return; }
  printf '%.2f' "$(paste "$data/$1" "$data/$2" | awk '$2 > 0 {print $1 / $2}' | median)"
}
load() { cut -d' ' -f1-3 /proc/loadavg; }
load_start=$(load)

scripts/build-example-image "$work/image" >/dev/null
spec() { # NAME REPLICAS NETWORK_MODE V
  cat <<YAML
version: v1
deployment: $1
services:
  app:
    image: { name: "oci:$work/image:1.0", pull_policy: if_not_present }
    command: { args: ["/bin/sh", "-c", "$cmd"] }
    env: { V: "$4" }
    stop_grace_period: 2s
    network_mode: $3
    scale: { mode: fixed, replicas: $2 }
YAML
}
for w in before after; do
  spec "${dep[$w]}" "$n" default 1 >"$work/cold-$w.yaml"
  spec "${dep[$w]}" "$n" default 2 >"$work/env-$w.yaml"
  ZLMON_BIN=${mon[$w]} "${zl[$w]}" --root "${root[$w]}" -q pull "oci:$work/image:1.0" >/dev/null
done

# runc's bundle: the config.json AFTER writes for a replica without
# networking (its root made relative to the bundle, a cgroup of our own),
# and the image's layers in AFTER's root as the overlay's lower layers.
spec "${dep[tmpl]}" 1 none 1 >"$work/tmpl.yaml"
z after --backend oci -f "$work/tmpl.yaml"
ctr=${root[after]}/containers/zl-${dep[tmpl]}-app-1
# lowerdir=A:B (mount(2)) or one lowerdir+=X per layer (the new mount API)
lower=$(awk -v m="$ctr/rootfs" '$2 == m {print $4; exit}' /proc/mounts |
  grep -oE 'lowerdir\+?=[^,]*' | cut -d= -f2- | paste -sd:)
sed -E 's|("path":[[:space:]]*)"[^"]*/rootfs"|\1"rootfs"|; s|("cgroupsPath":[[:space:]]*)"[^"]*"|\1"/'"$cgroup"'/CTR"|' \
  "$ctr/config.json" >"$work/runc-config.json"
grep -q '"rootfs"' "$work/runc-config.json" && grep -q "/$cgroup/CTR" "$work/runc-config.json" && [ -n "$lower" ] ||
  { echo "bench: could not make runc's bundle from $ctr" >&2; exit 1; }
z after delete -d "${dep[tmpl]}" >/dev/null

podman_setup() { # sets podman_why and returns 1 when podman cannot run here
  if ! command -v podman >/dev/null; then
    echo "bench: podman missing: apt-get install -y --no-install-recommends podman" >&2
    local apt=(apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 podman)
    DEBIAN_FRONTEND=noninteractive "${apt[@]}" >"$work/apt.log" 2>&1 ||
      { apt-get update -q >>"$work/apt.log" 2>&1 && DEBIAN_FRONTEND=noninteractive "${apt[@]}" >>"$work/apt.log" 2>&1; } ||
      { podman_why="apt-get install podman failed: $(tail -n 1 "$work/apt.log")"; return 1; }
    # its service units are not for this host to run (as scripts/setup does)
    [ ! -d /run/systemd/system ] || systemctl disable --now podman.socket podman.service \
      podman-restart.service podman-auto-update.timer >/dev/null 2>&1 || true
  fi
  iptables -w -S CNI-FORWARD >/dev/null 2>&1 && cni_chains_before=1
  mkdir -p "$work/podman"
  pimg=$("${P[@]}" pull -q "oci:$work/image:1.0" 2>"$work/podman.err") &&
    "${P[@]}" network create --subnet "$psubnet" "$pnet" >/dev/null 2>>"$work/podman.err" &&
    pbridge=$("${P[@]}" network inspect --format '{{.NetworkInterface}}' "$pnet" 2>>"$work/podman.err") &&
    podman_run "$cgroup-p0" 2>>"$work/podman.err" &&
    "${P[@]}" rm -f -t 0 "$cgroup-p0" >/dev/null 2>>"$work/podman.err" ||
    { podman_why="podman does not run here: $(tail -n 1 "$work/podman.err")"; return 1; }
  podman_ok=1
}
podman_run() { # NAME: one replica. Without CAP_SYS_RESOURCE (this host) runc
  # cannot give a container podman's default rlimits (nofile 1048576, nproc
  # above what podman leaves conmon): ask for ours and a modest nproc.
  "${P[@]}" run -d --name "$1" --network "$pnet" --pull never --cgroup-parent "/${cgroup}p" \
    --ulimit "nofile=$(ulimit -Sn):$(ulimit -Hn)" --ulimit nproc=1024:1024 "$pimg" /bin/sh -c "$cmd" >/dev/null
}
podman_setup || echo "bench: podman: $podman_why; going on without it" >&2

# The contenders; each prints its figures for the round.
run_zl() { # WHICH: cold apply, then the env change (both timed), then delete
  local w=$1 t c e
  t=$(now); z "$w" --backend oci -f "$work/cold-$w.yaml"; c=$(ms "$t")
  t=$(now); z "$w" --backend oci -f "$work/env-$w.yaml"; e=$(ms "$t")
  grep -q '"V=2"' "${root[$w]}/containers/zl-${dep[$w]}-app-$n/config.json" ||
    { echo "bench: $w: the env change did not reach replica $n" >&2; exit 1; }
  z "$w" delete -d "${dep[$w]}" >/dev/null
  echo "$c $e"
}
run_runc() {
  local t i b
  t=$(now)
  for i in $(seq 1 "$n"); do
    b=$work/runc/$i
    mkdir -p "$b/upper" "$b/work" "$b/rootfs"
    mount -t overlay overlay -o "lowerdir=$lower,upperdir=$b/upper,workdir=$b/work" "$b/rootfs"
    sed "s|/$cgroup/CTR|/$cgroup/r$i|" "$work/runc-config.json" >"$b/config.json"
    "$runc" --root "$runc_state" create --bundle "$b" "$cgroup-r$i" </dev/null >/dev/null 2>>"$work/runc.log" ||
      { tail -n 3 "$work/runc.log" >&2; exit 1; }
    "$runc" --root "$runc_state" start "$cgroup-r$i"
  done
  ms "$t"
  [ "$("$runc" --root "$runc_state" list -q | wc -l)" -eq "$n" ] || { echo "bench: runc: not $n containers" >&2; exit 1; }
  runc_clean
}
run_podman() {
  local t i
  t=$(now)
  for i in $(seq 1 "$n"); do podman_run "$cgroup-p$i"; done
  ms "$t"
  [ "$("${P[@]}" ps -q | wc -l)" -eq "$n" ] || { echo "bench: podman: not $n running" >&2; exit 1; }
  "${P[@]}" rm -a -f -t 0 >/dev/null
  # conmon and its exit command (podman container cleanup) may outlive rm:
  # let them end before the next contender is timed (10 s at the most)
  for _ in $(seq 1 100); do pgrep -f -- "$work/podman/" >/dev/null || break; sleep 0.1; done
}

data=$work/data # one line per counted round
mkdir "$data"
for f in cold-before cold-after env-before env-after runc podman; do : >"$data/$f"; done
for r in $(seq 0 "$rounds"); do
  if [ $((r % 2)) -eq 1 ]; then order="before runc after podman"; else order="after podman before runc"; fi
  for c in $order; do
    case $c in
    before | after)
      out=$(run_zl "$c"); cold=${out% *} env=${out#* }
      echo "bench: round $r $c: cold apply $cold ms, env change $env ms" >&2
      [ "$r" -eq 0 ] || { echo "$cold" >>"$data/cold-$c"; echo "$env" >>"$data/env-$c"; } ;;
    runc | podman)
      [ "$c" = runc ] || [ -n "$podman_ok" ] || continue
      t=$(run_"$c")
      echo "bench: round $r $c: $n started in $t ms" >&2
      [ "$r" -eq 0 ] || echo "$t" >>"$data/$c" ;;
    esac
  done
done

med() { [ -s "$data/$1" ] && median <"$data/$1" || echo -; }
row() { printf '%-58s %10s %10s %s\n' "$@"; }
echo "machine: $(nproc) cores, kernel $(uname -r), $("$runc" --version | sed -n 1p)," \
  "$( [ -n "$podman_ok" ] && echo "$("${P[@]}" --version) ($("${P[@]}" info --format '{{.Host.NetworkBackend}}'))" ||
    echo "podman: ${podman_why:-not run}")"
echo "load average (1, 5, 15 min): at start $load_start, at end $(load)"
echo "$n replicas each; medians of $rounds rounds (after a warm-up round):"
row "" before after
row "cold apply, zlapply with networking, ms" "$(med cold-before)" "$(med cold-after)"
row "env change (rolling recreate of $n), ms" "$(med env-before)" "$(med env-after)"
row "runc create + start x$n, own bundles, no networking, ms" "$(med runc)"
row "podman run -d x$n, bridge network, ms" "$(med podman)"
echo "medians of the per-round ratios:"
row "" before after target
row "cold apply / runc" "$(ratio cold-before runc)" "$(ratio cold-after runc)" "after <= 1.0"
row "cold apply / podman" "$(ratio cold-before podman)" "$(ratio cold-after podman)" "after <= 0.2"
row "cold apply, after / before" "" "$(ratio cold-after cold-before)"
row "env change, after / before" "" "$(ratio env-after env-before)" "<= 0.5"
each() { tr '\n' ' ' <"$data/$1"; }
echo "per round (ms): cold apply, before $(each cold-before)/ after $(each cold-after)"
echo "  runc $(each runc)/ podman $(each podman)"
echo "  env change, before $(each env-before)/ after $(each env-after)"
