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
#   build-images.sh --layers OUTDIR N
#       OUTDIR/layersN    tag 1.0: N (>= 4) small layers, written here as gzip
#                         tars (no umoci: 128 layers take about a second), and
#                         OUTDIR/layersN.json. Layer 1 is busybox plus
#                         /layers/first, /wh/base-gone and /wh/opaque/old; layer
#                         i (2..N) adds /layers/i; every layer writes
#                         /layers/shadow ("i"); layer N adds /layers/last. Across
#                         layers: layer N/2 whites out /wh/base-gone and makes
#                         /wh/opaque opaque (adding /wh/opaque/new), layer N-2
#                         whites out /wh/mid-gone of layer 3. Seen from the top:
#                         /layers has N+2 entries, /wh only opaque, which holds
#                         only new. CMD: a shell that loops until SIGTERM.
#
# Idempotent: a finished layout is kept (OUTDIR/.NAME.done) and not rebuilt.
# Temporary bundles are removed on exit, also on failure.
set -euo pipefail

PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
BUSYBOX=$(command -v busybox || true)
[ -n "$BUSYBOX" ] || { echo "build-images: busybox not found (apt-get install busybox-static)" >&2; exit 1; }
command -v umoci >/dev/null || { echo "build-images: umoci not found (apt-get install umoci)" >&2; exit 1; }

usage() { echo "usage: $0 OUTDIR | $0 --big OUTDIR LAYERS MB | $0 --layers OUTDIR N" >&2; exit 2; }

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

build_layers() { # LAYOUT N
  "$PY" - "$1" "$2" "$BUSYBOX" <<'PYEOF'
import gzip, hashlib, io, json, os, platform, sys, tarfile
layout, n, busybox = sys.argv[1], int(sys.argv[2]), sys.argv[3]
blobs = f"{layout}/blobs/sha256"
os.makedirs(blobs)

def blob(data):
    d = hashlib.sha256(data).hexdigest()
    with open(f"{blobs}/{d}", "wb") as f:
        f.write(data)
    return "sha256:" + d

def layer(entries):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, kind, value in entries:
            ti = tarfile.TarInfo(name)
            ti.mtime, ti.mode = 1700000000, 0o755
            if kind == "dir":
                ti.type = tarfile.DIRTYPE
                t.addfile(ti)
            elif kind == "link":
                ti.type, ti.linkname = tarfile.SYMTYPE, value
                t.addfile(ti)
            else:
                ti.size = len(value)
                ti.mode = 0o755 if kind == "exe" else 0o644
                t.addfile(ti, io.BytesIO(value))
    tar = raw.getvalue()
    gz = gzip.compress(tar, compresslevel=1, mtime=0)
    return ({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": blob(gz),
             "size": len(gz)}, "sha256:" + hashlib.sha256(tar).hexdigest())

with open(busybox, "rb") as f:
    base = [("bin", "dir", None), ("bin/busybox", "exe", f.read())]
base += [(f"bin/{c}", "link", "busybox")
         for c in ("sh", "sleep", "echo", "cat", "ls", "wc", "test", "true", "hostname", "id")]
base += [("etc", "dir", None), ("etc/passwd", "file", b"root:x:0:0:root:/root:/bin/sh\n"),
         ("tmp", "dir", None), ("layers", "dir", None),
         ("layers/first", "file", b"first layer 1\n"), ("layers/shadow", "file", b"1\n"),
         ("wh", "dir", None), ("wh/base-gone", "file", b"base\n"),
         ("wh/opaque", "dir", None), ("wh/opaque/old", "file", b"old\n")]
descs, diff_ids = [], []
for i in range(1, n + 1):
    entries = base if i == 1 else [
        ("layers", "dir", None), (f"layers/{i}", "file", f"layer {i}\n".encode()),
        ("layers/shadow", "file", f"{i}\n".encode())]
    if i == 3:
        entries += [("wh", "dir", None), ("wh/mid-gone", "file", b"mid\n")]
    if i == n // 2:
        entries += [("wh", "dir", None), ("wh/.wh.base-gone", "file", b""),
                    ("wh/opaque", "dir", None), ("wh/opaque/.wh..wh..opq", "file", b""),
                    ("wh/opaque/new", "file", f"layer {i}\n".encode())]
    if i == n - 2:
        entries += [("wh", "dir", None), ("wh/.wh.mid-gone", "file", b"")]
    if i == n:
        entries += [("layers/last", "file", f"last layer {n}\n".encode())]
    desc, diff_id = layer(entries)
    descs.append(desc)
    diff_ids.append(diff_id)
arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
config = json.dumps({
    "architecture": arch, "os": "linux",
    "config": {"Env": ["PATH=/bin"],
               "Cmd": ["/bin/sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"]},
    "rootfs": {"type": "layers", "diff_ids": diff_ids},
}, separators=(",", ":")).encode()
manifest = json.dumps({
    "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": blob(config),
               "size": len(config)},
    "layers": descs,
}, separators=(",", ":")).encode()
with open(f"{layout}/oci-layout", "w") as f:
    json.dump({"imageLayoutVersion": "1.0.0"}, f)
with open(f"{layout}/index.json", "w") as f:
    json.dump({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": blob(manifest),
        "size": len(manifest), "annotations": {"org.opencontainers.image.ref.name": "1.0"}}]}, f)
PYEOF
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

if [ "${1:-}" = "--layers" ]; then
  [ $# -eq 3 ] && [ "$3" -ge 4 ] 2>/dev/null || usage
  out=$2; n=$3
  mkdir -p "$out"
  out=$(cd "$out" && pwd)
  once "layers$n" "$out" build_layers "$out/layers$n" "$n"
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
