# bench/ab-lib.sh: what the side-by-side benches (oci-ab.sh, versus.sh)
# share; sourced, not run. Two builds, BEFORE and AFTER, each with its own
# zlapply, zlmon, state root, bridge and subnet, and the timing helpers.

# ab_builds BEFORE_BUILD AFTER_BUILD WORK BRIDGE_PREFIX_BEFORE BRIDGE_PREFIX_AFTER SUBNET_BEFORE SUBNET_AFTER
# fills zl, mon, root, bridge and subnet (indexed by before/after); the
# bridges are the prefixes with this shell's pid % 1000.
ab_builds() {
  declare -gA zl mon root bridge subnet
  zl[before]=$(realpath "$1/cli/zlapply") mon[before]=$(realpath "$1/backends/monitor/zlmon")
  zl[after]=$(realpath "$2/cli/zlapply") mon[after]=$(realpath "$2/backends/monitor/zlmon")
  root[before]=$3/root-before root[after]=$3/root-after
  bridge[before]=$4$(( $$ % 1000 )) bridge[after]=$5$(( $$ % 1000 ))
  subnet[before]=$6 subnet[after]=$7
}

z() { # WHICH ARGS...: that build's zlapply (and zlmon) on its own root, bridge and subnet
  local w=$1; shift
  ZLMON_BIN=${mon[$w]} "${zl[$w]}" --root "${root[$w]}" --bridge "${bridge[$w]}" \
    --subnet "${subnet[$w]}" -q "$@"
}

ab_net_cleanup() { # both builds' bridges and their masquerading (after their deletes)
  local w
  for w in before after; do
    iptables -w -t nat -D POSTROUTING -s "${subnet[$w]}" ! -o "${bridge[$w]}" -m comment --comment zlapply -j MASQUERADE 2>/dev/null || true
    ip link del "${bridge[$w]}" 2>/dev/null || true
  done
}

now() { date +%s%N; }
ms() { echo $(( ($(now) - $1) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
