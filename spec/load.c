/* load.c: files, directories and stdin -> struct spec_set, plus the frees
 * of the model. Each YAML document is one deployment; a document with
 * nothing in it (a trailing "---") is skipped. Only regular files are
 * opened and at most SPEC_MAX_FILE_BYTES are read of any input; the text
 * becomes documents in compose.c, within the other limits of spec.h. */
#include "spec-internal.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>

void spec_strv_free(struct spec_strv *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->count; i++)
		free(v->items[i]);
	free(v->items);
	v->items = NULL;
	v->count = 0;
}

void spec_kv_free(struct spec_kv *kv, size_t count)
{
	if (!kv)
		return;
	for (size_t i = 0; i < count; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

static int kv_cmp(const void *a, const void *b)
{
	return strcmp(((const struct spec_kv *)a)->key, ((const struct spec_kv *)b)->key);
}

void spec_kv_sort(struct spec_kv *kv, size_t count)
{
	if (count > 1)
		qsort(kv, count, sizeof(*kv), kv_cmp);
}

/* The defaults of docs/spec-reference.md, so an absent key and its explicit
 * default produce the same model (and the same spec hash). */
int spec_stop_signal(const struct spec_service *svc)
{
	return svc && svc->stop_signal_set ? svc->stop_signal : 0;
}

void spec_service_init(struct spec_service *svc)
{
	memset(svc, 0, sizeof(*svc));
	svc->pull_policy = SPEC_PULL_IF_NOT_PRESENT;
	svc->scale = (struct spec_scale){ .mode = SPEC_SCALE_ADAPTIVE, .min = 1, .max = 10 };
	svc->stop_signal = SIGTERM;
	svc->stop_grace_ms = 10000;
	svc->health = (struct spec_health){
		.expect_status = 200, .start_grace_ms = 5000, .interval_ms = 10000,
		.timeout_ms = 5000, .retries = 3,
	};
	svc->resources.memory_swappiness = -1;
	svc->network_mode = zl_xstrdup("default");
	svc->wasm.max_memory = -1;
	svc->wasm.filesystem = true;
}

void spec_service_free(struct spec_service *svc)
{
	if (!svc)
		return;
	free(svc->name);
	free(svc->schedule);
	free(svc->image);
	free(svc->source_policy);
	spec_strv_free(&svc->entrypoint);
	spec_strv_free(&svc->args);
	free(svc->workdir);
	spec_kv_free(svc->env, svc->env_count);
	free(svc->resources.cpuset);
	free(svc->resources.gpu_vendor);
	for (size_t i = 0; i < svc->endpoint_count; i++) {
		free(svc->endpoints[i].name);
		free(svc->endpoints[i].protocol);
		free(svc->endpoints[i].path);
		free(svc->endpoints[i].host);
	}
	free(svc->endpoints);
	for (size_t i = 0; i < svc->port_mapping_count; i++) {
		free(svc->port_mappings[i].protocol);
		free(svc->port_mappings[i].host_ip);
	}
	free(svc->port_mappings);
	for (size_t i = 0; i < svc->storage_count; i++) {
		struct spec_storage *st = &svc->storage[i];
		free(st->source);
		free(st->name);
		free(st->target);
		free(st->tier);
		free(st->bucket);
		free(st->prefix);
		free(st->endpoint);
	}
	free(svc->storage);
	free(svc->health.url);
	spec_strv_free(&svc->health.command);
	for (size_t i = 0; i < svc->depend_count; i++)
		free(svc->depends[i].service);
	free(svc->depends);
	for (size_t i = 0; i < svc->init_step_count; i++) {
		free(svc->init_steps[i].id);
		free(svc->init_steps[i].uses);
		spec_kv_free(svc->init_steps[i].with, svc->init_steps[i].with_count);
	}
	free(svc->init_steps);
	free(svc->network_mode);
	free(svc->hostname);
	spec_strv_free(&svc->dns);
	spec_strv_free(&svc->extra_hosts);
	free(svc->user);
	spec_strv_free(&svc->cap_add);
	spec_strv_free(&svc->cap_drop);
	spec_strv_free(&svc->security_opt);
	spec_strv_free(&svc->extra_groups);
	for (size_t i = 0; i < svc->device_count; i++)
		free(svc->devices[i].path);
	free(svc->devices);
	spec_kv_free(svc->sysctls, svc->sysctl_count);
	for (size_t i = 0; i < svc->ulimit_count; i++)
		free(svc->ulimits[i].name);
	free(svc->ulimits);
	spec_kv_free(svc->labels, svc->label_count);
	free(svc->cgroup_parent);
	free(svc->pid_mode);
	free(svc->ipc_mode);
	free(svc->userns_mode);
	for (size_t i = 0; i < svc->wasm.preopen_count; i++) {
		free(svc->wasm.preopens[i].source);
		free(svc->wasm.preopens[i].target);
	}
	free(svc->wasm.preopens);
	memset(svc, 0, sizeof(*svc));
}

void spec_deployment_free(struct spec_deployment *dep)
{
	if (!dep)
		return;
	for (size_t i = 0; i < dep->service_count; i++)
		spec_service_free(&dep->services[i]);
	free(dep->services);
	free(dep->by_name);
	free(dep->name);
	free(dep->file);
	free(dep->text);
	memset(dep, 0, sizeof(*dep));
}

void spec_set_free(struct spec_set *set)
{
	if (!set)
		return;
	for (size_t i = 0; i < set->count; i++)
		spec_deployment_free(&set->deployments[i]);
	free(set->deployments);
	set->deployments = NULL;
	set->count = 0;
}

const struct spec_service *spec_deployment_find(const struct spec_deployment *d, const char *name)
{
	if (!d->by_name) {
		for (size_t i = 0; i < d->service_count; i++)
			if (!strcmp(d->services[i].name, name))
				return &d->services[i];
		return NULL;
	}
	size_t lo = 0, hi = d->service_count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct spec_service *s = &d->services[d->by_name[mid]];
		int c = strcmp(s->name, name);
		if (c == 0)
			return s;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int spec_rollout_percent(const struct spec_service *svc)
{
	const struct spec_rollout *r = &svc->rollout;
	if (r->max_unavailable > 0)
		return 0;
	return r->max_unavailable_percent > 0 ? r->max_unavailable_percent
					      : SPEC_ROLLOUT_DEFAULT_PERCENT;
}

int spec_rollout_batch(const struct spec_service *svc, int replicas)
{
	if (svc->rollout.max_unavailable > 0)
		return svc->rollout.max_unavailable;
	int batch = (int)((int64_t)replicas * spec_rollout_percent(svc) / 100);
	return batch > 0 ? batch : 1;
}

int64_t spec_rollout_deadline_ms(const struct spec_health *h)
{
	if (h->rollout_deadline_ms > 0)
		return h->rollout_deadline_ms;
	int retries = h->retries > 0 ? h->retries : 3;
	return h->start_grace_ms + retries * h->interval_ms + h->timeout_ms;
}

int spec_service_desired_replicas(const struct spec_service *svc)
{
	switch (svc->scale.mode) {
	case SPEC_SCALE_FIXED: return svc->scale.replicas;
	case SPEC_SCALE_ADAPTIVE: return svc->scale.min;
	case SPEC_SCALE_MANUAL: return 0;
	}
	return 0;
}

/* Same order as enum spec_service_type; UNSET reads as ZLayer's default. */
static const char *const service_type_names[] = {
	"standard", "standard", "wasm_http", "wasm_plugin", "wasm_transformer", "wasm_authenticator",
	"wasm_rate_limiter", "wasm_middleware", "wasm_router", "job",
};

bool spec_service_type_is_wasm(enum spec_service_type t)
{
	return t >= SPEC_SERVICE_TYPE_WASM_HTTP && t <= SPEC_SERVICE_TYPE_WASM_ROUTER;
}

const char *spec_service_type_name(enum spec_service_type t)
{
	if ((size_t)t >= sizeof(service_type_names) / sizeof(service_type_names[0]))
		return "standard";
	return service_type_names[t];
}

bool spec_service_declares_wasm(const struct spec_service *svc)
{
	return spec_service_type_is_wasm(svc->service_type) || svc->wasm.present ||
	       (svc->image && strncmp(svc->image, "file:", 5) == 0);
}

/* ---- loading ---- */

/* line/col: of the deployment's name, where a duplicate is reported. */
static void add_deployment(struct spec_set *set, struct spec_deployment *dep, int line, int col,
			   struct spec_diags *diags, struct str_index *names)
{
	/* names: of the set's deployments, hashed, so a run reading many
	 * documents finds a repeated name without comparing every pair (the
	 * strings are the deployments', which stay where they are). */
	size_t first = dep->name ? str_index_first(names, dep->name, set->count) : SIZE_MAX;
	if (first != SIZE_MAX) {
		const struct spec_deployment *o = &set->deployments[first];
		spec_diags_add(diags, false, dep->file, line, col, "deployment",
			       "deployment \"%s\" is already declared at %s:%d", dep->name, o->file, o->line);
	}
	/* The array doubles when count reaches a power of two: many documents
	 * cost linear time (set has no capacity field). */
	if ((set->count & (set->count - 1)) == 0)
		set->deployments = zl_xrealloc(set->deployments,
					       (set->count ? set->count * 2 : 1) * sizeof(*set->deployments));
	set->deployments[set->count++] = *dep;
}

/* Where libyaml's marks (which count characters) are in UTF-8 text: a
 * cursor that only moves forward, so cutting every document of a file
 * reads the file once. */
struct utf8_cursor {
	size_t chars, byte;
};

/* Byte offset of character chars (>= the cursor's); len when the text is
 * shorter. */
static size_t utf8_offset(struct utf8_cursor *cur, const char *text, size_t len, size_t chars)
{
	/* libyaml skips a byte order mark without counting it. */
	if (cur->byte == 0 && len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		cur->byte = 3;
	for (; cur->byte < len && cur->chars < chars; cur->chars++) {
		cur->byte++;
		while (cur->byte < len && ((unsigned char)text[cur->byte] & 0xc0) == 0x80)
			cur->byte++;
	}
	return cur->byte;
}

static bool utf16_bom(const char *text, size_t len)
{
	return len >= 2 && (((unsigned char)text[0] == 0xff && (unsigned char)text[1] == 0xfe) ||
			    ((unsigned char)text[0] == 0xfe && (unsigned char)text[1] == 0xff));
}

static int load_text(const char *file, const char *text, size_t len, struct spec_set *set,
		     struct spec_diags *diags, struct str_index *names)
{
	size_t errors_before = diags->errors;
	int line, col;
	if (len > SPEC_MAX_FILE_BYTES) {
		/* Where the limit falls: nothing past it was read. */
		text_position(text, SPEC_MAX_FILE_BYTES, &line, &col);
		spec_diags_add(diags, false, file, line, col, "",
			       "the %s goes on past %zu MiB (%zu bytes), the most a spec file can be",
			       strcmp(file, "-") ? "file" : "input", SPEC_MAX_FILE_BYTES >> 20, SPEC_MAX_FILE_BYTES);
		return -1;
	}
	/* A NUL byte anywhere: libyaml would say "control characters are not
	 * allowed"; say what it is. (UTF-16 text is full of zero bytes; libyaml
	 * reads it and refuses a NUL character itself.) */
	const char *nul = utf16_bom(text, len) ? NULL : memchr(text, '\0', len);
	if (nul) {
		text_position(text, (size_t)(nul - text), &line, &col);
		spec_diags_add(diags, false, file, line, col, "", "a NUL byte (\\0) is not allowed in a spec file");
		return -1;
	}
	yaml_parser_t parser;
	if (!yaml_parser_initialize(&parser)) {
		fprintf(stderr, "zlapply: out of memory\n");
		abort();
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	size_t documents = 0;
	struct compose_totals totals = { 0 };
	struct utf8_cursor cursor = { 0 };
	for (;;) {
		yaml_document_t doc;
		if (compose_document(&parser, file, text, len, &totals, &doc, diags) <= 0)
			break;
		yaml_node_t *root = yaml_document_get_root_node(&doc);
		documents++;
		if (!root || node_is_null(root)) {
			yaml_document_delete(&doc);
			continue;
		}
		struct pctx c = { .file = file, .diags = diags, .doc = &doc, .budget = 100000,
				  .suggest_cells = 20000000 };
		struct spec_deployment dep = { .file = zl_xstrdup(file), .line = node_line(root) };
		/* The document alone, so a revision can be applied again. */
		if (!utf16_bom(text, len)) {
			size_t from = utf8_offset(&cursor, text, len, doc.start_mark.index);
			size_t to = utf8_offset(&cursor, text, len, doc.end_mark.index);
			if (to > from)
				dep.text = zl_xstrndup(text + from, to - from);
		}
		parse_deployment(&c, root, &dep);
		yaml_node_t *name = map_get(&c, root, "deployment");
		c.path.len = 0;
		validate_deployment(&c, &dep);
		zl_buf_free(&c.path);
		add_deployment(set, &dep, name ? node_line(name) : dep.line, name ? node_col(name) : 1, diags, names);
		yaml_document_delete(&doc);
		if (spec_interrupted()) {
			spec_diags_add(diags, false, file, 0, 0, "", "interrupted: loading was stopped");
			break;
		}
	}
	yaml_parser_delete(&parser);
	if (documents == 0 && diags->errors == errors_before)
		spec_diags_add(diags, true, file, 0, 0, "", "no deployment in this file");
	return diags->errors == errors_before ? 0 : -1;
}

static void name_index_fill(struct str_index *names, const struct spec_set *set)
{
	for (size_t i = 0; i < set->count; i++)
		if (set->deployments[i].name)
			str_index_first(names, set->deployments[i].name, i);
}

int spec_load_text(const char *file, const char *text, size_t len, struct spec_set *set,
		   struct spec_diags *diags)
{
	struct str_index names = { 0 };
	name_index_fill(&names, set);
	int r = load_text(file, text, len, set, diags, &names);
	str_index_free(&names);
	return r;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads a -f path (or "-", stdin) and loads it. Only a regular file is
 * opened (a FIFO would block, a device may have effects); at most one byte
 * more than the limit is read, so an endless stream costs nothing. */
static void load_file(const char *path, struct spec_set *set, struct spec_diags *diags,
		      struct str_index *names)
{
	char *text = NULL;
	size_t len = 0;
	struct zl_err err = ZL_ERR_INIT;
	bool is_stdin = strcmp(path, "-") == 0;
	int fd = is_stdin ? STDIN_FILENO : zl_open_regular(path, false, NULL, &err);
	if (fd < 0) {
		/* The diag names the file already; say only what went wrong. */
		if (err.sys_errno)
			spec_diags_add(diags, false, path, 0, 0, "", "cannot read: %s", strerror(err.sys_errno));
		else
			spec_diags_add(diags, false, path, 0, 0, "",
				       "refused: %s; nothing was read from it (a stream goes to -f -, stdin)", err.msg);
		return;
	}
	int r = zl_read_fd_max(fd, SPEC_MAX_FILE_BYTES + 1, &text, &len, &err);
	if (!is_stdin)
		close(fd);
	if (r < 0) {
		spec_diags_add(diags, false, path, 0, 0, "", "cannot read: %s",
			       err.sys_errno ? strerror(err.sys_errno) : err.msg);
		return;
	}
	/* A failed file is in diags already; go on with the others. */
	(void)load_text(path, text, len, set, diags, names);
	free(text);
}

static void load_dir(const char *path, struct spec_set *set, struct spec_diags *diags,
		     struct str_index *idx)
{
	DIR *dir = opendir(path);
	if (!dir) {
		spec_diags_add(diags, false, path, 0, 0, "", "cannot read directory: %s", strerror(errno));
		return;
	}
	char **names = NULL;
	size_t count = 0, cap = 0;
	struct dirent *de;
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.' ||
		    !(zl_str_has_suffix(de->d_name, ".yaml") || zl_str_has_suffix(de->d_name, ".yml")))
			continue;
		size_t plen = strlen(path);
		while (plen > 1 && path[plen - 1] == '/')
			plen--;
		char *full = zl_xasprintf("%.*s/%s", (int)plen, path, de->d_name);
		/* A directory or a name gone since readdir is no spec file; any
		 * other non-regular file (a FIFO, a device) is refused by
		 * load_file, so it does not go unnoticed. */
		struct stat st;
		if (stat(full, &st) < 0 || S_ISDIR(st.st_mode)) {
			free(full);
			continue;
		}
		zl_grow(&names, sizeof(*names), &cap, count + 1);
		names[count++] = full;
	}
	closedir(dir);
	if (count == 0)
		spec_diags_add(diags, false, path, 0, 0, "", "no *.yaml or *.yml files in this directory");
	qsort(names, count, sizeof(*names), name_cmp);
	bool stop = false;
	for (size_t i = 0; i < count; i++) {
		if (!stop && (stop = spec_interrupted()))
			spec_diags_add(diags, false, names[i], 0, 0, "", "interrupted: loading was stopped");
		if (!stop)
			load_file(names[i], set, diags, idx);
		free(names[i]);
	}
	free(names);
}

int spec_load_paths(const char *const *paths, size_t path_count, struct spec_set *set,
		    struct spec_diags *diags)
{
	size_t errors_before = diags->errors;
	struct str_index names = { 0 };
	name_index_fill(&names, set);
	for (size_t i = 0; i < path_count; i++) {
		if (spec_interrupted()) {
			spec_diags_add(diags, false, paths[i], 0, 0, "", "interrupted: loading was stopped");
			break;
		}
		struct stat st;
		if (strcmp(paths[i], "-") && stat(paths[i], &st) == 0 && S_ISDIR(st.st_mode))
			load_dir(paths[i], set, diags, &names);
		else
			load_file(paths[i], set, diags, &names);
	}
	str_index_free(&names);
	return diags->errors == errors_before ? 0 : -1;
}
