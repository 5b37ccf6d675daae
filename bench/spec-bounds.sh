#!/usr/bin/env bash
# Benchmark: `zlapply validate` on hostile and large spec files (issue 14),
# two builds side by side: BEFORE (e.g. a build of an older commit) and
# AFTER. Each file is generated here; for each build: wall time, peak RSS and
# exit status of one validate (a BEFORE run past TIMEOUT seconds is killed
# and shown as ">TIMEOUT s"). Linear means the 2 MB files cost about four
# times the 0.5 MB ones, and nothing costs minutes.
# Usage: bench/spec-bounds.sh BEFORE_BUILD AFTER_BUILD [TIMEOUT]
#   TIMEOUT: seconds per run (default 120)
set -euo pipefail
cd "$(dirname "$0")/.."
before=$(realpath "$1")
after=$(realpath "$2")
timeout=${3:-120}
command -v python3 >/dev/null || { echo "bench: python3 missing (scripts/setup)" >&2; exit 1; }

work=$(mktemp -d /tmp/zlapply-bounds-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

python3 - "$work" <<'PY'
import sys
d = sys.argv[1]
def w(name, text):
    open("%s/%s.yaml" % (d, name), "w").write(text)
head = "version: v1\ndeployment: bench\nservices: {}\n"
# the issue's file: 100,000 levels of {a: ...} in 0.5 MB
n = 100000
w("deep-100k", head + "x: " + "{a: " * n + "1" + "}" * n + "\n")
# 0.5 MB and 2 MB of env entries: the ordinary shape, for scale
for name, size in (("wide-0.5M", 500000), ("wide-2M", 2000000)):
    lines = ["version: v1", "deployment: bench", "services:", "  web:", "    image: busybox", "    env:"]
    i, total = 0, 0
    while total < size:
        l = "      K%d: v%d" % (i, i)
        lines.append(l)
        total += len(l) + 1
        i += 1
    w(name, "\n".join(lines) + "\n")
# 30,000 anchors, each used once
w("anchors-30k", head + "externals:\n  x: [" + ", ".join("&a%d v" % i for i in range(30000)) +
  "]\n  y: [" + ", ".join("*a%d" % i for i in range(30000)) + "]\n")
# 14,000 and 55,000 small documents (0.5 and 2 MB)
for name, count in (("docs-14k", 13889), ("docs-55k", 55556)):
    w(name, "".join("version: v1\ndeployment: d%06d\n---\n" % i for i in range(count)))
# 10,000 services each depending on an unknown one
w("depends-10k", "version: v1\ndeployment: bench\nservices:\n" +
  "".join("  s%05d: {image: x, depends: [{service: t%05d}]}\n" % (i, i) for i in range(10000)))
# two names of 200,000 characters
w("long-names", "version: v1\ndeployment: bench\nservices:\n  ? " + "a" * 200000 +
  "\n  : {image: x}\n  b: {image: x, depends: [{service: \"" + "b" * 200000 + "\"}]}\n")
# 111,000 unknown keys (2 MB)
w("unknown-keys-2M", "version: v1\ndeployment: bench\nservices:\n  a:\n    image: x\n" +
  "".join("    imagf%d: 1\n" % i for i in range(111000)))
# a billion laughs: 10^10 nodes through aliases in 600 bytes
t = head + "externals:\n  l0: &l0 [a, a, a, a, a, a, a, a, a, a]\n"
for i in range(1, 10):
    t += "  l%d: &l%d [%s]\n" % (i, i, ", ".join(["*l%d" % (i - 1)] * 10))
w("laughs", t)
# the most nodes a file may have: 1,000,000 (2 MB)
w("nodes-1M", head + "externals: {x: [a" + ",a" * 999988 + "]}\n")
PY

# measure ZLAPPLY FILE: "<ms> <peak RSS KiB> <exit>" of one validate, or
# ">TIMEOUT s" when killed.
measure() {
  python3 - "$timeout" "$@" <<'PY'
import os, subprocess, sys, time
limit = float(sys.argv[1])
t0 = time.monotonic()
p = subprocess.Popen([sys.argv[2], "validate", "-f", sys.argv[3]], stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL)
while True:
    pid, status, ru = os.wait4(p.pid, os.WNOHANG)
    if pid:
        break
    if time.monotonic() - t0 > limit:
        p.kill()
        os.wait4(p.pid, 0)
        print(">%d s" % limit)
        sys.exit(0)
    time.sleep(0.005)
ms = (time.monotonic() - t0) * 1000
print("%d ms, %d MiB, exit %d" % (ms, ru.ru_maxrss // 1024, os.waitstatus_to_exitcode(status)))
PY
}

echo "machine: $(nproc) cores, $(uname -r)"
printf '%-16s %9s  %-28s %-28s\n' file size before after
for f in deep-100k wide-0.5M wide-2M anchors-30k docs-14k docs-55k depends-10k long-names \
	 unknown-keys-2M laughs nodes-1M; do
  path="$work/$f.yaml"
  size=$(stat -c %s "$path")
  b=$(measure "$before/cli/zlapply" "$path")
  a=$(measure "$after/cli/zlapply" "$path")
  printf '%-16s %9s  %-28s %-28s\n' "$f" "$size" "$b" "$a"
done
