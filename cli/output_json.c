/* output_json.c: the -o json documents of the verbs that change things or
 * check them: the plan of diff and apply --dry-run, what apply and delete
 * did, validate's problems, pull, prune and doctor. Each shape is documented
 * in docs/user-guide.md ("Output for scripts"); status and images have theirs
 * in output.c and cmd_images.c. */
#include "cli.h"

#include <cjson/cJSON.h>
#include <stdlib.h>

void output_json_print(FILE *out, struct cJSON *root)
{
	char *text = cJSON_Print(root);
	if (!text) {
		fprintf(stderr, "zlapply: out of memory printing JSON\n");
		abort();
	}
	fprintf(out, "%s\n", text);
	fflush(out);
	free(text);
	cJSON_Delete(root);
}

void output_json_string_or_null(cJSON *obj, const char *key, const char *value)
{
	if (value)
		cJSON_AddStringToObject(obj, key, value);
	else
		cJSON_AddNullToObject(obj, key);
}

/* ---- plans and what was done ---- */

void output_plan_init(struct output_plan *p)
{
	p->actions = cJSON_CreateArray();
}

void output_plan_release(struct output_plan *p)
{
	cJSON_Delete(p->actions);
	p->actions = NULL;
}

void output_plan_action(const struct reconcile_action *a, void *ctx)
{
	struct output_plan *p = ctx;
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "deployment", a->deployment);
	cJSON_AddStringToObject(o, "service", a->service);
	cJSON_AddNumberToObject(o, "index", a->index);
	char replica[256];
	snprintf(replica, sizeof(replica), "%s-rep-%d", a->service, a->index);
	cJSON_AddStringToObject(o, "replica", replica);
	cJSON_AddStringToObject(o, "kind", a->kind);
	output_json_string_or_null(o, "reason", a->reason);
	output_json_string_or_null(o, "old_spec_hash", a->old_spec_hash);
	output_json_string_or_null(o, "new_spec_hash", a->new_spec_hash);
	cJSON_AddStringToObject(o, "result", reconcile_action_result_name(a->result));
	output_json_string_or_null(o, "error", a->error);
	cJSON_AddItemToArray(p->actions, o);
}

void output_plan_print(FILE *out, struct output_plan *p, bool dry_run,
		       const struct reconcile_result *res)
{
	cJSON *root = cJSON_CreateObject();
	cJSON_AddBoolToObject(root, "dry_run", dry_run);
	cJSON_AddNumberToObject(root, "planned", (double)res->actions_planned);
	cJSON_AddNumberToObject(root, "done", (double)res->actions_done);
	cJSON_AddNumberToObject(root, "failed", (double)res->actions_failed);
	cJSON_AddItemToObject(root, "actions", p->actions);
	p->actions = NULL;
	output_json_print(out, root);
}

/* ---- validate ---- */

void output_validate_json(FILE *out, const struct spec_set *set, const struct spec_diags *diags,
			  bool valid)
{
	cJSON *root = cJSON_CreateObject();
	cJSON_AddBoolToObject(root, "valid", valid);
	size_t services = 0;
	cJSON *deps = cJSON_AddArrayToObject(root, "deployments");
	for (size_t i = 0; valid && i < set->count; i++) {
		cJSON *d = cJSON_CreateObject();
		cJSON_AddStringToObject(d, "name", set->deployments[i].name);
		cJSON_AddStringToObject(d, "file", set->deployments[i].file);
		cJSON_AddNumberToObject(d, "services", (double)set->deployments[i].service_count);
		cJSON_AddItemToArray(deps, d);
		services += set->deployments[i].service_count;
	}
	cJSON_AddNumberToObject(root, "services", (double)services);
	cJSON_AddNumberToObject(root, "errors", (double)diags->errors);
	cJSON *list = cJSON_AddArrayToObject(root, "problems");
	for (size_t i = 0; i < diags->count; i++) {
		const struct spec_diag *g = &diags->items[i];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "severity", g->is_note ? "note" : "error");
		cJSON_AddStringToObject(o, "file", g->file ? g->file : "");
		cJSON_AddNumberToObject(o, "line", g->line);
		cJSON_AddNumberToObject(o, "col", g->col);
		cJSON_AddStringToObject(o, "path", g->path ? g->path : "");
		cJSON_AddStringToObject(o, "message", g->msg ? g->msg : "");
		cJSON_AddItemToArray(list, o);
	}
	output_json_print(out, root);
}

