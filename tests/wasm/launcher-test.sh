#!/usr/bin/env bash
# launcher-test.sh: backends/wasm/zlwasi.mjs run directly with node on the test
# modules (tests/infra/build-wasm-modules.sh builds them), one CONFIG.json per
# case in a temporary directory removed at the end (ZL_KEEP_TMP=1 keeps it).
# Prints `ok N - what` / `not ok N - what`; exits 1 if any case failed.
#
#   launcher-test.sh BUILD_MODULES_DIR
#
# Each check's condition is a single-quoted string for eval, run after the
# launch it checks (so $rc and the files are that launch's), and the helpers
# are only called from inside those strings:
# shellcheck disable=SC2016,SC2317
set -uo pipefail

[ $# -eq 1 ] || { echo "usage: $0 BUILD_MODULES_DIR" >&2; exit 2; }
mods=$(cd "$1" && pwd) || exit 2
launcher=$(cd "$(dirname "$0")/../../backends/wasm" && pwd)/zlwasi.mjs
command -v node >/dev/null || { echo "launcher-test: node not found (apt-get install nodejs)" >&2; exit 1; }

tmp=$(mktemp -d /tmp/zlwasi-test.XXXXXX)
if [ "${ZL_KEEP_TMP:-}" = 1 ]; then
	trap 'echo "launcher-test: kept $tmp" >&2' EXIT
else
	trap 'rm -rf "$tmp"' EXIT
fi

n=0
failed=0
record=$tmp/exit.json

check() { # WHAT COMMAND...: one TAP-like line
	local what=$1
	shift
	n=$((n + 1))
	if "$@"; then
		echo "ok $n - $what"
	else
		echo "not ok $n - $what"
		echo "#   rc=$rc stdout=$(head -c 300 "$tmp/out" | tr '\n' '|')" \
			"stderr=$(head -c 300 "$tmp/err" | tr '\n' '|')" \
			"record=$(cat "$record" 2>/dev/null)"
		failed=1
	fi
}

# launch MODULE EXTRA_JSON [NODE_FLAGS...]: runs the launcher on MODULE with
# config fields EXTRA_JSON (`"args": [...], ...`, or empty); sets rc, leaves
# stdout and stderr in $tmp/out and $tmp/err.
launch() {
	local module=$1 extra=$2
	shift 2
	printf '{"module": "%s", "exit_record": "%s"%s}\n' "$module" "$record" \
		"${extra:+, $extra}" >"$tmp/config.json"
	node --no-warnings "$@" "$launcher" "$tmp/config.json" >"$tmp/out" 2>"$tmp/err"
	rc=$?
}

out_is() { [ "$(cat "$tmp/out")" = "$1" ]; }
err_is() { [ "$(cat "$tmp/err")" = "$1" ]; }
err_has() { grep -qF -- "$1" "$tmp/err"; }
no_record() { [ ! -e "$record" ] && [ ! -e "$record.tmp" ]; }
reason_is() { grep -qF "\"reason\":\"$1\"" "$record" 2>/dev/null && [ ! -e "$record.tmp" ]; }
detail_has() { grep -qF -- "$1" "$record" 2>/dev/null; }
# One launcher line on stderr, nothing of ours on stdout.
one_line() { [ "$(grep -c '^zlwasi: ' "$tmp/err")" = 1 ] && ! grep -q 'zlwasi' "$tmp/out"; }
mib_between() { # LOW HIGH: hog's "hog: got N MiB"
	local got
	got=$(sed -n 's/^hog: got \([0-9]*\) MiB$/\1/p' "$tmp/err")
	[ -n "$got" ] && [ "$got" -ge "$1" ] && [ "$got" -le "$2" ]
}

start=$(date +%s%N)

# --- exit codes and output
echo '{"reason":"stale","detail":"from an earlier run"}' >"$record"
launch "$mods/exit7.wasm" '"args": ["exit7"], "env": [], "preopens": [], "max_memory": null, "workdir": null'
check "exit7: exit code 7" [ $rc = 7 ]
check "exit7: stdout and stderr are the module's" eval 'out_is "exit7: out" && err_is "exit7: err"'
check "exit7: a normal exit leaves no record (the stale one is gone)" no_record

launch "$mods/crash.wasm" '"args": ["crash"]'
check "crash: exit 2, no record" eval '[ $rc = 2 ] && out_is crash && no_record'

launch "$mods/sleeper.wasm" '"args": ["sleeper", "0"]'
check "sleeper 0: started, done, exit 0" eval '[ $rc = 0 ] && out_is "$(printf "started\ndone")" && no_record'

launch "$mods/trap.wasm" '"args": ["trap"]'
check "trap: exit 134" [ $rc = 134 ]
check "trap: record wasm_trap: unreachable" eval 'reason_is "wasm_trap: unreachable" && detail_has "\"detail\":\"unreachable\""'
check "trap: the module's line, then one zlwasi line" eval 'out_is "trap: about to trap" && one_line && err_has "zlwasi: wasm_trap: unreachable"'

for t in div:divide_by_zero overflow:integer_overflow conversion:bad_conversion \
	bounds:memory_out_of_bounds stack:stack_overflow; do
	launch "$mods/traps.wasm" "\"args\": [\"traps\", \"${t%%:*}\"]"
	check "traps ${t%%:*}: 134, wasm_trap: ${t#*:}" eval '[ $rc = 134 ] && reason_is "wasm_trap: ${t#*:}"'
done

launch "$mods/env_args.wasm" '"args": ["env_args", "one", "two words"], "env": ["GREETING=hi there", "OTHER=x=y"]'
check "env_args: argv and env" eval '[ $rc = 0 ] && out_is "$(printf "argv[1]=one\nargv[2]=two words\nGREETING=hi there\nPWD unset")"'

# --- preopens
mkdir -p "$tmp/rw" "$tmp/ro/sub"
echo "read me" >"$tmp/ro/file"
echo "in sub" >"$tmp/ro/sub/file"
dirs="{\"guest\": \"/rw\", \"host\": \"$tmp/rw\", \"readonly\": false}, {\"guest\": \"/ro\", \"host\": \"$tmp/ro\", \"readonly\": true}"

launch "$mods/preopens.wasm" "\"preopens\": [$dirs], \"workdir\": \"/ro/sub\""
check "preopens: fds 3, 4 in config order, then workdir's \".\" as 5" \
	eval 'out_is "$(printf "fd 3 = /rw\nfd 4 = /ro\nfd 5 = .")"'

launch "$mods/files.wasm" "\"args\": [\"files\", \"write\", \"/rw/new\", \"written\"], \"preopens\": [$dirs]"
check "files: write in a writable preopen" eval '[ $rc = 0 ] && out_is wrote && [ "$(cat "$tmp/rw/new")" = written ]'
launch "$mods/files.wasm" "\"args\": [\"files\", \"read\", \"/rw/new\"], \"preopens\": [$dirs]"
check "files: read it back" eval '[ $rc = 0 ] && out_is written'

launch "$mods/files.wasm" "\"args\": [\"files\", \"read\", \"/ro/file\"], \"preopens\": [$dirs]"
check "read-only preopen: fopen(r) works" eval '[ $rc = 0 ] && out_is "read me"'
launch "$mods/files.wasm" "\"args\": [\"files\", \"write\", \"/ro/file\", \"changed\"], \"preopens\": [$dirs]"
check "read-only preopen: fopen(w) fails with EROFS, file unchanged" \
	eval '[ $rc = 3 ] && err_has "Read-only file system" && [ "$(cat "$tmp/ro/file")" = "read me" ] && no_record'
launch "$mods/files.wasm" "\"args\": [\"files\", \"write\", \"/ro/sub/new\", \"x\"], \"preopens\": [$dirs]"
check "read-only preopen: no new file in a subdirectory" \
	eval '[ $rc = 3 ] && err_has "Read-only file system" && [ ! -e "$tmp/ro/sub/new" ]'
launch "$mods/files.wasm" "\"args\": [\"files\", \"writeat\", \"/ro/sub\", \"new\", \"x\"], \"preopens\": [$dirs]"
check "read-only preopen: nor through openat() on a directory opened under it" \
	eval '[ $rc = 3 ] && err_has "new: Read-only file system" && [ ! -e "$tmp/ro/sub/new" ]'
launch "$mods/files.wasm" "\"args\": [\"files\", \"writeat\", \"/rw\", \"at\", \"via openat\"], \"preopens\": [$dirs]"
check "writable preopen: openat() on a directory opened under it writes" \
	eval '[ $rc = 0 ] && [ "$(cat "$tmp/rw/at")" = "via openat" ]'

# Every kind of change: refused on a read-only preopen, done on a writable one.
fsops_dir() { rm -rf "$1" && mkdir -p "$1/empty" && echo content >"$1/file"; }
fsops_ops="mkdir create append rdwr truncate utimensat link symlink rename"
fsops_ops="$fsops_ops rename_back rmdir unlink"
fsops_expect() { # WORDS: the output of fsops when every change gets WORDS
	local op
	for op in $fsops_ops; do echo "${op/_/ }: $1"; done
	echo "read: ok"
}
fsops_dir "$tmp/fs"
launch "$mods/fsops.wasm" "\"args\": [\"fsops\", \"/fs\"], \"preopens\": [{\"guest\": \"/fs\", \"host\": \"$tmp/fs\", \"readonly\": true}]"
check "read-only preopen: every change refused with EROFS, reading works" \
	eval '[ $rc = 0 ] && out_is "$(fsops_expect "Read-only file system")" && [ "$(ls "$tmp/fs" | tr "\n" " ")" = "empty file " ] && [ "$(cat "$tmp/fs/file")" = content ]'
fsops_dir "$tmp/fs"
launch "$mods/fsops.wasm" "\"args\": [\"fsops\", \"/fs\"], \"preopens\": [{\"guest\": \"/fs\", \"host\": \"$tmp/fs\"}]"
check "writable preopen: every change done" eval '[ $rc = 0 ] && out_is "$(fsops_expect ok)"'

# --- workdir (a preopen "." on its host directory, and PWD)
launch "$mods/files.wasm" "\"args\": [\"files\", \"read\", \"file\"], \"preopens\": [$dirs], \"workdir\": \"/ro/sub\""
check "workdir: a relative path opens in workdir" eval '[ $rc = 0 ] && out_is "in sub"'
launch "$mods/files.wasm" "\"args\": [\"files\", \"write\", \"file\", \"x\"], \"preopens\": [$dirs], \"workdir\": \"/ro/sub\""
check "workdir: read-only when its preopen is" eval '[ $rc = 3 ] && err_has "Read-only file system"'
launch "$mods/files.wasm" "\"args\": [\"files\", \"write\", \"rel\", \"relative\"], \"preopens\": [$dirs], \"workdir\": \"/rw\""
check "workdir: a relative write lands in workdir's host directory" eval '[ $rc = 0 ] && [ "$(cat "$tmp/rw/rel")" = relative ]'
launch "$mods/env_args.wasm" "\"preopens\": [$dirs], \"workdir\": \"/rw\""
check "workdir: PWD is set" eval 'grep -qx "PWD=/rw" "$tmp/out"'
launch "$mods/env_args.wasm" "\"preopens\": [$dirs], \"workdir\": \"/elsewhere\""
check "workdir under no preopen: PWD only, it runs" eval '[ $rc = 0 ] && grep -qx "PWD=/elsewhere" "$tmp/out" && no_record'

# --- memory cap
launch "$mods/hog.wasm" '"args": ["hog"], "max_memory": 16777216'
check "hog, 16 MiB: exit 1, record memory_limit" eval '[ $rc = 1 ] && reason_is memory_limit && detail_has "(16 MiB) was refused; the module then exited 1"'
check "hog, 16 MiB: got 14-16 MiB" mib_between 14 16
launch "$mods/hog.wasm" '"args": ["hog"], "max_memory": 67108864'
check "hog, 64 MiB: got 55-64 MiB, memory_limit" eval 'mib_between 55 64 && reason_is memory_limit'
launch "$mods/hog.wasm" '"args": ["hog", "cope"], "max_memory": 16777216'
check "hog copes (exit 0 after the refusal): no record" eval '[ $rc = 0 ] && mib_between 14 16 && no_record'
launch "$mods/hog.wasm" '"args": ["hog"], "max_memory": 65536'
check "initial memory over the cap: exit 1, memory_limit" \
	eval '[ $rc = 1 ] && reason_is memory_limit && detail_has "the module needs 128 KiB at start, wasm.max_memory is 64 KiB" && one_line'
launch "$mods/grow.wasm" '"max_memory": 16777216'
check "hand-made module without globals: rewritten, refusal known" \
	eval '[ $rc = 1 ] && reason_is memory_limit && detail_has "was refused; the module then exited 1"'
launch "$mods/gc-grow.wasm" '"max_memory": 16777216' --experimental-wasm-gc
check "not instrumentable (GC types): V8's cap, memory_limit inferred" \
	eval '[ $rc = 1 ] && reason_is memory_limit && detail_has "inferred"'
launch "$mods/exit7.wasm" '"max_memory": 16777216'
check "a cap on a module that never grows memory: exit 7, no record" eval '[ $rc = 7 ] && no_record'

# --- modules that cannot run
for bad in truncated corrupt noentry badimport; do
	launch "$mods/$bad.wasm" ''
	check "$bad: 126 wasm_invalid, one zlwasi line, empty stdout" \
		eval '[ $rc = 126 ] && reason_is wasm_invalid && one_line && [ ! -s "$tmp/out" ]'
	[ $bad != noentry ] || check "noentry: the record says there is no _start" detail_has "exports no _start"
done
launch "$mods/component.wasm" ''
check "component: 126 wasm_component, names wasmtime" \
	eval '[ $rc = 126 ] && reason_is wasm_component && detail_has "wasmtime run" && one_line'
launch "$tmp/no-such.wasm" ''
check "missing module: 126 wasm_invalid, one zlwasi line" \
	eval '[ $rc = 126 ] && reason_is wasm_invalid && detail_has ENOENT && one_line'
echo '{"module": 3' >"$tmp/broken.json"
node --no-warnings "$launcher" "$tmp/broken.json" >"$tmp/out" 2>"$tmp/err"
rc=$?
check "malformed config: 126, one zlwasi line" eval '[ $rc = 126 ] && one_line'

# --- the example's module: greets, counts its start in /data, keeps running
mkdir -p "$tmp/data"
printf '{"module": "%s", "exit_record": "%s", "args": ["hello", "world"], "env": ["GREETING=howdy"], "preopens": [{"guest": "/data", "host": "%s"}]}\n' \
	"$mods/hello.wasm" "$record" "$tmp/data" >"$tmp/config.json"
node --no-warnings "$launcher" "$tmp/config.json" >"$tmp/out" 2>"$tmp/err" &
pid=$!
for _ in $(seq 100); do
	grep -q '^start number' "$tmp/out" && break
	sleep 0.05
done
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
rc=$?
check "hello: greets, counts its start in /data, runs until stopped" \
	eval '[ "$(cat "$tmp/out")" = "$(printf "howdy from a WebAssembly module, args: world\nstart number 1 (counted in /data/counter)")" ] && [ "$(cat "$tmp/data/counter")" = 1 ] && [ $rc = 143 ]'

echo "# $n cases in $((($(date +%s%N) - start) / 1000000)) ms"
exit $failed
