#!/usr/bin/env python3
"""build-wasm.py: WebAssembly test artifacts, built offline (no compiler, no
network): hand-assembled modules and components, and OCI layouts holding them
as OCI artifacts. `registry.sh push` (skopeo copy --all) uploads the layouts
byte for byte: skopeo 1.9 keeps artifactType and any config media type.

  build-wasm.py OUTDIR
      OUTDIR/files/   plain files for file: references
          hello.wasm      WASI preview 1 module: _start calls proc_exit(7);
                          exports memory (node:wasi runs it, exit code 7)
          component.wasm  a component (preamble 0x0d 0x00 0x01 0x00) holding
                          one custom section
          truncated.wasm  hello.wasm cut in the middle of its code section
          short.wasm      the first 6 bytes of hello.wasm (no whole header)
          not-wasm.txt    a shell script
          future.wasm     \\0asm with binary version 2
      OUTDIR/NAME/    OCI layouts, tag 1.0 (each module differs: exit code):
          wasm-type-component  artifactType application/vnd.wasm.component.v1+wasm,
                               empty config, layer application/octet-stream
          wasm-type-module     artifactType application/vnd.wasm.content.layer.v1+wasm,
                               empty config, layer application/octet-stream
          wasm-config          no artifactType, config
                               application/vnd.wasm.config.v0+json, layer
                               application/octet-stream
          wasm-layer           no artifactType, an OCI image config (Env),
                               layer application/wasm
          wasm-index           an image index whose only entry is wasm-layer's
                               manifest for platform wasip1/wasm
          wasm-truncated       as wasm-layer, the layer is truncated.wasm
          wasm-not-wasm        as wasm-layer, the layer is not-wasm.txt
          not-an-image         config application/vnd.example.config.v1+json,
                               layer application/vnd.example.data.v1 (neither
                               a container image nor WASM)
      OUTDIR/wasm.json  {NAME: {"manifest", "config", "wasm", "wasm_size",
                        "kind": "wasm_module"|"wasm_component"|""}} (wasm-index
                        also has "index") and {"files": {FILE: {"digest", "size"}}}

Idempotent: build rewrites the same bytes (digests are stable).
"""
import hashlib
import json
import os
import sys

MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_EMPTY = "application/vnd.oci.empty.v1+json"
MT_IMAGE_CONFIG = "application/vnd.oci.image.config.v1+json"
AT_COMPONENT = "application/vnd.wasm.component.v1+wasm"
AT_MODULE = "application/vnd.wasm.content.layer.v1+wasm"
MT_WASM_CONFIG = "application/vnd.wasm.config.v0+json"
MT_WASM_LAYER = "application/wasm"
MT_OCTET = "application/octet-stream"


