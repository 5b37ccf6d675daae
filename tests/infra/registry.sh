#!/usr/bin/env bash
# registry.sh: a real registry (Debian's docker-registry, CNCF distribution
# 2.8) on 127.0.0.1 for the tests and the benchmark.
#
#   registry.sh start VARIANT DIR   start; prints "PORT" ("PORT CA_FILE" for tls)
#   registry.sh stop DIR            stop what start started (by pid files)
#   registry.sh push DIR oci:LAYOUT:TAG NAME:TAG [SKOPEO_FLAGS...]
#                                   skopeo copy --all into 127.0.0.1:PORT/NAME:TAG
#                                   (e.g. --format v2s2 for Docker media types)
#   registry.sh blob-path DIR DIGEST  where the registry keeps that blob's bytes
#
# Variants:
#   plain  anonymous http
#   basic  htpasswd (bcrypt) user "user", password "pass"
#   token  distribution token auth; tests/infra/token-server.py on another
#          loopback port signs JWTs (x5c chain to the CA in rootcertbundle).
#          Repositories whose name contains "private" need user/pass; others
#          may be pulled anonymously. DIR/token.log has one line per token
#          request.
#   tls    https with a certificate for IP 127.0.0.1 issued by a throw-away CA
#          (DIR/ca.crt, printed after the port).
#
# DIR holds everything: config, data/, logs, pid files, keys. start is
# idempotent (a running registry in DIR is reused: same port printed); stop
# of nothing is fine. Processes run under `timeout` so a crashed test cannot
# leave them behind for more than $ZL_REGISTRY_LIFETIME seconds (1800).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
LIFETIME=${ZL_REGISTRY_LIFETIME:-1800}
USER_NAME=user
USER_PASS=pass

die() { echo "registry.sh: $*" >&2; exit 1; }

free_port() {
  "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# running PID: exists and is not a zombie (an orphan's zombie may wait a
# while for init to reap it; it is dead all the same).
running() {
  local st
  st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "${st#Z}" = "$st" ]
}

alive() { # PIDFILE
  [ -f "$1" ] && running "$(cat "$1")"
}

# wait_http URL [CA [HEADER [PIDFILE]]]: until the server answers (any HTTP
# status; with HEADER, only an answer carrying that header counts: another
# server on the port is not ours). Gives up at once when PIDFILE's process
# has exited, else after 20 s.
wait_http() {
  "$PY" - "$1" "${2:-}" "${3:-}" "${4:-}" <<'PYEOF'
import os, ssl, sys, time, urllib.request, urllib.error
url, ca, header, pidfile = sys.argv[1:5]
ctx = ssl.create_default_context(cafile=ca) if ca else None
def alive():
    if not pidfile:
        return True
    try:
        pid = int(open(pidfile).read())
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, ValueError, IndexError):
        return False
deadline = time.time() + 20
while time.time() < deadline and alive():
    try:
        r = urllib.request.urlopen(url, timeout=2, context=ctx)
    except urllib.error.HTTPError as e:
        r = e  # 401 and the like: it is up
    except Exception:
        time.sleep(0.05)
        continue
    if not header or r.headers.get(header):
        sys.exit(0)
    time.sleep(0.05)
sys.exit(1)
PYEOF
}

# spawn PIDFILE LOG CMD...: runs CMD in the background, detached from our
# stdout (popen callers see EOF at once), bounded by timeout.
spawn() {
  local pidfile=$1 log=$2
  shift 2
  nohup timeout --kill-after=5 "$LIFETIME" "$@" </dev/null >"$log" 2>&1 &
  echo $! > "$pidfile"
}

