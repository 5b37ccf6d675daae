#!/usr/bin/env bash
# swarm-e2e.sh ZLAPPLY SRCDIR: the Compose rendering deployed on a real
# one-node Docker Swarm (Debian's docker.io), started and stopped here.
#
# The dockerd is this test's own: --data-root, --exec-root, --pidfile and the
# API socket under a temp dir, no docker0 (--bridge=none), addresses from
# 10.222.0.0/16, IP forwarding left as it is, the swarm on 127.0.0.1 only. What it adds to the host
# (iptables rules and DOCKER* chains, the docker_gwbridge interface) is
# removed when it stops: only what was not there before it started. Runs
# are serialised with a lock, as the Swarm's interface names are host-wide.
#
# Asserts: docker stack deploy accepts the file; every service runs its
# replicas; the web task's health check reports healthy; the published
# port answers on 127.0.0.1; docker stack rm leaves no service, task,
# container or network of the stack. Exit 77 (skipped, with the reason)
# only where dockerd cannot run.
set -euo pipefail
zlapply=${1:?usage: swarm-e2e.sh ZLAPPLY SRCDIR}
src=${2:?usage: swarm-e2e.sh ZLAPPLY SRCDIR}
port=28473 # tests/fixtures/render/swarm.yaml
stack=zlrender

skip() { echo "SKIPPED: $*"; exit 77; }
fail() { echo "FAIL: $*"; [ -n "${T:-}" ] && [ -f "$T/dockerd.log" ] && tail -20 "$T/dockerd.log"; exit 1; }

[ "$(id -u)" -eq 0 ] || skip "dockerd needs root"
for b in /usr/sbin/dockerd /usr/bin/docker skopeo umoci busybox curl iptables-save ip; do
	command -v "$b" >/dev/null || skip "$b is missing (scripts/setup installs docker.io and the tools)"
done
mkdir -p /run/lock
exec 9>/run/lock/zlapply-render-swarm.lock
flock 9
# Swarm's bridge has a host-wide name: another engine's would be shared.
ip link show docker_gwbridge >/dev/null 2>&1 &&
	skip "another Docker engine runs here (docker_gwbridge exists): this test needs its own"

T=$(mktemp -d /tmp/zlrender-swarm.XXXXXX)
docker() { /usr/bin/docker -H "unix://$T/docker.sock" "$@"; }
iptables-save -t filter >"$T/filter.before"
iptables-save -t nat >"$T/nat.before"

# Rules and chains of docker's that were not there before, removed.
clean_iptables() {
	local table rule chain
	for table in filter nat; do
		iptables-save -t "$table" | grep -E '^-A .*(DOCKER|docker_gwbridge)' |
			while IFS= read -r rule; do
				grep -qxF -- "$rule" "$T/$table.before" && continue
				# shellcheck disable=SC2086 # the rule's words, as iptables-save printed them
				eval "iptables -t $table -D ${rule#-A }" || true
			done
		iptables-save -t "$table" | sed -n 's/^:\(DOCKER[A-Z0-9_-]*\) .*/\1/p' |
			while IFS= read -r chain; do
				grep -q "^:$chain " "$T/$table.before" && continue
				iptables -t "$table" -F "$chain" || true
			done
		iptables-save -t "$table" | sed -n 's/^:\(DOCKER[A-Z0-9_-]*\) .*/\1/p' |
			while IFS= read -r chain; do
				grep -q "^:$chain " "$T/$table.before" && continue
				iptables -t "$table" -X "$chain" || true
			done
	done
}

