/* cmd_render.c: render -- the spec as Kubernetes manifests or a Compose
 * file for Swarm (render/render.h, docs/scale-out.md). Loads and validates
 * like validate does (bad input: exit 2), then renders without touching
 * any state. Warnings for keys that cannot map go to stderr; --strict
 * makes them errors (exit 2, nothing written). */
#include "cli.h"
#include "render/render.h"

int cmd_render(const struct cli_opts *o)
{
	struct spec_set set = { 0 };
	struct zl_err err = ZL_ERR_INIT;
	struct render_opts ro = { .strict = o->strict, .output_dir = o->output_dir, .out = stdout,
				  .diag = stderr, .include_values = o->include_values,
				  .secrets_dir = o->secrets_dir };
	size_t problems = 0, warnings = 0;
	int code;
	if (render_parse_target(o->render_to, &ro.target, &err) < 0 ||
	    (o->public_service && render_parse_public(o->public_service, &ro.public_type, &err) < 0)) {
		code = cli_fail(&err);
		goto out;
	}
	if (o->publish_mode && render_parse_publish(o->publish_mode, &ro.publish_mode, &err) < 0) {
		code = cli_fail(&err);
		goto out;
	}
	if ((o->public_service && ro.target != RENDER_KUBERNETES) ||
	    (o->publish_mode && ro.target != RENDER_COMPOSE)) {
		zl_invalid(&err, o->public_service && ro.target != RENDER_KUBERNETES
					 ? "--public-service goes with --to kubernetes"
					 : "--publish-mode goes with --to compose");
		code = cli_fail(&err);
		goto out;
	}
	if (reconcile_spec_load(o->files, o->file_count, false, false /* the spec alone: it runs elsewhere */, stderr, &set, &problems) < 0) {
		fprintf(stderr, "zlapply: error: %zu problem%s in the spec; nothing was rendered\n",
			problems, problems == 1 ? "" : "s");
		code = 2;
		goto out;
	}
	if (render_set(&set, &ro, &warnings, &err) < 0) {
		code = cli_fail(&err);
		goto out;
	}
	if (warnings && !o->quiet)
		fprintf(stderr, "zlapply: %zu key%s could not map exactly (see the warnings above; "
				"--strict refuses them)\n", warnings, warnings == 1 ? "" : "s");
	if (o->output_dir && !o->quiet)
		fprintf(stderr, "zlapply: rendered into %s\n", o->output_dir);
	code = 0;
out:
	reconcile_spec_free(&set);
	return code;
}
