#!/usr/bin/env bash
# Boots the VM guest (scripts/build-vm-guest) under QEMU (TCG) by hand, the
# way zlvm will, with a busybox rootfs, and checks what zlinit says on zl.ctl
# (tests/vm/guest-reader.py is the host end). Root (9p passthrough), QEMU,
# python3 and Debian's busybox-static (/bin/busybox) are needed.
#   tests/vm/guest-smoke.sh GUEST_DIR [RUNS]
# Cases: output + exit code; SIGNAL and EXECs (127 for a missing command);
# the container environment (user, cwd, hostname, volumes, resolv.conf, /dev,
# network through QEMU's user-mode net); a FAIL; then RUNS (default 3) boots
# timed to READY and to EXIT.
set -euo pipefail
guest=${1:?usage: guest-smoke.sh GUEST_DIR [RUNS]}
runs=${2:-3}
here=$(cd "$(dirname "$0")" && pwd)
reader=$here/guest-reader.py
[ "$(id -u)" -eq 0 ] || { echo "guest-smoke: run as root (9p passthrough)" >&2; exit 2; }
command -v qemu-system-x86_64 >/dev/null || { echo "guest-smoke: apt-get install qemu-system-x86" >&2; exit 2; }
[ -x /bin/busybox ] || { echo "guest-smoke: apt-get install busybox-static" >&2; exit 2; }
# The uncompressed kernel boots ~4 s faster under TCG (no XZ decompressor).
kernel=$guest/vmlinuz
[ -f "$guest/vmlinux" ] && kernel=$guest/vmlinux

