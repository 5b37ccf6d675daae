#!/usr/bin/env python3
"""make-seeds.py: (re)writes the seed corpora tests/fuzz/corpus/<target>/
and the dictionaries tests/fuzz/*.dict from the repository's fixtures and
examples and from the inputs listed here. Deterministic: running it again
gives the same bytes (gzip without a time stamp; zstd from the zstd CLI).

Seeds are the starting points, not the whole test: libFuzzer mutates them.
Each corpus stays small (a few dozen files, well under 1 MB). The fuzzer's
own finds are not committed (they go to build-fuzz/fuzz-work/); inputs that
crashed once go to tests/fuzz/regressions/<target>/ by hand.

Usage: tests/fuzz/make-seeds.py   (from anywhere; needs python3 and zstd)
"""
import gzip
import io
import json
import os
import re
import shutil
import struct
import subprocess
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")


def reset(target):
    d = os.path.join(CORPUS, target)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def put(d, name, data):
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def put_all(target, items):
    d = reset(target)
    for i, data in enumerate(items):
        put(d, "%02d" % i, data)


# ---- spec_load: every fixture and example deployment ----
def spec_load():
    d = reset("spec_load")
    sources = [
        "tests/fixtures/spec/full.yaml",
        "tests/fixtures/spec/valid",
        "tests/fixtures/spec/invalid",
        "tests/fixtures/spec/dir",
        "tests/fixtures/cli",
        "tests/fixtures/cli/dir",
        "examples/deployments",
    ]
    for src in sources:
        path = os.path.join(ROOT, src)
        files = [path] if os.path.isfile(path) else [
            os.path.join(path, f) for f in sorted(os.listdir(path))
            if f.endswith((".yaml", ".yml"))]
        for f in files:
            rel = os.path.relpath(f, ROOT)
            name = rel.replace("tests/fixtures/", "").replace("/", "-")
            with open(f, "rb") as fh:
                put(d, name, fh.read())


SPEC_SYNTAX = [
    "---", "...", "- ", ": ", "? ", "&a ", "*a", "<<: *a", "!!str ", "!!int ", "!!map",
    "|", "|-", ">", "{", "}", "[", "]", ",", "#", "'", '"', "\\u0000", "~", "null",
    "$E:", "$S:", "$secret://", "%YAML 1.1", "%TAG ! tag:x,2000:", "\xef\xbb\xbf",
    "0x1F", "0o17", "1e9", ".inf", ".nan", "-1", "9223372036854775808",
]


def spec_dict():
    """Every key and keyword the parser compares against (from spec/*.c)."""
    words = set()
    for f in sorted(os.listdir(os.path.join(ROOT, "spec"))):
        if f.endswith(".c"):
            with open(os.path.join(ROOT, "spec", f)) as fh:
                words.update(re.findall(r'"([a-z_][a-z0-9_]{1,30})"', fh.read()))
    lines = ["# YAML for fuzz_spec_load: spec keys and keywords (from spec/*.c) and YAML syntax.",
             "# Written by tests/fuzz/make-seeds.py."]
    for w in sorted(words):
        lines.append('"%s"' % w)
        lines.append('"%s: "' % w)
    for s in SPEC_SYNTAX:
        lines.append('"%s"' % "".join(
            c if 32 <= ord(c) < 127 and c not in '"\\' else "\\x%02x" % ord(c)
            for c in s.encode("latin-1").decode("latin-1")))
    with open(os.path.join(HERE, "spec_load.dict"), "w") as fh:
        fh.write("\n".join(lines) + "\n")


# ---- spec_units: durations, memory, cpu, signals, cron ----
def spec_units():
    put_all("spec_units", [
        "30s", "1h30m", "1h 30m", "250ms", "1ns", "2us", "1d", "1w", "10 seconds",
        "3 mins", "1 hour", "2 days", "1 week", "5", "1.5h", "-1s", "99999999999999999h",
        "512Mi", "1Gi", "64Ki", "2Ti", "512M", "0Mi", "9223372036854775807Ki",
        "0.25", "1.0", "2", "1e3", "0.0004", "-1", ".5", "1000000000000",
        "SIGTERM", "term", "TERM", "15", "SIGKILL", "SIGRTMIN", "SIGRTMAX-2", "0", "65",
        "* * * * *", "0 3 * * *", "*/15 * * * * *", "0 0 0 * * MON-FRI",
        "0 0 0 * JAN,jun,DEC *", "0 0 0 * * * 2030-2032", "0 0 0 29 2 *", "0 0 0 30 2 *",
        "0 10-20/5 * * * *", "0 0 9 * * FRI-SUN", "0 0 0 ? * MON", "@daily", "@hourly",
        "0 0 0 1 1 * 2300", "5-1 * * * * *", "1,,2 * * * * *", "* * * * * * * *",
    ])


