#!/usr/bin/env bash
# Benchmark: pulling a 200 MB, 5-layer image (random data, gzip) from a
# registry on 127.0.0.1. Compares `zlapply pull` into a fresh state root
# with what one would do without zlapply: `skopeo copy docker://... oci:DIR`
# followed by `umoci unpack`, into fresh directories. Runs each RUNS times,
# prints the medians and the ratio (target: zlapply <= 0.8 x skopeo+umoci),
# and appends the result to docs/benchmarks.md.
#
# Usage: bench/pull.sh [BUILD_DIR] [RUNS]
#   env: BENCH_MB=200 BENCH_LAYERS=5, ZLAPPLY_BIN (default BUILD_DIR/cli/zlapply),
#   BENCH_CACHE (where the generated image is kept), BENCH_NO_DOC=1 (print only)
set -euo pipefail
cd "$(dirname "$0")/.."
src=$(pwd)
build=${1:-build}
runs=${2:-3}
mb=${BENCH_MB:-200}
layers=${BENCH_LAYERS:-5}
zl=${ZLAPPLY_BIN:-$build/cli/zlapply}
[ -x "$zl" ] || { echo "bench: build first (scripts/build $build) or set ZLAPPLY_BIN" >&2; exit 1; }
for tool in skopeo umoci docker-registry; do
  command -v "$tool" >/dev/null || { echo "bench: $tool missing (scripts/setup)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/zlapply-bench-pull.XXXXXX)
cleanup() {
  tests/infra/registry.sh stop "$work/reg" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "bench: building a ${mb} MB, ${layers}-layer image (umoci, offline)..." >&2
# BENCH_CACHE keeps the generated image between runs; by default it goes
# with the rest of the work directory.
cache=${BENCH_CACHE:-$work/images}
tests/infra/build-images.sh --big "$cache" "$layers" "$mb"
port=$(tests/infra/registry.sh start plain "$work/reg")
tests/infra/registry.sh push "$work/reg" "oci:$cache/big:1.0" test/big:1.0
ref=127.0.0.1:$port/test/big:1.0
echo "bench: pushed $ref" >&2

ms_now() { date +%s%N; }

# One run of each, fresh directories every time; prints milliseconds.
zl_run() {
  local root=$work/zlroot-$1 t0 t1
  t0=$(ms_now)
  "$zl" --root "$root" pull -q --authfile "$work/no-auth.json" "$ref" >/dev/null
  t1=$(ms_now)
  [ -x "$root/layers" ] || { echo "bench: zlapply left no layers" >&2; exit 1; }
  # Disk: the whole root after the pull against the unpacked layers alone.
  du -s -B1 "$root" | cut -f1 > "$work/zl-disk"
  du -s -B1 "$root/layers" | cut -f1 > "$work/zl-unpacked"
  rm -rf "$root"
  echo $(( (t1 - t0) / 1000000 ))
}

sk_run() {
  local dir=$work/oci-$1 bundle=$work/bundle-$1 t0 t1
  t0=$(ms_now)
  skopeo copy -q --src-tls-verify=false "docker://$ref" "oci:$dir:1.0" >/dev/null
  umoci unpack --image "$dir:1.0" "$bundle" >/dev/null
  t1=$(ms_now)
  rm -rf "$dir" "$bundle"
  echo $(( (t1 - t0) / 1000000 ))
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }

zl_times=() sk_times=()
for i in $(seq 1 "$runs"); do
  # Alternate the order so neither always runs on a warmer cache.
  if [ $((i % 2)) -eq 1 ]; then
    zl_times+=("$(zl_run "$i")"); sk_times+=("$(sk_run "$i")")
  else
    sk_times+=("$(sk_run "$i")"); zl_times+=("$(zl_run "$i")")
  fi
  echo "bench: run $i: zlapply ${zl_times[-1]} ms, skopeo+umoci ${sk_times[-1]} ms" >&2
done
zl_med=$(printf '%s\n' "${zl_times[@]}" | median)
sk_med=$(printf '%s\n' "${sk_times[@]}" | median)
ratio=$(awk -v a="$zl_med" -v b="$sk_med" 'BEGIN {printf "%.2f", a / b}')
verdict=$(awk -v r="$ratio" 'BEGIN {print (r <= 0.8) ? "meets" : "misses"}')

cpu=$(awk -F: '/model name/ {gsub(/^ +/, "", $2); print $2; exit}' /proc/cpuinfo)
mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
machine="$(nproc) x ${cpu:-unknown CPU}, $mem RAM, $(uname -sr), $(df -T /tmp | awk 'NR==2 {print $2}') /tmp"
bytes=$(du -sb "$cache/big/blobs" | cut -f1)
disk=$(cat "$work/zl-disk") unpacked=$(cat "$work/zl-unpacked")
disk_ratio=$(awk -v a="$disk" -v b="$unpacked" 'BEGIN {printf "%.2f", a / b}')
disk_verdict=$(awk -v r="$disk_ratio" 'BEGIN {print (r <= 1.1) ? "meets" : "misses"}')

cat <<OUT
image            $ref ($layers layers, $((bytes / 1048576)) MiB of blobs)
zlapply pull     median ${zl_med} ms   (runs: ${zl_times[*]})
skopeo + umoci   median ${sk_med} ms   (runs: ${sk_times[*]})
ratio            ${ratio} (target <= 0.8: ${verdict})
disk             $((disk / 1048576)) MiB state root / $((unpacked / 1048576)) MiB unpacked layers = ${disk_ratio} (target <= 1.1: ${disk_verdict})
machine          $machine
OUT

# ---- docs/benchmarks.md: the "Image pull" section, newest result last ----
if [ -n "${BENCH_NO_DOC:-}" ]; then
  exit 0
fi
doc=docs/benchmarks.md
entry=$(cat <<MD

### $(date -u +%Y-%m-%d) — $(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo "no git")

\`bench/pull.sh $build $runs\` (BENCH_MB=$mb BENCH_LAYERS=$layers), machine: $machine.

| | median | runs |
|---|---|---|
| \`zlapply pull\` (fresh root) | ${zl_med} ms | ${zl_times[*]} |
| \`skopeo copy\` + \`umoci unpack\` (fresh dirs) | ${sk_med} ms | ${sk_times[*]} |
| ratio zlapply / skopeo+umoci | **${ratio}** | target <= 0.8: ${verdict} |
| disk: state root / unpacked layers | **${disk_ratio}** ($((disk / 1048576)) / $((unpacked / 1048576)) MiB) | target <= 1.1: ${disk_verdict} |
MD
)
header='## Image pull (bench/pull.sh)'
intro="A ${mb} MB image of ${layers} layers of random data (gzip) on a docker-registry
on 127.0.0.1. \`zlapply pull\` (manifest, verified blobs, layers unpacked for
overlayfs) against \`skopeo copy docker://… oci:DIR\` + \`umoci unpack\`, each
into fresh directories, median of the runs. Target: ratio <= 0.8."
/usr/bin/python3 - "$doc" "$header" "$intro" "$entry" <<'PY'
import os, sys
path, header, intro, entry = sys.argv[1:5]
text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
if header not in text:
    text = text.rstrip("\n") + f"\n\n{header}\n\n{intro}\n"
start = text.index(header) + len(header)
nxt = text.find("\n## ", start)
end = len(text) if nxt < 0 else nxt
section = text[:end].rstrip("\n") + "\n" + entry.rstrip("\n") + "\n"
text = section + ("\n" + text[end:].lstrip("\n") if nxt >= 0 else "")
with open(path + ".tmp", "w") as f:
    f.write(text)
os.replace(path + ".tmp", path)
PY
echo "bench: appended to $doc" >&2