kill_pidfile() {
  local f=$1
  [ -f "$f" ] || return 0
  local pid
  pid=$(cat "$f")
  if running "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do running "$pid" || break; sleep 0.02; done
    running "$pid" && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

make_tls() { # DIR
  local d=$1
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/ca.key" -out "$d/ca.crt" -days 3 \
    -subj "/CN=zlapply test CA" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout "$d/server.key" -out "$d/server.csr" \
    -subj "/CN=127.0.0.1" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' > "$d/server.ext"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
    -out "$d/server.crt" -days 3 -extfile "$d/server.ext" 2>/dev/null
  mkdir -p "$d/certs.d"
  cp "$d/ca.crt" "$d/certs.d/ca.crt"
}

make_token_keys() { # DIR: a CA (rootcertbundle) and a signing cert it issued
  local d=$1
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/token-ca.key" -out "$d/token-ca.crt" \
    -days 3 -subj "/CN=zlapply token CA" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout "$d/token.key" -out "$d/token.csr" \
    -subj "/CN=zlapply token signer" 2>/dev/null
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n' > "$d/token.ext"
  openssl x509 -req -in "$d/token.csr" -CA "$d/token-ca.crt" -CAkey "$d/token-ca.key" \
    -CAcreateserial -out "$d/token.crt" -days 3 -extfile "$d/token.ext" 2>/dev/null
}

cmd_start() {
  local variant=$1 dir=$2
  case "$variant" in plain|basic|token|tls) ;; *) die "unknown variant $variant (plain|basic|token|tls)";; esac
  command -v docker-registry >/dev/null || die "docker-registry not installed (apt-get install docker-registry)"
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if alive "$dir/registry.pid" && [ -f "$dir/port" ] && [ "$(cat "$dir/variant" 2>/dev/null)" = "$variant" ]; then
    if [ "$variant" = tls ]; then echo "$(cat "$dir/port") $dir/ca.crt"; else cat "$dir/port"; fi
    return 0
  fi
  cmd_stop "$dir" >/dev/null
  mkdir -p "$dir/data"
  local port
  port=$(free_port)
  local auth="" tls=""
  case "$variant" in
    basic)
      htpasswd -Bbn "$USER_NAME" "$USER_PASS" > "$dir/htpasswd"
      auth=$(printf 'auth:\n  htpasswd:\n    realm: test\n    path: %s\n' "$dir/htpasswd")
      ;;
    token)
      make_token_keys "$dir"
      local tport
      tport=$(free_port)
      : > "$dir/token.log"
      spawn "$dir/token.pid" "$dir/token-server.out" "$PY" "$HERE/token-server.py" \
        --port "$tport" --key "$dir/token.key" --cert "$dir/token.crt" \
        --issuer zlapply-test-issuer --service zlapply-test-registry \
        --user "$USER_NAME" --password "$USER_PASS" --log "$dir/token.log"
      echo "$tport" > "$dir/token.port"
      wait_http "http://127.0.0.1:$tport/ping" || die "token server did not start: $(cat "$dir/token-server.out")"
      auth=$(printf 'auth:\n  token:\n    realm: http://127.0.0.1:%s/token\n    service: zlapply-test-registry\n    issuer: zlapply-test-issuer\n    rootcertbundle: %s\n' "$tport" "$dir/token-ca.crt")
      ;;
    tls)
      make_tls "$dir"
      tls=$(printf '  tls:\n    certificate: %s\n    key: %s\n' "$dir/server.crt" "$dir/server.key")
      ;;
  esac
  cat > "$dir/config.yml" <<YAML
version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
  secret: zlapply-test-secret
$tls
$auth
YAML
  echo "$variant" > "$dir/variant"
  local scheme=http ca=""
  if [ "$variant" = tls ]; then scheme=https; ca=$dir/ca.crt; fi
  # The free port may be taken between free_port and the bind: try again
  # on another one.
  local attempt
  for attempt in 1 2 3; do
    [ "$attempt" -eq 1 ] || { port=$(free_port); sed -i "s/^  addr: 127.0.0.1:.*/  addr: 127.0.0.1:$port/" "$dir/config.yml"; }
    echo "$port" > "$dir/port"
    spawn "$dir/registry.pid" "$dir/registry.log" docker-registry serve "$dir/config.yml"
    if wait_http "$scheme://127.0.0.1:$port/v2/" "$ca" Docker-Distribution-Api-Version "$dir/registry.pid"; then
      if [ "$variant" = tls ]; then echo "$port $dir/ca.crt"; else echo "$port"; fi
      return 0
    fi
    kill_pidfile "$dir/registry.pid"
  done
  local log
  log=$(tail -n 20 "$dir/registry.log" 2>/dev/null || true)
  cmd_stop "$dir" >/dev/null
  die "docker-registry did not come up on 127.0.0.1:$port: $log"
}

cmd_stop() {
  local dir=$1
  [ -d "$dir" ] || return 0
  kill_pidfile "$dir/registry.pid"
  kill_pidfile "$dir/token.pid"
}

cmd_push() {
  local dir=$1 src=$2 dst=$3
  shift 3 # the rest: more skopeo flags (e.g. --format v2s2)
  local variant port
  variant=$(cat "$dir/variant") || die "$dir: no registry started there"
  port=$(cat "$dir/port")
  local args=(--dest-tls-verify=false)
  case "$variant" in
    basic|token) args+=(--dest-creds "$USER_NAME:$USER_PASS") ;;
    tls) args=(--dest-cert-dir "$dir/certs.d") ;;
  esac
  skopeo copy -q --all "${args[@]}" "$@" "$src" "docker://127.0.0.1:$port/$dst" >&2 \
    || die "push $src to 127.0.0.1:$port/$dst failed"
}

cmd_blob_path() {
  local dir=$1 digest=$2
  local hex=${digest#sha256:}
  echo "$dir/data/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data"
}

case "${1:-}" in
  start) [ $# -eq 3 ] || die "usage: start VARIANT DIR"; cmd_start "$2" "$3" ;;
  stop) [ $# -eq 2 ] || die "usage: stop DIR"; cmd_stop "$2" ;;
  push) [ $# -ge 4 ] || die "usage: push DIR oci:LAYOUT:TAG NAME:TAG [SKOPEO_FLAGS...]"; shift; cmd_push "$@" ;;
  blob-path) [ $# -eq 3 ] || die "usage: blob-path DIR DIGEST"; cmd_blob_path "$2" "$3" ;;
  *) die "usage: registry.sh start VARIANT DIR | stop DIR | push DIR SRC NAME:TAG [FLAGS] | blob-path DIR DIGEST" ;;
esac
