#!/usr/bin/env bash
# build-images.sh: the test images, built offline with umoci (no network).
#
#   build-images.sh OUTDIR
#       OUTDIR/busybox    OCI layout, tag 1.0: one layer (busybox-static + applet
#                         symlinks), config cmd.
#       OUTDIR/multi      tag 1.0: three layers. Layer 2 deletes a/gone of layer 1
#                         (umoci writes a/.wh.gone); layer 3 is a hand-made tar
#                         with an opaque directory d/ (d/.wh..wh..opq, umoci never
#                         writes one itself) that hides layer 1's d/old*.
#       OUTDIR/multiarch  tag 1.0: an image index with linux/amd64 and
#                         linux/arm64 (same busybox rootfs, configs differing in
#                         architecture), assembled here with python3.
#       OUTDIR/NAME.json  what a test needs to know without parsing layouts:
#                         {"manifest", "config", "layers": [..], "diff_ids": [..]}
#                         and for multiarch {"index", "platforms": {"os/arch": digest}}.
#   build-images.sh --big OUTDIR LAYERS MB
#       OUTDIR/big        tag 1.0: LAYERS layers of random data, MB in all (gzip),
#                         and OUTDIR/big.json. For bench/pull.sh.
#
# Idempotent: a finished layout is kept (OUTDIR/.NAME.done) and not rebuilt.
# Temporary bundles are removed on exit, also on failure.
set -euo pipefail

PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
BUSYBOX=$(command -v busybox || true)
[ -n "$BUSYBOX" ] || { echo "build-images: busybox not found (apt-get install busybox-static)" >&2; exit 1; }
command -v umoci >/dev/null || { echo "build-images: umoci not found (apt-get install umoci)" >&2; exit 1; }

usage() { echo "usage: $0 OUTDIR | $0 --big OUTDIR LAYERS MB" >&2; exit 2; }

tmp=""
cleanup() { [ -z "$tmp" ] || rm -rf "$tmp"; }
trap cleanup EXIT

# describe LAYOUT TAG OUT: writes the digests of LAYOUT:TAG's image to OUT.
describe() {
  "$PY" - "$1" "$2" "$3" <<'PYEOF'
import json, sys
layout, tag, out = sys.argv[1:4]
def blob(d):
    with open(f"{layout}/blobs/sha256/{d[7:]}", "rb") as f:
        return json.load(f)
idx = json.load(open(f"{layout}/index.json"))
desc = [m for m in idx["manifests"]
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag][0]
doc = blob(desc["digest"])
info = {"manifest": desc["digest"], "media_type": desc["mediaType"]}
if "manifests" in doc:
    info["index"] = desc["digest"]
    info["platforms"] = {f'{m["platform"]["os"]}/{m["platform"]["architecture"]}': m["digest"]
                         for m in doc["manifests"]}
else:
    cfg = blob(doc["config"]["digest"])
    info["config"] = doc["config"]["digest"]
    info["layers"] = [l["digest"] for l in doc["layers"]]
    info["layer_sizes"] = [l["size"] for l in doc["layers"]]
    info["diff_ids"] = cfg["rootfs"]["diff_ids"]
    info["architecture"] = cfg.get("architecture")
with open(out + ".tmp", "w") as f:
    json.dump(info, f, indent=1)
import os
os.replace(out + ".tmp", out)
PYEOF
}

# busybox_rootfs DIR: busybox-static and its applet links.
busybox_rootfs() {
  mkdir -p "$1/bin" "$1/tmp" "$1/etc"
  cp "$BUSYBOX" "$1/bin/busybox"
  for c in sh sleep echo cat ls nc wget true false env id; do ln -sf busybox "$1/bin/$c"; done
  echo "root:x:0:0:root:/root:/bin/sh" > "$1/etc/passwd"
}

build_busybox() { # LAYOUT TAG [ARCH]
  local layout=$1 tag=$2 arch=${3:-amd64}
  [ -d "$layout" ] || umoci init --layout "$layout"
  umoci new --image "$layout:$tag"
  rm -rf "$tmp/b"
  umoci unpack --image "$layout:$tag" "$tmp/b" >/dev/null
  busybox_rootfs "$tmp/b/rootfs"
  umoci repack --image "$layout:$tag" "$tmp/b"
  umoci config --image "$layout:$tag" --architecture "$arch" --os linux \
    --config.cmd /bin/sh --config.cmd -c --config.cmd 'echo hello; sleep 1'
  rm -rf "$tmp/b"
}