def uleb(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def name(s):
    b = s.encode()
    return uleb(len(b)) + b


def section(sid, payload):
    return bytes([sid]) + uleb(len(payload)) + payload


def vec(items):
    return uleb(len(items)) + b"".join(items)


def module(exit_code):
    """(module (import "wasi_snapshot_preview1" "proc_exit" (func (param i32)))
    (memory 1) (export "memory" (memory 0))
    (func (export "_start") i32.const EXIT call 0))"""
    types = section(1, vec([b"\x60\x01\x7f\x00", b"\x60\x00\x00"]))
    imports = section(2, vec([name("wasi_snapshot_preview1") + name("proc_exit") + b"\x00\x00"]))
    funcs = section(3, vec([b"\x01"]))
    memory = section(5, vec([b"\x00\x01"]))
    exports = section(7, vec([name("memory") + b"\x02\x00", name("_start") + b"\x00\x01"]))
    body = b"\x00" + b"\x41" + sleb(exit_code) + b"\x10\x00" + b"\x0b"
    code = section(10, vec([uleb(len(body)) + body]))
    return b"\x00asm\x01\x00\x00\x00" + types + imports + funcs + memory + exports + code


def sleb(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if (n == 0 and not b & 0x40) or (n == -1 and b & 0x40):
            out.append(b)
            return bytes(out)
        out.append(b | 0x80)


def component(tag):
    """An empty component with one custom section (valid per the component
    model's binary format: preamble, then sections)."""
    return b"\x00asm\x0d\x00\x01\x00" + section(0, name("zlapply-test") + tag.encode())


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canon(obj):
    return json.dumps(obj, separators=(",", ":"), sort_keys=False).encode()


def write(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


class Layout:
    def __init__(self, path):
        self.path = path
        os.makedirs(f"{path}/blobs/sha256", exist_ok=True)
        write(f"{path}/oci-layout", b'{"imageLayoutVersion":"1.0.0"}')

    def blob(self, data):
        d = digest(data)
        write(f"{self.path}/blobs/sha256/{d[7:]}", data)
        return d

    def desc(self, media_type, data):
        return {"mediaType": media_type, "digest": self.blob(data), "size": len(data)}

    def tag(self, media_type, data, tag="1.0"):
        d = self.desc(media_type, data)
        d["annotations"] = {"org.opencontainers.image.ref.name": tag}
        write(f"{self.path}/index.json",
              canon({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": [d]}))
        return d["digest"]


def artifact(out, lname, wasm, kind, artifact_type=None, config_mt=MT_EMPTY, config=b"{}",
             layer_mt=MT_OCTET, info=None):
    lay = Layout(f"{out}/{lname}")
    manifest = {"schemaVersion": 2, "mediaType": MT_MANIFEST}
    if artifact_type:
        manifest["artifactType"] = artifact_type
    manifest["config"] = lay.desc(config_mt, config)
    manifest["layers"] = [lay.desc(layer_mt, wasm)]
    mdata = canon(manifest)
    mdigest = lay.tag(MT_MANIFEST, mdata)
    if info is not None:
        info[lname] = {"manifest": mdigest, "config": manifest["config"]["digest"],
                       "wasm": digest(wasm), "wasm_size": len(wasm), "kind": kind}
    return lay, mdata


def build(out):
    os.makedirs(f"{out}/files", exist_ok=True)
    hello = module(7)
    comp = component("file")
    files = {
        "hello.wasm": hello,
        "component.wasm": comp,
        "truncated.wasm": hello[: len(hello) - 4],
        "short.wasm": hello[:6],
        "not-wasm.txt": b"#!/bin/sh\necho not a module\n",
        "future.wasm": b"\x00asm\x02\x00\x00\x00",
    }
    info = {"files": {}}
    for fname, data in files.items():
        write(f"{out}/files/{fname}", data)
        info["files"][fname] = {"digest": digest(data), "size": len(data)}

    artifact(out, "wasm-type-component", component("artifactType"), "wasm_component",
             artifact_type=AT_COMPONENT, info=info)
    artifact(out, "wasm-type-module", module(11), "wasm_module", artifact_type=AT_MODULE,
             info=info)
    m12 = module(12)
    wcfg = canon({"created": "2026-01-01T00:00:00Z", "architecture": "wasm", "os": "wasip1",
                  "layerDigests": [digest(m12)]})
    artifact(out, "wasm-config", m12, "wasm_module", config_mt=MT_WASM_CONFIG, config=wcfg,
             info=info)
    m13 = module(13)
    icfg = canon({"architecture": "wasm", "os": "wasip1",
                  "config": {"Env": ["GREETING=hello"]},
                  "rootfs": {"type": "layers", "diff_ids": [digest(m13)]}})
    lay, mdata = artifact(out, "wasm-layer", m13, "wasm_module", config_mt=MT_IMAGE_CONFIG,
                          config=icfg, layer_mt=MT_WASM_LAYER, info=info)

    # An index naming the same manifest for platform wasip1/wasm.
    idx = Layout(f"{out}/wasm-index")
    for f in os.listdir(f"{lay.path}/blobs/sha256"):
        with open(f"{lay.path}/blobs/sha256/{f}", "rb") as src:
            idx.blob(src.read())
    entry = {"mediaType": MT_MANIFEST, "digest": digest(mdata), "size": len(mdata),
             "platform": {"architecture": "wasm", "os": "wasip1"}}
    index = canon({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": [entry]})
    info["wasm-index"] = dict(info["wasm-layer"], index=idx.tag(MT_INDEX, index))

    artifact(out, "wasm-truncated", files["truncated.wasm"], "", config_mt=MT_IMAGE_CONFIG,
             config=icfg, layer_mt=MT_WASM_LAYER, info=info)
    artifact(out, "wasm-not-wasm", files["not-wasm.txt"], "", config_mt=MT_IMAGE_CONFIG,
             config=icfg, layer_mt=MT_WASM_LAYER, info=info)
    artifact(out, "not-an-image", b"some data\n", "",
             config_mt="application/vnd.example.config.v1+json", config=b'{"thing":1}',
             layer_mt="application/vnd.example.data.v1", info=info)
    write(f"{out}/wasm.json", json.dumps(info, indent=1).encode())


def main():
    if len(sys.argv) != 2 or sys.argv[1].startswith("-"):
        sys.exit("usage: build-wasm.py OUTDIR")
    build(sys.argv[1])


if __name__ == "__main__":
    main()