# ---- registry_ref ----
HEX = "0123456789abcdef" * 4


def registry_ref():
    put_all("registry_ref", [
        "busybox", "busybox:1.36", "library/busybox", "docker.io/library/busybox:latest",
        "nginx:1.25-alpine", "ghcr.io/org/app:v1", "127.0.0.1:5000/team/app:latest",
        "[::1]:5000/app:1", "localhost/app", "Registry.Example.COM/app:latest",
        "registry.example/app@sha256:" + HEX, "app:1@sha256:" + HEX,
        "app@sha512:" + HEX, "app@sha256:short", "Nginx", "a$b", "-bad.io/app", "_private",
        "oci:/var/images/app", "oci:/var/images/app:1.0", "oci:./layout", "oci:/dir:",
        "oci:/dir:bad+tag", "file:/srv/app.wasm", "file:app.wasm", "file:../x/./y.wasm",
        "file:/", "file:", "a//b", "a/b/", "host:5000/", "a:b:c", " nginx",
    ])


# ---- auth_challenge: WWW-Authenticate headers ----
def auth_challenge():
    put_all("auth_challenge", [
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/busybox:pull"',
        'Basic realm="Registry Realm"',
        'Bearer realm="http://127.0.0.1:5001/token", service=local, scope="a,b"',
        'bearer realm="x\\"y",scope=',
        "Basic", "Bearer", "Digest realm=x", 'Bearer realm="unterminated',
        "  Bearer ,,realm=a,,service=b", "Bearer =x,realm",
    ])


# ---- manifest: manifests, indexes, configs ----
def d(n):
    return "sha256:" + ("%064x" % n)


def manifest():
    oci_layer = "application/vnd.oci.image.layer.v1.tar+gzip"
    docs = [
        {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
         "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": d(1), "size": 1470},
         "layers": [{"mediaType": oci_layer, "digest": d(2), "size": 2134},
                    {"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd", "digest": d(3), "size": 10}]},
        {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
         "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": d(4), "size": 7},
         "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": d(5), "size": 1}]},
        {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
         "manifests": [
             {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d(6), "size": 1,
              "platform": {"os": "linux", "architecture": "amd64"}},
             {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d(7), "size": 1,
              "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
             {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d(8), "size": 1,
              "platform": {"os": "unknown", "architecture": "unknown"},
              "annotations": {"vnd.docker.reference.type": "attestation-manifest"}}]},
        {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
         "manifests": [{"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": d(9),
                        "size": 1, "platform": {"os": "linux", "architecture": "arm", "variant": "v7"}}]},
        {"schemaVersion": 2, "manifests": [{"digest": d(10), "platform": {"os": "wasip1", "architecture": "wasm"}}]},
        {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
         "artifactType": "application/vnd.wasm.component.v1+wasm",
         "config": {"mediaType": "application/vnd.oci.empty.v1+json",
                    "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", "size": 2},
         "layers": [{"mediaType": "application/wasm", "digest": d(11), "size": 300}]},
        {"schemaVersion": 2, "config": {"mediaType": "application/vnd.wasm.config.v0+json", "digest": d(12), "size": 2},
         "layers": [{"mediaType": "application/vnd.wasm.content.layer.v1+wasm", "digest": d(13), "size": 9},
                    {"mediaType": "text/plain", "digest": d(14), "size": 9}]},
        {"schemaVersion": 2, "config": {"mediaType": "application/vnd.example+json", "digest": d(15)},
         "layers": [{"mediaType": "application/x-unknown", "digest": d(16), "size": 1}]},
        {"schemaVersion": 1, "name": "library/busybox", "fsLayers": []},
        {"architecture": "amd64", "os": "linux", "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"]},
         "rootfs": {"type": "layers", "diff_ids": [d(20), d(21)]}},
        {"rootfs": {"type": "layers", "diff_ids": [d(22), "sha256:XYZ"]}},
    ]
    items = [json.dumps(x, separators=(",", ":")) for x in docs]
    items += ["[]", "{", '{"schemaVersion":2.5}', ""]
    put_all("manifest", items)