build_multi() { # LAYOUT
  local layout=$1
  umoci init --layout "$layout"
  umoci new --image "$layout:1.0"
  # layer 1
  umoci unpack --image "$layout:1.0" "$tmp/b" >/dev/null
  mkdir -p "$tmp/b/rootfs/a" "$tmp/b/rootfs/d"
  echo keep > "$tmp/b/rootfs/a/keep"
  echo gone > "$tmp/b/rootfs/a/gone"
  echo old1 > "$tmp/b/rootfs/d/old1"
  echo old2 > "$tmp/b/rootfs/d/old2"
  echo layer1 > "$tmp/b/rootfs/layer"
  umoci repack --image "$layout:1.0" "$tmp/b"
  rm -rf "$tmp/b"
  # layer 2: a deletion (umoci writes a/.wh.gone) and an overwrite
  umoci unpack --image "$layout:1.0" "$tmp/b" >/dev/null
  rm "$tmp/b/rootfs/a/gone"
  echo l2 > "$tmp/b/rootfs/a/l2"
  echo layer2 > "$tmp/b/rootfs/layer"
  umoci repack --image "$layout:1.0" "$tmp/b"
  rm -rf "$tmp/b"
  # layer 3: an opaque directory, written by hand
  "$PY" - "$tmp/l3.tar" <<'PYEOF'
import io, sys, tarfile, time
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as t:
    def add(name, data=None, kind=tarfile.REGTYPE, mode=0o644):
        ti = tarfile.TarInfo(name)
        ti.type, ti.mode, ti.mtime = kind, mode, int(time.time())
        if data is None:
            t.addfile(ti)
        else:
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    add("d", kind=tarfile.DIRTYPE, mode=0o755)
    add("d/.wh..wh..opq", b"")
    add("d/new", b"new\n")
    add("layer", b"layer3\n")
PYEOF
  umoci raw add-layer --image "$layout:1.0" "$tmp/l3.tar"
  umoci config --image "$layout:1.0" --architecture amd64 --os linux --config.cmd /layer
}

build_multiarch() { # LAYOUT
  local layout=$1
  build_busybox "$layout" amd64 amd64
  build_busybox "$layout" arm64 arm64
  "$PY" - "$layout" <<'PYEOF'
import hashlib, json, os, sys
layout = sys.argv[1]
idx = json.load(open(f"{layout}/index.json"))
entries = []
for m in idx["manifests"]:
    arch = m["annotations"]["org.opencontainers.image.ref.name"]
    entries.append({"mediaType": m["mediaType"], "digest": m["digest"], "size": m["size"],
                    "platform": {"architecture": arch, "os": "linux"}})
entries.sort(key=lambda e: e["platform"]["architecture"])  # amd64 first
doc = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                  "manifests": entries}, separators=(",", ":")).encode()
hexd = hashlib.sha256(doc).hexdigest()
with open(f"{layout}/blobs/sha256/{hexd}", "wb") as f:
    f.write(doc)
# The layout's own index names only the image index, tagged 1.0; the two
# platform manifests stay in blobs/ (the image index refers to them).
top = {"schemaVersion": 2, "manifests": [{
    "mediaType": "application/vnd.oci.image.index.v1+json", "digest": "sha256:" + hexd,
    "size": len(doc), "annotations": {"org.opencontainers.image.ref.name": "1.0"}}]}
with open(f"{layout}/index.json.tmp", "w") as f:
    json.dump(top, f)
os.replace(f"{layout}/index.json.tmp", f"{layout}/index.json")
PYEOF
}

build_big() { # LAYOUT LAYERS MB
  local layout=$1 layers=$2 mb=$3
  local per=$(( mb * 1024 * 1024 / layers ))
  umoci init --layout "$layout"
  umoci new --image "$layout:1.0"
  for i in $(seq 1 "$layers"); do
    rm -rf "$tmp/b"
    umoci unpack --image "$layout:1.0" "$tmp/b" >/dev/null
    mkdir -p "$tmp/b/rootfs/data"
    head -c "$per" /dev/urandom > "$tmp/b/rootfs/data/layer$i.bin"
    umoci repack --image "$layout:1.0" "$tmp/b"
  done
  rm -rf "$tmp/b"
  umoci config --image "$layout:1.0" --architecture amd64 --os linux --config.cmd /bin/true
}

# once NAME OUTDIR BUILDER ARGS...: builds OUTDIR/NAME unless already done.
once() {
  local name=$1 out=$2
  shift 2
  [ -f "$out/.$name.done" ] && [ -f "$out/$name.json" ] && return 0
  rm -rf "${out:?}/$name" "$out/$name.json"
  "$@"
  describe "$out/$name" 1.0 "$out/$name.json"
  touch "$out/.$name.done"
}

if [ "${1:-}" = "--big" ]; then
  [ $# -eq 4 ] || usage
  out=$2; layers=$3; mb=$4
  mkdir -p "$out"
  out=$(cd "$out" && pwd)
  tmp=$(mktemp -d /tmp/zlimg-XXXXXX)
  # A big image of another size is another image.
  if [ -f "$out/.big.done" ] && [ "$(cat "$out/.big.done")" != "$layers $mb" ]; then
    rm -f "$out/.big.done"
  fi
  if [ ! -f "$out/.big.done" ]; then
    rm -rf "$out/big" "$out/big.json"
    build_big "$out/big" "$layers" "$mb"
    describe "$out/big" 1.0 "$out/big.json"
    echo "$layers $mb" > "$out/.big.done"
  fi
  exit 0
fi

[ $# -eq 1 ] || usage
out=$1
mkdir -p "$out"
out=$(cd "$out" && pwd)
tmp=$(mktemp -d /tmp/zlimg-XXXXXX)
once busybox "$out" build_busybox "$out/busybox" 1.0 amd64
once multi "$out" build_multi "$out/multi"
once multiarch "$out" build_multiarch "$out/multiarch"
