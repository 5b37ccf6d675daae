#!/usr/bin/env bash
# k8s-schema.sh ZLAPPLY SRCDIR: every Kubernetes object zlapply renders from
# the example deployments and from every spec fixture that validates is
# checked against the Kubernetes API's own schemas, offline
# (tests/render/validate-k8s.mjs with the npm package kubernetes-models,
# which scripts/setup installs into tests/render/node_modules). Exit 77
# (skipped, with the reason) when node or the validators are missing.
set -euo pipefail
zlapply=${1:?usage: k8s-schema.sh ZLAPPLY SRCDIR}
src=${2:?usage: k8s-schema.sh ZLAPPLY SRCDIR}
command -v node >/dev/null || { echo "SKIPPED: node is missing (scripts/setup installs nodejs)"; exit 77; }
[ -d "$src/tests/render/node_modules/kubernetes-models" ] ||
	{ echo "SKIPPED: kubernetes-models is not installed (run scripts/setup)"; exit 77; }

T=$(mktemp -d /tmp/zlrender-k8s.XXXXXX)
trap 'rm -rf "$T"' EXIT
n=0
while IFS= read -r spec; do
	"$zlapply" validate -q -f "$spec" >/dev/null 2>&1 || continue
	n=$((n + 1))
	for public in loadbalancer nodeport; do
		out="$T/$n-$public"
		"$zlapply" render --to kubernetes --public-service "$public" --output-dir "$out" -q \
			-f "$spec" 2>"$T/err" || { cat "$T/err"; echo "FAIL: render $spec"; exit 1; }
	done
done < <(find "$src/examples/deployments" "$src/tests/fixtures" -name '*.y*ml' | sort)
[ "$n" -gt 0 ] || { echo "FAIL: no spec rendered"; exit 1; }
# With the values (a ConfigMap and a Secret).
mkdir -p "$T/secrets" && printf 'v' >"$T/secrets/api-key"
SHOP_DB_URL=postgres://db "$zlapply" render --to kubernetes --include-values --secrets-dir "$T/secrets" \
	--output-dir "$T/values" -q -f "$src/tests/fixtures/render/mapping.yaml" 2>"$T/err" ||
	{ cat "$T/err"; echo "FAIL: render --include-values"; exit 1; }
rm -rf "$T/secrets"
echo "$n specs rendered"
status=0
node "$src/tests/render/validate-k8s.mjs" "$T" >"$T/report" || status=$?
grep -v ': valid$' "$T/report"
exit $status
