#!/usr/bin/env bash
# build-wasm-modules.sh: the WASI preview 1 modules the wasm backend's tests
# run, compiled from C with Debian's toolchain (clang, lld, wasi-libc,
# libclang-rt-N-dev-wasm32; no --sysroot needed, no network).
#
#   build-wasm-modules.sh OUT_DIR
#       OUT_DIR/NAME.wasm   for each tests/wasm/NAME.c and examples/wasm/hello.c:
#                           clang --target=wasm32-wasi -O2, debug info stripped
#                           (the name section stays: traps name functions). A
#                           source may ask for more flags in a comment line
#                           "build-flags: ..." (noentry.c: a reactor).
#       OUT_DIR/truncated.wasm   the first half of exit7.wasm
#       OUT_DIR/corrupt.wasm     a valid preamble, then bytes that are no section
#       OUT_DIR/component.wasm   a component preamble (\0asm 0d 00 01 00), nothing else
#       OUT_DIR/grow.wasm        hand-assembled: a _start that grows memory by
#                                1 MiB until memory.grow fails, then
#                                proc_exit(1); no global section (zlwasi's
#                                rewrite must add one in the right place)
#       OUT_DIR/gc-grow.wasm     the same with a GC struct type as well, so
#                                zlwasi cannot rewrite it and caps memory with
#                                V8's flag instead. Needs node
#                                --experimental-wasm-gc.
#
# Up-to-date outputs (newer than their source) are kept; each output is
# written under a temporary name and renamed, so concurrent builds into one
# OUT_DIR do not see half-written modules.
set -euo pipefail

die() { echo "build-wasm-modules: $*" >&2; exit 1; }

[ $# -eq 1 ] || { echo "usage: $0 OUT_DIR" >&2; exit 2; }
src=$(cd "$(dirname "$0")/../.." && pwd)
out=$1
mkdir -p "$out"

command -v clang >/dev/null || die "clang not found (apt-get install clang lld)"
major=$(clang -dumpversion | cut -d. -f1)
[ -x "$(clang --target=wasm32-wasi -print-prog-name=wasm-ld)" ] ||
	command -v wasm-ld >/dev/null ||
	die "wasm-ld not found (apt-get install lld-$major)"
[ -f "$(clang --target=wasm32-wasi -print-file-name=libc.a)" ] ||
	die "wasi-libc not found (apt-get install wasi-libc)"
[ -f "$(clang --target=wasm32-wasi -print-libgcc-file-name)" ] ||
	die "the wasm32 compiler runtime is missing (apt-get install libclang-rt-$major-dev-wasm32)"

# Writes stdin to $1 through a temporary file in the same directory.
put() {
	cat >"$1.tmp.$$"
	mv -f "$1.tmp.$$" "$1"
}

build() { # SOURCE NAME
	local c=$1 wasm=$out/$2.wasm flags
	[ "$wasm" -nt "$c" ] && return 0
	flags=$(sed -n 's/.*build-flags:[[:space:]]*//p' "$c" | head -n 1)
	# shellcheck disable=SC2086 # flags are words
	clang --target=wasm32-wasi -O2 -Wall -Wextra -Wl,--strip-debug \
		$flags "$c" -o "$wasm.tmp.$$" ||
		{ rm -f "$wasm.tmp.$$"; die "cannot compile $c"; }
	mv -f "$wasm.tmp.$$" "$wasm"
}

for c in "$src"/tests/wasm/*.c "$src"/examples/wasm/hello.c; do
	build "$c" "$(basename "$c" .c)"
done

if ! [ "$out/truncated.wasm" -nt "$out/exit7.wasm" ]; then
	size=$(stat -c %s "$out/exit7.wasm")
	head -c $((size / 2)) "$out/exit7.wasm" | put "$out/truncated.wasm"
fi
# Fixed bytes, so every build is the same: section id 0x7a is no section.
[ -f "$out/corrupt.wasm" ] ||
	printf '\0asm\1\0\0\0zlapply: this is not a WebAssembly section\n' | put "$out/corrupt.wasm"
[ -f "$out/component.wasm" ] ||
	printf '\0asm\15\0\1\0' | put "$out/component.wasm"

# grow.wasm and gc-grow.wasm, section by section (sizes counted by hand):
#   type     [gc-grow only: (struct)] (func (param i32)) (func)
#   import   wasi_snapshot_preview1.proc_exit: func 0
#   function func 1: (func)
#   memory   min 1 page, no maximum
#   export   "memory" memory 0, "_start" func 1
#   code     block loop (br_if 1 (i32.eq (memory.grow (i32.const 16))
#            (i32.const -1))) (br 0) end end (call 0 (i32.const 1))
grow_module() { # plain | gc
	local n=0 # the index of (func (param i32)), proc_exit's type
	printf '\0asm\1\0\0\0'
	if [ "$1" = gc ]; then
		printf '\1\12\3\137\0\140\1\177\0\140\0\0'
		n=1
	else
		printf '\1\10\2\140\1\177\0\140\0\0'
	fi
	printf '\2\44\1\26wasi_snapshot_preview1\11proc_exit\0%b' "\\0$n"
	printf '\3\2\1%b' "\\0$((n + 1))"
	printf '\5\3\1\0\1'
	printf '\7\23\2\6memory\2\0\6_start\0\1'
	printf '\12\31\1\27\0\2\100\3\100\101\20\100\0\101\177\106\15\1\14\0\13\13\101\1\20\0\13'
}
for kind in plain gc; do
	name=grow
	[ $kind = plain ] || name=gc-grow
	[ "$out/$name.wasm" -nt "$0" ] || grow_module $kind | put "$out/$name.wasm"
done
