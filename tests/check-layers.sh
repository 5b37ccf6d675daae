#!/bin/sh
# check-layers.sh SRCDIR: the CLI stays on its layer (docs/architecture.md).
# cli/*.c and cli/*.h may include only their own headers, reconcile/reconcile.h,
# render/render.h (the render verb, beside reconcile/),
# common/ headers and system headers; may call no function of state/, spec/,
# backends/, net/, registry/ or of reconcile/'s insides (only reconcile_* and
# zl_*); and may not set environment variables (options travel as arguments).
# Prints every offending line as FILE:LINE: TEXT and fails when there is one.
src=${1:-.}
cd "$src" || exit 1
set -- cli/*.c cli/*.h
[ -f "$1" ] || { echo "check-layers: no cli/ sources under $src"; exit 1; }

# Comments and the contents of string and character literals, blanked out
# (line numbers kept), so a word in a comment or a message is no call.
strip() {
	awk '
	{
		out = ""; line = $0; i = 1; n = length(line)
		while (i <= n) {
			c = substr(line, i, 1); c2 = substr(line, i, 2)
			if (incomment) {
				if (c2 == "*/") { incomment = 0; i += 2 } else i++
				continue
			}
			if (c2 == "/*") { incomment = 1; i += 2; continue }
			if (c2 == "//") break
			if (c == "\"" || c == "\047") {
				q = c; out = out q; i++
				while (i <= n && substr(line, i, 1) != q) {
					if (substr(line, i, 1) == "\\") i++
					i++
				}
				out = out q; i++
				continue
			}
			out = out c; i++
		}
		print out
	}' "$1"
}

# Lower layers' prefixes; a member call like b->ops->state() is not one.
layers='state|spec|backend|net|registry|images|plan|execute|health|observe|publish|doctor|recover|monitor|oci'
allowed='#[[:space:]]*include[[:space:]]*"(cli\.h|cli/[^"]*|reconcile/reconcile\.h|render/render\.h|common/[^"]*)"'

# FILE WHY, "LINE:..." on stdin: prints FILE:LINE: WHY: the source line.
show() {
	while IFS= read -r hit; do
		n=${hit%%:*}
		printf '%s:%s: %s: %s\n' "$1" "$n" "$2" "$(sed -n "${n}p" "$1" | sed 's/^[[:space:]]*//')"
	done
}

found=$(
	for f in "$@"; do
		grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" | grep -v -E "$allowed" |
			show "$f" "includes a header past reconcile/reconcile.h"
		strip "$f" | grep -n -E "(^|[^A-Za-z0-9_.>])($layers)_[A-Za-z0-9_]*[[:space:]]*\(" |
			show "$f" "calls past reconcile/ (only reconcile_* and zl_*)"
		strip "$f" | grep -n -E '(^|[^A-Za-z0-9_.>])(setenv|putenv|unsetenv|clearenv)[[:space:]]*\(' |
			show "$f" "sets the environment (pass options as arguments)"
	done
)
if [ -n "$found" ]; then
	printf '%s\n' "$found"
	echo "check-layers: cli/ reaches past reconcile/ (docs/architecture.md)"
	exit 1
fi
echo "check-layers: cli/ uses reconcile/reconcile.h and common/ only"
