#!/bin/sh
# slow-runtime.sh: an OCI runtime wrapper for crash tests (zlapply --runtime
# PATH). It runs the real runtime ($ZL_SLOW_REAL, default runc) with the same
# arguments, but first, while a marker file asks for it, sleeps:
#
#   $ZL_SLOW_DIR/delay-VERB          delay every VERB (create, start, delete...)
#   $ZL_SLOW_DIR/delay-VERB-CALLER   delay VERB only when run by CALLER, the
#                                    parent's command name (zlapply or zlmon)
#
# A marker holds the seconds to sleep (empty: 3). Before sleeping it writes
# its pid to $ZL_SLOW_DIR/in-VERB-CALLER, so a test knows the runtime is
# inside that verb, for whom, and can kill zlapply at that exact point. The
# real runtime is exec'd after the sleep: a wrapper killed while it sleeps
# never runs it. Without ZL_SLOW_DIR it is the real runtime, unchanged.
real=${ZL_SLOW_REAL:-runc}
dir=${ZL_SLOW_DIR:-}
if [ -n "$dir" ] && [ -d "$dir" ]; then
	verb=
	skip=
	for a in "$@"; do
		if [ -n "$skip" ]; then
			skip=
			continue
		fi
		case $a in
		--root | --log | --log-format | --criu | --rootless) skip=1 ;;
		-*) ;;
		*)
			verb=$a
			break
			;;
		esac
	done
	caller=$(cat "/proc/$PPID/comm" 2>/dev/null || echo unknown)
	for m in "$dir/delay-$verb-$caller" "$dir/delay-$verb"; do
		if [ -n "$verb" ] && [ -f "$m" ]; then
			secs=$(cat "$m" 2>/dev/null)
			echo $$ >"$dir/in-$verb-$caller.tmp" && mv "$dir/in-$verb-$caller.tmp" "$dir/in-$verb-$caller"
			sleep "${secs:-3}"
			break
		fi
	done
fi
exec "$real" "$@"