def json_dict():
    words = ["schemaVersion", "mediaType", "artifactType", "config", "layers", "manifests", "platform",
             "os", "architecture", "variant", "digest", "size", "rootfs", "diff_ids", "annotations",
             "application/vnd.oci.image.index.v1+json", "application/vnd.oci.image.manifest.v1+json",
             "application/vnd.docker.distribution.manifest.list.v2+json",
             "application/vnd.docker.distribution.manifest.v2+json",
             "application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json",
             "application/vnd.oci.image.layer.v1.tar+gzip", "application/vnd.oci.image.layer.v1.tar+zstd",
             "application/vnd.oci.image.layer.v1.tar", "application/vnd.wasm.component.v1+wasm",
             "application/vnd.wasm.content.layer.v1+wasm", "application/vnd.wasm.config.v0+json",
             "application/wasm", "sha256:", "linux", "amd64", "arm64", "wasm",
             "exit_code", "signal", "reason", "oom_killed", "finished_at", "finished_at_ms", "pid",
             "error", "time", "stream", "text", "stdout", "stderr", "exited", "exec_failed"]
    lines = ["# JSON for fuzz_manifest and fuzz_monitor. Written by tests/fuzz/make-seeds.py."]
    lines += ['"\\"%s\\""' % w for w in words]
    lines += ['"{"', '"}"', '"["', '"]"', '":"', '","', '"null"', '"true"', '"false"', '"1e308"',
              '"-0"', '"\\\\u0000"', '"\\\\ud800"']
    with open(os.path.join(HERE, "json.dict"), "w") as fh:
        fh.write("\n".join(lines) + "\n")


