#!/usr/bin/env bash
# build-debian-images.sh: real distribution images for the integration tests,
# made from Debian's own packages (debootstrap --variant=minbase bookworm) and
# turned into OCI image layouts with umoci. Only Debian's package mirror is
# used: the one apt uses on this host (read from /etc/apt/sources.list*), else
# http://deb.debian.org/debian. Needs root, debootstrap, umoci, python3.
#
#   build-debian-images.sh CACHE_DIR
#       CACHE_DIR/nginx      OCI layout, tag 1.0, two layers (minbase; nginx-light).
#                            Like the official nginx image: Cmd
#                            ["nginx","-g","daemon off;"], StopSignal SIGQUIT,
#                            ExposedPorts 80/tcp, access/error logs linked to
#                            /dev/stdout and /dev/stderr; workers run as
#                            www-data (Debian's nginx.conf). The device nodes
#                            debootstrap makes under /dev (console, null, ...)
#                            stay in the base layer ON PURPOSE: a plain
#                            debootstrap tree has them and zlapply has to cope.
#       CACHE_DIR/postgres   tag 15, two layers (minbase; postgresql-15). Like
#                            the official postgres image: User postgres,
#                            PGDATA=/var/lib/postgresql/data, PATH with
#                            /usr/lib/postgresql/15/bin, StopSignal SIGINT,
#                            Volumes and a 0700 postgres-owned PGDATA,
#                            ExposedPorts 5432/tcp, Entrypoint
#                            /usr/local/bin/docker-entrypoint.sh (initdb with
#                            trust auth, listen '*', when PGDATA is empty; then
#                            exec "$@"), Cmd ["postgres"].
#       CACHE_DIR/NAME.json  {"manifest", "config", "layers", "layer_sizes",
#                            "diff_ids", "tag", "uids": {user: uid}} for tests.
#
# Idempotent and cached: a finished layout is marked CACHE_DIR/.NAME.done,
# holding a hash of this script; a change of the script rebuilds. A lock
# (CACHE_DIR/.lock) keeps two builds from racing. Temporary trees are removed
# on exit, also on failure. debootstrap and apt run under `timeout`
# (ZL_DEBOOTSTRAP_TIMEOUT, ZL_APT_TIMEOUT: seconds, 1200 each). A cold build
# takes about 80-110 s here (debootstrap 30-45 s); layers (gzip): the shared
# minbase 28.6 MiB, nginx-light 5.6 MiB, postgresql-15 104 MiB (LLVM and ICU
# are most of it).
set -euo pipefail

SUITE=bookworm
CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ)
DEBOOTSTRAP_TIMEOUT=${ZL_DEBOOTSTRAP_TIMEOUT:-1200}
APT_TIMEOUT=${ZL_APT_TIMEOUT:-1200}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

die() { echo "build-debian-images: $*" >&2; exit 1; }
log() { echo "build-debian-images: $*" >&2; }