/* ---- doctor, pull, prune ---- */

void output_doctor_json(FILE *out, const struct doctor_report *rep, bool fix)
{
	cJSON *root = cJSON_CreateObject();
	cJSON_AddBoolToObject(root, "fix", fix);
	size_t left = 0;
	cJSON *list = cJSON_AddArrayToObject(root, "findings");
	for (size_t i = 0; i < rep->count; i++) {
		const struct doctor_finding *f = &rep->items[i];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "kind", f->kind);
		cJSON_AddStringToObject(o, "name", f->name);
		output_json_string_or_null(o, "detail", f->detail);
		output_json_string_or_null(o, "backend", f->backend);
		cJSON_AddBoolToObject(o, "fixed", f->fixed);
		output_json_string_or_null(o, "error", f->fix_error);
		cJSON_AddItemToArray(list, o);
		left += !f->fixed;
	}
	cJSON_AddNumberToObject(root, "left", (double)left);
	cJSON_AddNumberToObject(root, "foreign", (double)rep->foreign);
	cJSON *notes = cJSON_AddArrayToObject(root, "notes");
	for (size_t i = 0; i < rep->note_count; i++)
		cJSON_AddItemToArray(notes, cJSON_CreateString(rep->notes[i]));
	output_json_print(out, root);
}

struct cJSON *output_pull_json_new(void)
{
	cJSON *root = cJSON_CreateObject();
	cJSON_AddArrayToObject(root, "images");
	return root;
}

void output_pull_json_add(struct cJSON *root, const char *image, const char *reference,
			  const char *digest, const char *error)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "image", image);
	output_json_string_or_null(o, "reference", reference);
	output_json_string_or_null(o, "digest", digest);
	output_json_string_or_null(o, "error", error);
	cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(root, "images"), o);
}

void output_prune_json(FILE *out, size_t removed, int64_t freed)
{
	cJSON *root = cJSON_CreateObject();
	cJSON_AddNumberToObject(root, "removed_images", (double)removed);
	cJSON_AddNumberToObject(root, "freed_bytes", (double)freed);
	output_json_print(out, root);
}

/* ---- run and kill ---- */

void output_run_json(FILE *out, const char *job, const char *deployment, bool detached,
		     const struct reconcile_run_ends *ends)
{
	cJSON *root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "job", job);
	output_json_string_or_null(root, "deployment", deployment);
	cJSON_AddBoolToObject(root, "detached", detached);
	cJSON_AddBoolToObject(root, "timed_out", ends->timed_out);
	cJSON *list = cJSON_AddArrayToObject(root, "replicas");
	for (size_t i = 0; i < ends->count; i++) {
		const struct reconcile_run_end *e = &ends->items[i];
		bool exited = !e->error && !e->status;
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "replica", e->replica);
		if (exited && e->exit_code >= 0 && !e->exit_signal)
			cJSON_AddNumberToObject(o, "exit_code", e->exit_code);
		else
			cJSON_AddNullToObject(o, "exit_code");
		output_json_string_or_null(o, "exit_signal",
				   exited && e->exit_signal ? reconcile_signal_name(e->exit_signal) : NULL);
		if (exited && e->duration_ms >= 0)
			cJSON_AddNumberToObject(o, "duration_ms", (double)e->duration_ms);
		else
			cJSON_AddNullToObject(o, "duration_ms");
		output_json_string_or_null(o, "status", e->status);
		cJSON_AddBoolToObject(o, "stopped", e->stop_tried && !e->stop_error);
		output_json_string_or_null(o, "error", e->error ? e->error : e->stop_error);
		cJSON_AddItemToArray(list, o);
	}
	output_json_print(out, root);
}

struct cJSON *output_kill_json_new(const char *signal_name)
{
	cJSON *root = cJSON_CreateObject();
	output_json_string_or_null(root, "signal", signal_name);
	cJSON_AddArrayToObject(root, "replicas");
	return root;
}

void output_kill_json_add(struct cJSON *root, const char *replica, const char *error)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "replica", replica);
	output_json_string_or_null(o, "error", error);
	cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(root, "replicas"), o);
}

void output_version_json(FILE *out)
{
	cJSON *root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "version", ZLAPPLY_VERSION);
	output_json_print(out, root);
}