# ---- wasm_check: module and component preambles and sections ----
def leb(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def section(sid, body):
    return bytes([sid]) + leb(len(body)) + body


def wasm_check():
    module = b"\0asm\x01\0\0\0"
    component = b"\0asm\x0d\0\x01\0"
    typesec = section(1, b"\x01\x60\x00\x00")
    funcsec = section(3, b"\x01\x00")
    exportsec = section(7, b"\x01\x06_start\x00\x00")
    codesec = section(10, b"\x01\x02\x00\x0b")
    custom = section(0, b"\x04name\x00")
    put_all("wasm_check", [
        module, module + typesec + funcsec + exportsec + codesec, module + custom,
        component, component + section(0, b"\x03abc"), component + section(1, module),
        module + bytes([1, 0x85, 0x80, 0x80, 0x80, 0x00]), module + bytes([1, 0xff, 0xff, 0xff, 0xff, 0x0f]),
        module + bytes([14, 0]), module + section(1, b"\x01\x60")[:-1],
        b"\0asm\x02\0\0\0", b"\0asm\x0c\0\x01\0", b"\0as", b"\x7fELF\x02\x01\x01", b"#!/bin/sh\n",
        b"\x1f\x8b\x08", b"PK\x03\x04", b"(module)", b"",
    ])


# ---- unpack: layer tarballs, plain, gzip and zstd ----
def tar_bytes(entries, fmt=tarfile.PAX_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for e in entries:
            kind, name = e[0], e[1]
            info = tarfile.TarInfo(name)
            info.mtime = 1700000000
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            data = b""
            if kind == "f":
                data = e[2] if len(e) > 2 else b"hello\n"
                info.size = len(data)
                info.mode = e[3] if len(e) > 3 else 0o644
            elif kind == "d":
                info.type = tarfile.DIRTYPE
                info.mode = e[2] if len(e) > 2 else 0o755
            elif kind == "l":
                info.type = tarfile.SYMTYPE
                info.linkname = e[2]
            elif kind == "h":
                info.type = tarfile.LNKTYPE
                info.linkname = e[2]
            elif kind == "c":
                info.type = tarfile.CHRTYPE
                info.devmajor, info.devminor = e[2], e[3]
            elif kind == "b":
                info.type = tarfile.BLKTYPE
                info.devmajor, info.devminor = 8, 0
            elif kind == "p":
                info.type = tarfile.FIFOTYPE
            elif kind == "x":  # file with pax xattrs
                data = b"x"
                info.size = 1
                info.pax_headers = e[2]
            t.addfile(info, io.BytesIO(data) if data else None)
    # tarfile pads the archive to 10 KiB; a layer needs only the two zero
    # blocks of the end marker, and small seeds fuzz faster.
    body = buf.getvalue().rstrip(b"\0")
    return body + b"\0" * ((512 - len(body) % 512) % 512 + 1024)


def gz(data):
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=9) as g:
        g.write(data)
    return buf.getvalue()


def zst(data):
    return subprocess.run(["zstd", "-q", "-c", "-19"], input=data, stdout=subprocess.PIPE,
                          check=True).stdout


def unpack():
    base = [("d", "etc/"), ("f", "etc/hostname", b"zl\n"), ("d", "bin/"),
            ("f", "bin/sh", b"\x7fELF", 0o755), ("l", "bin/ash", "sh"), ("h", "bin/busybox", "bin/sh"),
            ("f", "usr/lib/x", b"lib", 0o4755)]
    layers = {
        "base.tar": tar_bytes(base),
        "base.tar.gz": gz(tar_bytes(base)),
        "base.tar.zst": zst(tar_bytes(base)),
        "gnu.tar": tar_bytes(base, tarfile.GNU_FORMAT),
        "ustar.tar.gz": gz(tar_bytes(base[:3], tarfile.USTAR_FORMAT)),
        "whiteouts.tar": tar_bytes([("d", "etc/"), ("f", "etc/.wh.hostname", b""),
                                    ("d", "var/"), ("f", "var/.wh..wh..opq", b""), ("f", "var/new")]),
        "nodes.tar.gz": gz(tar_bytes([("c", "dev/null", 1, 3), ("c", "dev/zero-ish", 0, 0),
                                      ("b", "dev/sda"), ("p", "run/fifo")])),
        "xattrs.tar": tar_bytes([("x", "cap", {"SCHILY.xattr.security.capability": "\x01\x00\x00\x02",
                                               "SCHILY.xattr.user.note": "n"}),
                                 ("x", "ovl", {"SCHILY.xattr.trusted.overlay.redirect": "/x"})]),
        "dotdot.tar": tar_bytes([("f", "../escape"), ("f", "a/../../escape2")]),
        "absolute.tar": tar_bytes([("f", "/abs"), ("l", "abslink", "/tmp"), ("f", "abslink/x")]),
        "through-symlink.tar": tar_bytes([("l", "up", ".."), ("f", "up/x"), ("l", "d", "../../.."),
                                          ("d", "d/y/")]),
        "hardlink-out.tar": tar_bytes([("h", "h1", "../canary/keep"), ("l", "s", "/etc"),
                                       ("h", "h2", "s/passwd"), ("h", "h3", "missing")]),
        "replace.tar.zst": zst(tar_bytes([("d", "x/"), ("f", "x/a"), ("f", "x"), ("l", "x", "y"),
                                          ("d", "x/"), ("f", "etc/f", b"1"), ("f", "etc/f", b"2")])),
        "modes.tar": tar_bytes([("d", "ro/", 0o500), ("f", "ro/f", b"f", 0o400), ("d", "ro/", 0o000),
                                ("f", "setgid", b"", 0o2755)]),
        "long-name.tar": tar_bytes([("f", "d/" + "n" * 200), ("l", "l" * 120, "t" * 300)]),
        "empty.tar": b"\0" * 1024,
        "truncated.tar.gz": gz(tar_bytes(base))[:60],
        "garbage": b"not a layer\n",
    }
    d = reset("unpack")
    for name, data in layers.items():
        put(d, name, data)


# ---- netlink: replies to one request (see fuzz_netlink.c for the framing) ----
NLMSG_ERROR, NLMSG_DONE, RTM_NEWLINK = 2, 3, 16
NLM_F_MULTI, NLM_F_CAPPED, NLM_F_ACK_TLVS = 0x2, 0x100, 0x200


def nlmsg(mtype, payload, flags=0, seq=1):
    msg = struct.pack("=IHHII", 16 + len(payload), mtype, flags, seq, 4242) + payload
    return msg + b"\0" * ((4 - len(msg) % 4) % 4)


def rta(atype, payload):
    a = struct.pack("=HH", 4 + len(payload), atype) + payload
    return a + b"\0" * ((4 - len(a) % 4) % 4)


def ack(errno=0, tlvs=b"", capped=True):
    req = struct.pack("=IHHII", 40, RTM_NEWLINK, 5, 1, 0)
    flags = (NLM_F_CAPPED if capped else 0) | (NLM_F_ACK_TLVS if tlvs else 0)
    body = struct.pack("=i", -errno) + req + (b"" if capped else b"\0" * 24)
    return nlmsg(NLMSG_ERROR, body + tlvs, flags)


def frames(op, *datagrams, fix=True):
    out = bytes([op | (0x10 if fix else 0)])
    for dg in datagrams:
        out += struct.pack("<H", len(dg)) + dg
    return out


def netlink():
    ifinfo = struct.pack("=BxHiII", 0, 1, 7, 0x1043, 0)
    linkinfo = rta(18, rta(1, b"bridge\0") + rta(2, rta(1, b"\0\0\0\0")))  # IFLA_LINKINFO
    newlink = nlmsg(RTM_NEWLINK, ifinfo + rta(3, b"zlfuzz0\0") + rta(10, struct.pack("=I", 3)) + linkinfo)
    extack = rta(1, b"Invalid argument: no such device\0") + rta(2, struct.pack("=I", 20))
    put_all("netlink", [
        frames(0, newlink, ack()),
        frames(0, newlink + ack()),
        frames(0, ack(19)),  # ENODEV
        frames(0, ack(22, extack)),
        frames(0, ack(22, extack, capped=False)),
        frames(0, nlmsg(NLMSG_DONE, b"\0\0\0\0")),
        frames(0, nlmsg(RTM_NEWLINK, ifinfo, seq=7) + ack(), fix=False),
        frames(1, ack()), frames(1, ack(17, extack)),
        frames(2, newlink + ack(), ack()), frames(2, newlink + ack(), ack(17)),
        frames(3, newlink + ack(), ack(101, extack)),
        frames(4, newlink + ack(), ack()),
        frames(5, newlink + ack(), ack()),
        frames(6, ack()), frames(7, ack(17)), frames(8, ack()),
        frames(0, nlmsg(NLMSG_ERROR, b"\0\0")),
        frames(0),
    ])


# ---- monitor: exit records, log lines, runtime error text ----
def monitor():
    put_all("monitor", [
        '{"exit_code":137,"signal":"SIGKILL","reason":"oom_killed","oom_killed":true,'
        '"finished_at":"2026-11-22T10:00:01.234Z","finished_at_ms":1795341601234,"pid":4242}\n',
        '{"exit_code":0,"signal":null,"reason":"exited","oom_killed":false,"finished_at_ms":1,"pid":7}',
        '{"exit_code":127,"signal":null,"reason":"exec_failed","pid":-1,'
        '"error":"exec: \\"nosuch\\": executable file not found in $PATH"}',
        '{"exit_code":143,"signal":"TERM","reason":"signal"}',
        '{"exit_code":"1","reason":1}',
        '{"time":"2026-11-22T10:00:00.123Z","stream":"stdout","text":"hello\\n"}\n'
        '{"time":"2026-11-22T10:00:00.124Z","stream":"stderr","text":"bad \\u0000 \\ud800 \ufffd\\n"}\n'
        'not json\n{"time":"t","stream":"stdout","text":"no newline"}',
        "4242 123456\n",
        "runc create failed: unable to start container process: exec: \"nosuch\": "
        "executable file not found in $PATH",
        'runc create failed: unable to start container process: exec: "/etc/passwd": permission denied',
        "exec /bin/echo: argument list too long\n",
        "exec /app/start.sh: exec format error\n",
        "executable file `nosuch` not found in $PATH: No such file or directory",
        "the path `/etc` exists but it is not executable: Permission denied",
        "exec container process `/bin/x`: Exec format error",
        b"\xc3\x28 \xe2\x82 \xf0\x9f\x98\x80 \xed\xa0\x80 \xf4\x90\x80\x80 \x00 \xc0\xaf",
    ])


def main():
    spec_load()
    spec_dict()
    spec_units()
    registry_ref()
    auth_challenge()
    manifest()
    json_dict()
    wasm_check()
    unpack()
    netlink()
    monitor()


if __name__ == "__main__":
    main()