cleanup() {
	set +e
	if [ -S "$T/docker.sock" ]; then
		docker stack rm "$stack" >/dev/null 2>&1
		docker swarm leave --force >/dev/null 2>&1
	fi
	if [ -f "$T/dockerd.pid" ]; then
		pid=$(cat "$T/dockerd.pid")
		kill "$pid" 2>/dev/null
		for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
		kill -9 "$pid" 2>/dev/null
	fi
	# The containerd and shims dockerd started under our exec root.
	for p in $(pgrep -f "$T/" || true); do kill -9 "$p" 2>/dev/null; done
	grep -o " $T/[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m"; done
	clean_iptables
	ip link del docker_gwbridge 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

# ---- the engine ----
/usr/sbin/dockerd --data-root "$T/data" --exec-root "$T/exec" --pidfile "$T/dockerd.pid" \
	-H "unix://$T/docker.sock" --bridge=none --ip-forward=false \
	--default-address-pool base=10.222.0.0/16,size=24 >"$T/dockerd.log" 2>&1 &
for _ in $(seq 1 150); do
	docker info >/dev/null 2>&1 && break
	kill -0 $! 2>/dev/null || skip "dockerd cannot run here: $(tail -1 "$T/dockerd.log")"
	sleep 0.2
done
docker info >/dev/null 2>&1 || skip "dockerd did not answer within 30s: $(tail -1 "$T/dockerd.log")"

# A free port for the swarm's control plane, on loopback.
swarm_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
docker swarm init --advertise-addr 127.0.0.1 --listen-addr "127.0.0.1:$swarm_port" \
	--default-addr-pool 10.222.128.0/17 >/dev/null || fail "docker swarm init"

# ---- the image, built offline and loaded ----
"$src/scripts/build-example-image" "$T/img" >/dev/null
skopeo copy -q "oci:$T/img:1.0" "docker-archive:$T/img.tar:example-image:1.0" >/dev/null
docker load -i "$T/img.tar" >/dev/null || fail "docker load"

# ---- render and deploy ----
# The routing mesh (ingress) needs IPVS in the kernel; without it the
# node running the task publishes the port itself (host mode).
mode=ingress
[ -d /proc/sys/net/ipv4/vs ] || mode=host
echo "publish mode: $mode"
"$zlapply" render --to compose --publish-mode "$mode" -f "$src/tests/fixtures/render/swarm.yaml" \
	>"$T/stack.yaml" 2>"$T/render.err" || { cat "$T/render.err"; fail "zlapply render"; }
docker stack deploy --resolve-image never -c "$T/stack.yaml" "$stack" || fail "docker stack deploy"

want() { # service replicas: waits until the service runs them all
	local got=""
	for _ in $(seq 1 120); do
		got=$(docker service ls --filter "name=${stack}_$1" --format '{{.Replicas}}')
		[ "$got" = "$2/$2" ] && return 0
		sleep 0.5
	done
	docker service ps --no-trunc "${stack}_$1" || true
	fail "service $1: replicas $got, want $2/$2"
}
want web 1
want worker 2
echo "replicas running: web 1/1, worker 2/2"

health=""
for _ in $(seq 1 60); do
	cid=$(docker ps -q --filter "label=com.docker.swarm.service.name=${stack}_web" | head -1)
	[ -n "$cid" ] && health=$(docker inspect --format '{{.State.Health.Status}}' "$cid")
	[ "$health" = healthy ] && break
	sleep 0.5
done
[ "$health" = healthy ] || fail "web health: \"$health\", want healthy"
echo "web health: $health"
# The rendered check, as Docker runs it.
docker inspect --format '{{json .Config.Healthcheck.Test}}' "$cid" | grep -q 'nc -w 2 127.0.0.1 8080' ||
	fail "the health check is not the rendered one"

reply=""
for _ in $(seq 1 40); do
	reply=$(curl -s -m 3 "http://127.0.0.1:$port/" || true)
	case $reply in *"hello from "*) break ;; esac
	sleep 0.5
done
case $reply in *"hello from "*) echo "127.0.0.1:$port answered: $reply" ;; *) fail "127.0.0.1:$port: got \"$reply\"" ;; esac

# Swarm's view of the rendered restart policy and update config.
docker service inspect --format '{{.Spec.TaskTemplate.RestartPolicy.Condition}} {{.Spec.TaskTemplate.RestartPolicy.MaxAttempts}}' \
	"${stack}_worker" | grep -qx 'on-failure 3' || fail "worker restart policy"
docker service inspect --format '{{.Spec.UpdateConfig.Parallelism}} {{.Spec.UpdateConfig.FailureAction}}' \
	"${stack}_web" | grep -qx '1 rollback' || fail "web update config"

# ---- remove: nothing of the stack is left ----
docker stack rm "$stack" >/dev/null
left=""
for _ in $(seq 1 120); do
	left="$(docker service ls -q)$(docker ps -aq)$(docker network ls -q --filter "label=com.docker.stack.namespace=$stack")"
	[ -z "$left" ] && break
	sleep 0.5
done
[ -z "$left" ] || fail "after docker stack rm: left $left"
echo "docker stack rm: nothing left"

# ---- the engine stops: nothing of it is left on the host ----
before_dir=$(mktemp -d /tmp/zlrender-before.XXXXXX)
cp "$T/filter.before" "$T/nat.before" "$before_dir/"
trap - EXIT
trap 'rm -rf "$before_dir"' EXIT
cleanup
leftover=""
ip link show docker_gwbridge >/dev/null 2>&1 && leftover="docker_gwbridge"
for table in filter nat; do
	new=$(iptables-save -t "$table" | grep -E '^(-A|:).*(DOCKER|docker_gwbridge)' |
		sed 's/ \[[0-9]*:[0-9]*\]$//' | grep -vxF -f <(sed 's/ \[[0-9]*:[0-9]*\]$//' "$before_dir/$table.before") || true)
	[ -z "$new" ] || leftover="$leftover $table: $new"
done
[ -z "$leftover" ] || { echo "FAIL: left on the host: $leftover"; exit 1; }
echo "dockerd stopped, its interfaces and iptables rules removed"
echo "1 passed, 0 failed"