[ $# -eq 1 ] || { echo "usage: $0 CACHE_DIR" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot, device nodes)"
command -v debootstrap >/dev/null || die "debootstrap not found (apt-get install debootstrap)"
command -v umoci >/dev/null || die "umoci not found (apt-get install umoci)"
command -v unshare >/dev/null || die "unshare not found (util-linux)"

self_hash=$(sha256sum "$0" | cut -c1-64)
out=$1
mkdir -p "$out"
out=$(cd "$out" && pwd)

done_ok() { # NAME
  [ -f "$out/.$1.done" ] && [ "$(cat "$out/.$1.done")" = "$self_hash" ] && [ -f "$out/$1.json" ]
}
done_ok nginx && done_ok postgres && exit 0

exec 9>"$out/.lock"
flock -w 3600 9 || die "another build holds $out/.lock"
done_ok nginx && done_ok postgres && exit 0 # built while we waited

tmp=""
cleanup() {
  [ -n "$tmp" ] || return 0
  # Nothing should be mounted under it (chroots run in their own mount
  # namespace), but never follow a mount into the host.
  if grep -q " $tmp/" /proc/self/mounts 2>/dev/null; then
    grep " $tmp/" /proc/self/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l || true
  fi
  rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
tmp=$(mktemp -d /var/tmp/zldebimg-XXXXXX)

# The mirror apt uses here: the first URI serving $SUITE (deb822 .sources or
# one-line .list), not a security or updates suite. ZL_DEBIAN_MIRROR overrides.
mirror() {
  if [ -n "${ZL_DEBIAN_MIRROR:-}" ]; then echo "$ZL_DEBIAN_MIRROR"; return 0; fi
  "$PY" - "$SUITE" <<'PYEOF'
import glob, re, sys
suite = sys.argv[1]
files = ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")) \
    + sorted(glob.glob("/etc/apt/sources.list.d/*.sources"))
for path in files:
    try:
        text = open(path).read()
    except OSError:
        continue
    if path.endswith(".sources"):
        for stanza in re.split(r"\n\s*\n", text):
            fields = {}
            for line in stanza.splitlines():
                if line.startswith("#") or ":" not in line or line[:1].isspace():
                    continue
                k, v = line.split(":", 1)
                fields[k.strip().lower()] = v.split()
            if "deb" not in fields.get("types", []) or fields.get("enabled", ["yes"])[0] == "no":
                continue
            if suite in fields.get("suites", []):
                for uri in fields.get("uris", []):
                    if uri.startswith(("http://", "https://")):
                        print(uri.rstrip("/")); sys.exit(0)
    else:
        for line in text.splitlines():
            w = line.split("#", 1)[0].split()
            if len(w) >= 3 and w[0] == "deb":
                rest = [x for x in w[1:] if not x.startswith("[")]
                if len(rest) >= 2 and rest[1] == suite and rest[0].startswith(("http://", "https://")):
                    print(rest[0].rstrip("/")); sys.exit(0)
print("http://deb.debian.org/debian")
PYEOF
}

# in_root ROOT SCRIPT: runs SCRIPT with /bin/sh chrooted in ROOT, in a mount
# namespace of its own with /proc mounted (gone with the namespace), no
# service started (policy-rc.d), bounded by timeout.
in_root() {
  local root=$1 script=$2
  printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
  chmod 755 "$root/usr/sbin/policy-rc.d"
  local had_resolv=0
  if [ -e "$root/etc/resolv.conf" ] || [ -L "$root/etc/resolv.conf" ]; then
    had_resolv=1
    mv "$root/etc/resolv.conf" "$root/etc/resolv.conf.zlsave"
  fi
  cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
  local rc=0
  timeout --kill-after=10 "$APT_TIMEOUT" unshare --mount --propagation private --fork \
    /bin/sh -c 'mount -t proc proc "$1/proc" && exec chroot "$1" /usr/bin/env -i \
      PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LC_ALL=C /bin/sh -ec "$2"' \
    sh "$root" "$script" >>"$tmp/chroot.log" 2>&1 || rc=$?
  rm -f "$root/etc/resolv.conf" "$root/usr/sbin/policy-rc.d"
  [ "$had_resolv" -eq 0 ] || mv "$root/etc/resolv.conf.zlsave" "$root/etc/resolv.conf"
  if [ "$rc" -ne 0 ]; then
    tail -n 30 "$tmp/chroot.log" >&2
    die "chroot step failed (exit $rc) in $root"
  fi
}

# trim ROOT: what an image does not need (docs, man pages, translations, apt
# lists and caches, logs). Copyright files stay.
trim() {
  local r=$1
  find "$r/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete 2>/dev/null || true
  find "$r/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
  rm -rf "$r"/usr/share/man/* "$r"/usr/share/info/* "$r"/usr/share/lintian \
    "$r"/usr/share/linda "$r"/var/cache/man
  find "$r/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} + 2>/dev/null || true
  rm -rf "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/*.bin "$r"/var/cache/apt/archives/*.deb \
    "$r"/var/cache/apt/archives/partial/* "$r"/var/cache/debconf/*-old "$r"/var/lib/dpkg/*-old
  find "$r/var/log" -type f -delete 2>/dev/null || true
  rm -rf "$r"/tmp/* "$r"/var/tmp/*
}

# The minbase tree both images start from (built once per run of this
# script), trimmed, with dpkg told to leave docs out of later installs.
base=""
make_base() {
  [ -z "$base" ] || return 0
  base=$tmp/base
  local m
  m=$(mirror)
  log "debootstrap --variant=minbase $SUITE from $m"
  local t0=$SECONDS
  # In a mount namespace of its own: the /proc and /sys debootstrap mounts
  # in the target go with it, even when timeout kills it.
  if ! timeout --kill-after=10 "$DEBOOTSTRAP_TIMEOUT" unshare --mount --propagation private \
      --fork debootstrap --variant=minbase "$SUITE" "$base" "$m" >"$tmp/debootstrap.log" 2>&1; then
    tail -n 30 "$tmp/debootstrap.log" >&2
    [ ! -f "$base/debootstrap/debootstrap.log" ] || tail -n 30 "$base/debootstrap/debootstrap.log" >&2
    die "debootstrap failed (log above)"
  fi
  log "debootstrap took $((SECONDS - t0)) s"
  cat > "$base/etc/dpkg/dpkg.cfg.d/01-zl-trim" <<'EOF'
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/lintian/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
EOF
  cat > "$base/etc/apt/apt.conf.d/01-zl-image" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
EOF
  rm -f "$base/etc/hostname"
  trim "$base"
}

# layout_from_tree LAYOUT TAG TREE: a new image whose first layer is TREE.
layout_from_tree() {
  local layout=$1 tag=$2 tree=$3
  rm -rf "$layout"
  umoci init --layout "$layout"
  umoci new --image "$layout:$tag"
  rm -rf "$tmp/b"
  umoci unpack --image "$layout:$tag" "$tmp/b" >/dev/null
  cp -a "$tree/." "$tmp/b/rootfs/"
  umoci repack --image "$layout:$tag" --history.created_by "debootstrap --variant=minbase $SUITE" \
    --history.created "$CREATED" "$tmp/b"
  rm -rf "$tmp/b"
}

# add_layer LAYOUT TAG WHAT SCRIPT: unpacks LAYOUT:TAG, runs SCRIPT in the
# tree, trims it, and repacks the difference as a new layer (history: WHAT).
add_layer() {
  local layout=$1 tag=$2 what=$3 script=$4
  rm -rf "$tmp/b"
  umoci unpack --image "$layout:$tag" "$tmp/b" >/dev/null
  in_root "$tmp/b/rootfs" "$script"
  trim "$tmp/b/rootfs"
  umoci repack --image "$layout:$tag" --history.created_by "$what" --history.created "$CREATED" \
    "$tmp/b"
  rm -rf "$tmp/b"
}

# uids LAYOUT TAG USER...: {"user": uid, ...} from the image's /etc/passwd.
uids_json() {
  local layout=$1 tag=$2
  shift 2
  rm -rf "$tmp/u"
  umoci unpack --image "$layout:$tag" "$tmp/u" >/dev/null
  "$PY" - "$tmp/u/rootfs/etc/passwd" "$@" <<'PYEOF'
import json, sys
users = {}
for line in open(sys.argv[1]):
    f = line.strip().split(":")
    if len(f) >= 4:
        users[f[0]] = (int(f[2]), int(f[3]))
print(json.dumps({u: {"uid": users[u][0], "gid": users[u][1]} for u in sys.argv[2:] if u in users}))
PYEOF
  rm -rf "$tmp/u"
}

# describe LAYOUT TAG OUT UIDS_JSON
describe() {
  "$PY" - "$1" "$2" "$3" "$4" <<'PYEOF'
import json, os, sys
layout, tag, out, uids = sys.argv[1:5]
def blob(d):
    with open(f"{layout}/blobs/sha256/{d[7:]}", "rb") as f:
        return json.load(f)
idx = json.load(open(f"{layout}/index.json"))
desc = [m for m in idx["manifests"]
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag][0]
doc = blob(desc["digest"])
cfg = blob(doc["config"]["digest"])
info = {"tag": tag, "manifest": desc["digest"], "media_type": desc["mediaType"],
        "config": doc["config"]["digest"],
        "layers": [l["digest"] for l in doc["layers"]],
        "layer_sizes": [l["size"] for l in doc["layers"]],
        "diff_ids": cfg["rootfs"]["diff_ids"],
        "architecture": cfg.get("architecture"),
        "image_config": cfg.get("config", {}),
        "users": json.loads(uids)}
with open(out + ".tmp", "w") as f:
    json.dump(info, f, indent=1)
os.replace(out + ".tmp", out)
PYEOF
}

build_nginx() { # LAYOUT TAG
  local layout=$1 tag=$2
  make_base
  layout_from_tree "$layout" "$tag" "$base"
  add_layer "$layout" "$tag" "apt-get install nginx-light" '
    apt-get update -q
    apt-get install -y -q --no-install-recommends nginx-light
    apt-get clean
    ln -sf /dev/stdout /var/log/nginx/access.log
    ln -sf /dev/stderr /var/log/nginx/error.log
    grep -q "^user www-data;" /etc/nginx/nginx.conf
    test -f /var/www/html/index.nginx-debian.html
  '
  umoci config --image "$layout:$tag" --architecture amd64 --os linux \
    --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --config.cmd nginx --config.cmd -g --config.cmd 'daemon off;' \
    --config.stopsignal SIGQUIT --config.exposedports 80/tcp \
    --history.created "$CREATED" --history.created_by "config: nginx -g daemon off;"
  umoci gc --layout "$layout"
  describe "$layout" "$tag" "$out/nginx.json" "$(uids_json "$layout" "$tag" www-data root)"
}

build_postgres() { # LAYOUT TAG
  local layout=$1 tag=$2
  make_base
  layout_from_tree "$layout" "$tag" "$base"
  # As the official image: no cluster made by the package (createcluster.d),
  # a socket directory anyone may use, PGDATA owned by postgres with 0700.
  add_layer "$layout" "$tag" "apt-get install postgresql-15" '
    mkdir -p /etc/postgresql-common/createcluster.d
    echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/zl-image.conf
    apt-get update -q
    apt-get install -y -q --no-install-recommends postgresql-15
    apt-get clean
    # ssl-cert made a key pair at install: no private key in an image.
    rm -f /etc/ssl/private/ssl-cert-snakeoil.key /etc/ssl/certs/ssl-cert-snakeoil.pem
    find /etc/ssl/certs -xtype l -delete
    test -x /usr/lib/postgresql/15/bin/postgres
    id postgres
    mkdir -p /var/run/postgresql /var/lib/postgresql/data
    chown postgres:postgres /var/run/postgresql /var/lib/postgresql/data
    chmod 3777 /var/run/postgresql
    chmod 0700 /var/lib/postgresql/data
    mkdir -p /usr/local/bin
    cat > /usr/local/bin/docker-entrypoint.sh <<"EOF"
#!/bin/sh
# docker-entrypoint.sh (zlapply test image): initdb on an empty PGDATA, then
# the command (postgres by default). Trust auth: a test image only.
set -e
if [ "${1#-}" != "$1" ]; then set -- postgres "$@"; fi
if [ "$1" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
  echo "docker-entrypoint.sh: initdb in $PGDATA as $(id -un) ($(id -u))"
  initdb --username=postgres --auth=trust --pgdata="$PGDATA" --no-instructions
  echo "listen_addresses = '"'"'*'"'"'" >> "$PGDATA/postgresql.conf"
  echo "host all all all trust" >> "$PGDATA/pg_hba.conf"
  echo "docker-entrypoint.sh: initdb done"
fi
exec "$@"
EOF
    chmod 0755 /usr/local/bin/docker-entrypoint.sh
  '
  umoci config --image "$layout:$tag" --architecture amd64 --os linux \
    --config.user postgres \
    --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/lib/postgresql/15/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --config.env PGDATA=/var/lib/postgresql/data \
    --config.env PG_MAJOR=15 \
    --config.entrypoint /usr/local/bin/docker-entrypoint.sh --config.cmd postgres \
    --config.stopsignal SIGINT --config.exposedports 5432/tcp \
    --config.volume /var/lib/postgresql/data \
    --history.created "$CREATED" --history.created_by "config: docker-entrypoint.sh postgres"
  umoci gc --layout "$layout"
  describe "$layout" "$tag" "$out/postgres.json" "$(uids_json "$layout" "$tag" postgres root)"
}

# once NAME TAG BUILDER
once() {
  local name=$1 tag=$2 builder=$3
  done_ok "$name" && return 0
  rm -f "$out/.$name.done" "$out/$name.json"
  rm -rf "${out:?}/$name"
  local t0=$SECONDS
  "$builder" "$tmp/$name" "$tag"
  mv "$tmp/$name" "$out/$name"
  local sizes
  sizes=$("$PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); print(" + ".join("%.1f MiB" % (s/1048576) for s in j["layer_sizes"]))' "$out/$name.json")
  log "$name:$tag built in $((SECONDS - t0)) s; layers (gzip): $sizes"
  echo "$self_hash" > "$out/.$name.done"
}

t_all=$SECONDS
once nginx 1.0 build_nginx
once postgres 15 build_postgres
log "done in $((SECONDS - t_all)) s (cache: $out)"