work=$(mktemp -d /tmp/zlapply-guest-smoke.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
root=$work/rootfs
mkdir -p "$root/bin" "$root/etc"
cp /bin/busybox "$root/bin/busybox"
for c in sh sleep echo cat ls id hostname pwd env touch mount wget ifconfig route kill; do
  ln -s busybox "$root/bin/$c"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"

# process META UID GID GIDS CWD HOSTNAME -- ARGV... -- ENV...
process() {
  local meta=$1 uid=$2 gid=$3 gids=$4 cwd=$5 host=$6
  shift 7
  local argv=() env=()
  while [ "$1" != -- ]; do argv+=("$1"); shift; done
  shift
  env=("$@")
  mkdir -p "$meta"
  { printf '%s\n' "$uid" "$gid" "$gids" "$cwd" "$host" ${#argv[@]} ${#env[@]}
    printf '%s\0' "${argv[@]}" "${env[@]}"; } >"$meta/process"
}

failed=0
check() { # FILE PATTERN (a fixed string, one line of the reader's output)
  if grep -qF -- "$2" "$1"; then echo "  ok: $2"; else echo "  MISSING: $2"; failed=1; fi
}

# boot NAME META "EXTRA QEMU ARGS" "EXTRA KERNEL ARGS" READER-ARGS...
# The reader's output goes to $work/NAME.out, the console to NAME.console.
boot() {
  local name=$1 meta=$2 qargs=$3 kargs=$4
  shift 4
  local sock=$work/$name.sock t0
  t0=$(date +%s.%N)
  # shellcheck disable=SC2086 # qargs: words
  timeout 90 qemu-system-x86_64 -machine q35,accel=tcg -m 256 -nographic -no-reboot -nic none \
    -kernel "$kernel" -initrd "$guest/initramfs.img" \
    -append "console=ttyS0 quiet panic=-1 $kargs" \
    -fsdev local,id=r,path="$root",security_model=passthrough \
    -device virtio-9p-pci,fsdev=r,mount_tag=zlroot \
    -fsdev local,id=m,path="$meta",security_model=passthrough,readonly=on \
    -device virtio-9p-pci,fsdev=m,mount_tag=zlmeta \
    -device virtio-serial-pci \
    -chardev socket,id=c,path="$sock",server=on,wait=on \
    -device virtserialport,chardev=c,name=zl.ctl \
    $qargs >"$work/$name.console" 2>&1 &
  local qemu=$!
  # its status is not the verdict (1 for FAIL): the checks below read its output
  python3 "$reader" "$sock" "$t0" "$@" >"$work/$name.out" || true
  local qrc=0
  wait $qemu || qrc=$?
  local t
  t=$(python3 -c "import time; print('%.3f' % (time.time() - $t0))")
  echo "qemu exited with $qrc at $t s" >>"$work/$name.out"
  sed 's/^/  /' "$work/$name.out"
  if [ $qrc -ne 0 ]; then
    echo "  qemu did not power off by itself ($qrc); console:"; sed 's/^/    /' "$work/$name.console"; failed=1
  fi
  return 0
}

echo "== 1. output and exit code"
process "$work/m1" 0 0 '' / guest -- /bin/sh -c 'echo hello from the guest; echo to stderr >&2; exit 7' -- PATH=/bin
boot hello "$work/m1" "" ""
check "$work/hello.out" "READY ''"
check "$work/hello.out" "STDOUT 'hello from the guest\n'"
check "$work/hello.out" "STDERR 'to stderr\n'"
check "$work/hello.out" "EXIT '7 0'"
check "$work/hello.out" "qemu exited with 0"

echo "== 2. SIGNAL and EXEC"
process "$work/m2" 0 0 '' / guest -- /bin/sh -c 'sleep 100' -- PATH=/bin
boot signal "$work/m2" "" "" --exec 'echo exec works' --exec /nope --exec nope \
  --exec "sh -c 'echo out; echo err >&2; exit 3'" --exec "sh -c 'kill -9 \$\$'" --signal 15
check "$work/signal.out" "EXEC_OUT 1 out 'exec works\n'"
check "$work/signal.out" "EXEC_EXIT 1 '0'"
check "$work/signal.out" "EXEC_OUT 2 err 'exec: \"/nope\": stat /nope: no such file or directory\n'"
check "$work/signal.out" "EXEC_EXIT 2 '127'"
check "$work/signal.out" "EXEC_OUT 3 err 'exec: \"nope\": executable file not found in \$PATH\n'"
check "$work/signal.out" "EXEC_EXIT 3 '127'"
check "$work/signal.out" "EXEC_OUT 4 out 'out\n'"
check "$work/signal.out" "EXEC_OUT 4 err 'err\n'"
check "$work/signal.out" "EXEC_EXIT 4 '3'"
check "$work/signal.out" "EXEC_EXIT 5 '137'"
check "$work/signal.out" "EXIT '0 15'"
check "$work/signal.out" "qemu exited with 0"

echo "== 3. the container environment"
mkdir -p "$work/vol0" "$work/vol1"
chown 65534:65534 "$work/vol0"
echo config >"$work/vol1/app.conf"
mkdir -p "$work/vol2" && echo "one file" >"$work/vol2/app.ini" # a file volume: its own share
port=$((20000 + RANDOM % 10000))
# shellcheck disable=SC2016 # the guest's shell expands these
process "$work/m3" 65534 65534 '65534,1000' /work/dir web-1 -- /bin/sh -c '
  echo "id: $(id)"; echo "pwd: $(pwd)"; echo "hostname: $(hostname)"; echo "env: $GREETING"
  echo "resolv: $(cat /etc/resolv.conf)"; echo "hosts: $(cat /etc/hosts)"
  echo written >/data/out && echo "data: rw"
  echo x >/cfg/new 2>/dev/null || echo "cfg: $(cat /cfg/app.conf) ro"
  echo x >>/etc/app.ini 2>/dev/null || echo "file volume: $(cat /etc/app.ini) ro"
  echo "dev: $(ls /dev | tr "\n" " ")"
  echo "tmp: $(mount | grep " /tmp ")"
  echo "meta hidden: $(ls /.zl 2>&1)"
  echo "net: $(wget -q -O - http://10.0.2.2:'"$port"'/ 2>&1 || echo wget failed)"
  exit 0' -- PATH=/bin GREETING=hi
printf 'nameserver 10.0.2.3\n' >"$work/m3/resolv.conf"
printf '127.0.0.1 localhost\n10.0.2.15 web-1\n' >"$work/m3/hosts"
printf 'zlvol0\t/data\trw\nzlvol1\t/cfg\tro\nzlvol2\t/etc/app.ini\tro\tapp.ini\n' >"$work/m3/mounts"
mkdir -p "$work/www" && echo "hello over the network" >"$work/www/index.html"
python3 -m http.server -b 127.0.0.1 -d "$work/www" "$port" >/dev/null 2>&1 &
http=$!
boot env "$work/m3" "-fsdev local,id=v0,path=$work/vol0,security_model=passthrough \
  -device virtio-9p-pci,fsdev=v0,mount_tag=zlvol0 \
  -fsdev local,id=v1,path=$work/vol1,security_model=passthrough \
  -device virtio-9p-pci,fsdev=v1,mount_tag=zlvol1 \
  -fsdev local,id=v2,path=$work/vol2,security_model=passthrough,readonly=on \
  -device virtio-9p-pci,fsdev=v2,mount_tag=zlvol2 \
  -netdev user,id=n -device virtio-net-pci,netdev=n,romfile=" \
  "zl.ip=10.0.2.15/24 zl.gw=10.0.2.2"
kill $http 2>/dev/null || true
check "$work/env.out" "id: uid=65534(nobody) gid=65534(nogroup) groups=1000,65534(nogroup)"
check "$work/env.out" "pwd: /work/dir"
check "$work/env.out" "hostname: web-1"
check "$work/env.out" "env: hi"
check "$work/env.out" "resolv: nameserver 10.0.2.3"
check "$work/env.out" "data: rw"
check "$work/env.out" "cfg: config ro"
check "$work/env.out" "file volume: one file ro"
check "$work/env.out" "dev: core fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero"
check "$work/env.out" "tmp: tmpfs on /tmp type tmpfs"
check "$work/env.out" "meta hidden: ls: /.zl: No such file or directory"
check "$work/env.out" "net: hello over the network"
check "$work/env.out" "EXIT '0 0'"
if [ "$(stat -c %u:%s "$work/vol0/out" 2>/dev/null)" = 65534:8 ]; then
  echo "  ok: vol0/out on the host, owned by 65534"
else
  echo "  MISSING: vol0/out on the host, owned by 65534"; failed=1
fi

echo "== 4. FAIL (the cwd is a file)"
process "$work/m4" 0 0 '' /etc/passwd guest -- /bin/true -- PATH=/bin
boot fail "$work/m4" "" ""
check "$work/fail.out" "FAIL 'chdir /etc/passwd: Not a directory'"
check "$work/fail.out" "qemu exited with 0"

echo "== 5. timings: $runs boots of case 1 (seconds from starting QEMU)"
for i in $(seq "$runs"); do
  boot "time$i" "$work/m1" "" "" >/dev/null
  printf '  READY %s  EXIT %s  QEMU gone %s\n' \
    "$(awk '/READY/ {print $1}' "$work/time$i.out")" \
    "$(awk '/EXIT/ {print $1}' "$work/time$i.out")" \
    "$(awk '/qemu exited/ {print $(NF-1)}' "$work/time$i.out")"
done

if [ $failed -ne 0 ]; then echo "guest-smoke: FAILED"; exit 1; fi
echo "guest-smoke: all passed"
