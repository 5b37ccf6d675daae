/* yaml.c: reading libyaml document nodes with diagnostics.
 *
 * Every helper reports what it expected and what it found at the node's
 * line:col under the current key path, then returns false so the caller
 * simply skips the value and the walk goes on to find further problems. */
#include "spec-internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <string.h>

int node_line(const yaml_node_t *n) { return n ? (int)n->start_mark.line + 1 : 0; }
int node_col(const yaml_node_t *n) { return n ? (int)n->start_mark.column + 1 : 0; }

static void vdiag(struct pctx *c, bool note, const yaml_node_t *n, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));
static void vdiag(struct pctx *c, bool note, const yaml_node_t *n, const char *fmt, va_list ap)
{
	char *msg = NULL;
	if (vasprintf(&msg, fmt, ap) < 0) {
		fprintf(stderr, "zlapply: out of memory\n");
		abort();
	}
	spec_diags_add(c->diags, note, c->file, node_line(n), node_col(n),
		       c->path.data ? c->path.data : "", "%s", msg);
	free(msg);
}

void perr(struct pctx *c, const yaml_node_t *n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vdiag(c, false, n, fmt, ap);
	va_end(ap);
}

void pnote(struct pctx *c, const yaml_node_t *n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vdiag(c, true, n, fmt, ap);
	va_end(ap);
}

size_t path_push_key(struct pctx *c, const char *key)
{
	size_t old = c->path.len;
	if (old)
		zl_buf_puts(&c->path, ".");
	zl_buf_puts(&c->path, key);
	return old;
}

size_t path_push_index(struct pctx *c, size_t i)
{
	size_t old = c->path.len;
	zl_buf_printf(&c->path, "[%zu]", i);
	return old;
}

void path_pop(struct pctx *c, size_t old_len)
{
	c->path.len = old_len;
	if (c->path.data)
		c->path.data[old_len] = '\0';
}

yaml_node_t *ynode(struct pctx *c, int index) { return yaml_document_get_node(c->doc, index); }

const char *node_scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

bool node_is_plain(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

bool node_is_null(const yaml_node_t *n)
{
	if (!node_is_plain(n))
		return false;
	const char *v = node_scalar(n);
	return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") || !strcmp(v, "NULL");
}

static bool is_bool_text(const char *v)
{
	static const char *const words[] = { "true", "True", "TRUE", "false", "False", "FALSE" };
	for (size_t i = 0; i < 6; i++)
		if (!strcmp(v, words[i]))
			return true;
	return false;
}

static bool is_number_text(const char *v)
{
	if (*v == '-' || *v == '+')
		v++;
	return *v && strspn(v, "0123456789.eE+-") == strlen(v) && strchr("0123456789.", *v);
}

const char *node_kind(const yaml_node_t *n)
{
	if (!n)
		return "nothing";
	switch (n->type) {
	case YAML_MAPPING_NODE: return "a mapping";
	case YAML_SEQUENCE_NODE: return "a list";
	case YAML_SCALAR_NODE:
		if (node_is_null(n))
			return "null";
		if (node_is_plain(n) && is_bool_text(node_scalar(n)))
			return "a boolean";
		if (node_is_plain(n) && is_number_text(node_scalar(n)))
			return "a number";
		return "a string";
	default: return "nothing";
	}
}

/* ---- a string index ---- */

static size_t str_hash(const char *s)
{
	size_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

size_t str_index_first(struct str_index *x, const char *s, size_t i)
{
	if ((x->count + 1) * 2 > x->cap) {
		struct str_index bigger = { .cap = x->cap ? x->cap * 2 : 16, .count = x->count };
		bigger.keys = zl_xcalloc(bigger.cap, sizeof(*bigger.keys));
		bigger.vals = zl_xcalloc(bigger.cap, sizeof(*bigger.vals));
		for (size_t j = 0; j < x->cap; j++) {
			if (!x->keys[j])
				continue;
			size_t k = str_hash(x->keys[j]) & (bigger.cap - 1);
			while (bigger.keys[k])
				k = (k + 1) & (bigger.cap - 1);
			bigger.keys[k] = x->keys[j];
			bigger.vals[k] = x->vals[j];
		}
		str_index_free(x);
		*x = bigger;
	}
	size_t k = str_hash(s) & (x->cap - 1);
	for (; x->keys[k]; k = (k + 1) & (x->cap - 1))
		if (!strcmp(x->keys[k], s))
			return x->vals[k];
	x->keys[k] = s;
	x->vals[k] = i;
	x->count++;
	return SIZE_MAX;
}

size_t str_index_get(const struct str_index *x, const char *s)
{
	if (!x->cap)
		return SIZE_MAX;
	for (size_t k = str_hash(s) & (x->cap - 1); x->keys[k]; k = (k + 1) & (x->cap - 1))
		if (!strcmp(x->keys[k], s))
			return x->vals[k];
	return SIZE_MAX;
}

void str_index_free(struct str_index *x)
{
	free(x->keys);
	free(x->vals);
	memset(x, 0, sizeof(*x));
}

/* ---- mappings ---- */

struct key_ref {
	const char *key;
	size_t pair; /* index of the pair in the mapping */
};

static int key_ref_cmp(const void *a, const void *b)
{
	const struct key_ref *x = a, *y = b;
	int r = strcmp(x->key, y->key);
	if (r)
		return r;
	return x->pair < y->pair ? -1 : x->pair > y->pair;
}

/* Flags (one per pair) of the pairs to skip: non-scalar keys and the second
 * and later occurrences of a key. Sorting keeps this O(n log n) for the
 * services map of a 1000-service file. Caller frees. */
bool *map_skips(struct pctx *c, yaml_node_t *n)
{
	size_t count = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	if (!count)
		return NULL;
	bool *skip = zl_xcalloc(count, sizeof(*skip));
	struct key_ref *refs = zl_xcalloc(count, sizeof(*refs));
	size_t nrefs = 0;
	for (size_t i = 0; i < count; i++) {
		yaml_node_pair_t *p = &n->data.mapping.pairs.start[i];
		yaml_node_t *k = ynode(c, p->key);
		if (!k || k->type != YAML_SCALAR_NODE) {
			perr(c, k, "expected a string key, got %s", node_kind(k));
			skip[i] = true;
			continue;
		}
		refs[nrefs++] = (struct key_ref){ node_scalar(k), i };
	}
	qsort(refs, nrefs, sizeof(*refs), key_ref_cmp);
	size_t first = 0;
	for (size_t i = 1; i < nrefs; i++) {
		if (strcmp(refs[i].key, refs[first].key)) {
			first = i;
			continue;
		}
		yaml_node_t *k1 = ynode(c, n->data.mapping.pairs.start[refs[first].pair].key);
		yaml_node_t *k2 = ynode(c, n->data.mapping.pairs.start[refs[i].pair].key);
		size_t old = path_push_key(c, refs[i].key);
		perr(c, k2, "duplicate key \"%s\" (first defined at line %d)", refs[i].key, node_line(k1));
		path_pop(c, old);
		skip[refs[i].pair] = true;
	}
	free(refs);
	return skip;
}

bool check_map(struct pctx *c, yaml_node_t *n)
{
	if (!n || n->type != YAML_MAPPING_NODE) {
		perr(c, n, "expected a mapping, got %s", node_kind(n));
		return false;
	}
	free(map_skips(c, n));
	return true;
}

static void unknown_key(struct pctx *c, yaml_node_t *k, const struct field *fields,
			size_t nfields, const struct key_hint *hints)
{
	const char *key = node_scalar(k);
	size_t old = path_push_key(c, key);
	for (const struct key_hint *h = hints; h && h->key; h++) {
		if (!strcmp(h->key, key)) {
			perr(c, k, "unknown key \"%s\" (%s)", key, h->hint);
			path_pop(c, old);
			return;
		}
	}
	if (!strcmp(key, "<<")) {
		perr(c, k, "YAML merge keys (<<) are not supported: write the keys out");
		path_pop(c, old);
		return;
	}
	const char *best = NULL;
	size_t best_d = SIZE_MAX;
	size_t len = strlen(key);
	/* No key of ours is longer than 30 characters, so a key of more than
	 * 64 cannot be close enough to one (the rule below): no need to
	 * compare. The budget keeps a file of many unknown keys linear. */
	for (size_t i = 0; len <= 64 && i < nfields; i++) {
		size_t cells = (len + 1) * (strlen(fields[i].key) + 1);
		if (cells > c->suggest_cells) {
			best = NULL;
			break;
		}
		c->suggest_cells -= cells;
		size_t d = zl_edit_distance(key, fields[i].key);
		if (d < best_d)
			best = fields[i].key, best_d = d;
	}
	if (best && (best_d <= 2 || best_d * 3 <= len) && best_d < len) {
		perr(c, k, "unknown key \"%s\" (did you mean \"%s\"?)", key, best);
	} else if (nfields <= 10) {
		struct zl_buf list = { 0 };
		for (size_t i = 0; i < nfields; i++)
			zl_buf_printf(&list, "%s%s", i ? ", " : "", fields[i].key);
		perr(c, k, "unknown key \"%s\" (expected one of: %s)", key, list.data ? list.data : "");
		zl_buf_free(&list);
	} else {
		perr(c, k, "unknown key \"%s\"", key);
	}
	path_pop(c, old);
}

bool walk_map(struct pctx *c, yaml_node_t *n, const struct field *fields, size_t nfields,
	      const struct key_hint *hints, void *obj)
{
	if (!n || n->type != YAML_MAPPING_NODE) {
		perr(c, n, "expected a mapping, got %s", node_kind(n));
		return false;
	}
	bool *skip = map_skips(c, n);
	size_t count = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	for (size_t i = 0; i < count && !spec_interrupted(); i++) {
		if (skip[i])
			continue;
		yaml_node_pair_t *p = &n->data.mapping.pairs.start[i];
		yaml_node_t *k = ynode(c, p->key);
		yaml_node_t *v = ynode(c, p->value);
		const struct field *f = NULL;
		for (size_t j = 0; j < nfields && !f; j++)
			if (!strcmp(fields[j].key, node_scalar(k)))
				f = &fields[j];
		if (!f) {
			unknown_key(c, k, fields, nfields, hints);
			continue;
		}
		if (!f->fn || !v || node_is_null(v))
			continue;
		size_t old = path_push_key(c, f->key);
		f->fn(c, v, obj);
		path_pop(c, old);
	}
	free(skip);
	return true;
}

yaml_node_t *map_get_key(struct pctx *c, yaml_node_t *n, const char *key)
{
	if (!n || n->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		const char *k = node_scalar(ynode(c, p->key));
		if (k && !strcmp(k, key))
			return ynode(c, p->key);
	}
	return NULL;
}

yaml_node_t *map_get(struct pctx *c, yaml_node_t *n, const char *key)
{
	if (!n || n->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		const char *k = node_scalar(ynode(c, p->key));
		if (k && !strcmp(k, key)) {
			yaml_node_t *v = ynode(c, p->value);
			return v && !node_is_null(v) ? v : NULL;
		}
	}
	return NULL;
}

void missing_key(struct pctx *c, yaml_node_t *map, const char *key, const char *why)
{
	size_t old = path_push_key(c, key);
	perr(c, map, "required key \"%s\" is missing%s%s", key, why ? " " : "", why ? why : "");
	path_pop(c, old);
}

void reject_keys(struct pctx *c, yaml_node_t *map, const char *const *allowed, const char *variant)
{
	if (!map || map->type != YAML_MAPPING_NODE)
		return;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = ynode(c, p->key);
		const char *key = node_scalar(k);
		if (!key)
			continue;
		bool ok = false;
		for (const char *const *a = allowed; *a && !ok; a++)
			ok = !strcmp(*a, key);
		if (!ok) {
			size_t old = path_push_key(c, key);
			perr(c, k, "key \"%s\" does not apply to %s", key, variant);
			path_pop(c, old);
		}
	}
}

/* ---- scalars ---- */

bool expect_seq(struct pctx *c, yaml_node_t *n)
{
	if (n && n->type == YAML_SEQUENCE_NODE)
		return true;
	perr(c, n, "expected a list, got %s", node_kind(n));
	return false;
}

bool get_text(struct pctx *c, yaml_node_t *n, const char **out)
{
	if (!n || n->type != YAML_SCALAR_NODE || node_is_null(n)) {
		perr(c, n, "expected a string, got %s", node_kind(n));
		return false;
	}
	*out = node_scalar(n);
	return true;
}

bool get_str(struct pctx *c, yaml_node_t *n, char **out)
{
	const char *s;
	if (!get_text(c, n, &s))
		return false;
	free(*out);
	*out = zl_xstrdup(s);
	return true;
}

bool get_int(struct pctx *c, yaml_node_t *n, int64_t min, int64_t max, int64_t *out)
{
	const char *s = node_scalar(n);
	if (!s || !node_is_plain(n)) {
		if (s)
			perr(c, n, "expected an integer, got the string \"%s\"", s);
		else
			perr(c, n, "expected an integer, got %s", node_kind(n));
		return false;
	}
	char *end = NULL;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (!*s || *end || errno || (*s != '-' && *s != '+' && (*s < '0' || *s > '9'))) {
		perr(c, n, "expected an integer, got %s \"%s\"", node_kind(n), s);
		return false;
	}
	if (v < min || v > max) {
		perr(c, n, "expected an integer in %lld..%lld, got %lld", (long long)min, (long long)max, v);
		return false;
	}
	*out = v;
	return true;
}

bool get_int32(struct pctx *c, yaml_node_t *n, int min, int max, int *out)
{
	int64_t v;
	if (!get_int(c, n, min, max, &v))
		return false;
	*out = (int)v;
	return true;
}

bool get_bool(struct pctx *c, yaml_node_t *n, bool *out)
{
	const char *s = node_scalar(n);
	if (s && node_is_plain(n) && is_bool_text(s)) {
		*out = s[0] == 't' || s[0] == 'T';
		return true;
	}
	if (s)
		perr(c, n, "expected true or false, got %s \"%s\"", node_kind(n), s);
	else
		perr(c, n, "expected true or false, got %s", node_kind(n));
	return false;
}

bool get_duration(struct pctx *c, yaml_node_t *n, int64_t *ms)
{
	const char *s;
	if (!get_text(c, n, &s))
		return false;
	struct zl_err err = ZL_ERR_INIT;
	if (spec_parse_duration(s, ms, &err) < 0) {
		perr(c, n, "%s", err.msg);
		return false;
	}
	return true;
}

bool get_memory(struct pctx *c, yaml_node_t *n, int64_t *bytes)
{
	const char *s;
	if (!get_text(c, n, &s))
		return false;
	struct zl_err err = ZL_ERR_INIT;
	if (spec_parse_memory(s, bytes, &err) < 0) {
		perr(c, n, "%s", err.msg);
		return false;
	}
	return true;
}

bool get_enum(struct pctx *c, yaml_node_t *n, const char *const *names, int *out)
{
	const char *s;
	if (!get_text(c, n, &s))
		return false;
	for (int i = 0; names[i]; i++) {
		if (!strcmp(names[i], s)) {
			*out = i;
			return true;
		}
	}
	struct zl_buf list = { 0 };
	for (int i = 0; names[i]; i++)
		zl_buf_printf(&list, "%s%s", i ? "|" : "", names[i]);
	perr(c, n, "expected %s, got \"%s\"", list.data, s);
	zl_buf_free(&list);
	return false;
}

bool get_strv(struct pctx *c, yaml_node_t *n, struct spec_strv *out)
{
	if (!expect_seq(c, n))
		return false;
	spec_strv_free(out);
	size_t count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	out->items = zl_xcalloc(count + 1, sizeof(*out->items));
	bool ok = true;
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *item = ynode(c, n->data.sequence.items.start[i]);
		size_t old = path_push_index(c, i);
		const char *s;
		if (get_text(c, item, &s))
			out->items[out->count++] = zl_xstrdup(s);
		else
			ok = false;
		path_pop(c, old);
	}
	return ok;
}

bool get_kv_map(struct pctx *c, yaml_node_t *n, struct spec_kv **out, size_t *count)
{
	if (!n || n->type != YAML_MAPPING_NODE) {
		perr(c, n, "expected a mapping of names to strings, got %s", node_kind(n));
		return false;
	}
	bool *skip = map_skips(c, n);
	size_t pairs = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	struct spec_kv *kv = zl_xcalloc(pairs + 1, sizeof(*kv));
	size_t used = 0;
	for (size_t i = 0; i < pairs; i++) {
		if (skip[i])
			continue;
		yaml_node_pair_t *p = &n->data.mapping.pairs.start[i];
		const char *key = node_scalar(ynode(c, p->key));
		yaml_node_t *v = ynode(c, p->value);
		size_t old = path_push_key(c, key);
		const char *s;
		if (!*key)
			perr(c, ynode(c, p->key), "empty key");
		else if (get_text(c, v, &s))
			kv[used++] = (struct spec_kv){ zl_xstrdup(key), zl_xstrdup(s) };
		path_pop(c, old);
	}
	free(skip);
	spec_kv_sort(kv, used);
	spec_kv_free(*out, *count);
	*out = kv;
	*count = used;
	return true;
}

static cJSON *node_json(struct pctx *c, yaml_node_t *n, int depth)
{
	if (!n || depth > 32 || c->budget == 0)
		return cJSON_CreateNull();
	c->budget--;
	if (n->type == YAML_SCALAR_NODE)
		return node_is_null(n) ? cJSON_CreateNull() : cJSON_CreateString(node_scalar(n));
	if (n->type == YAML_SEQUENCE_NODE) {
		cJSON *arr = cJSON_CreateArray();
		for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++)
			cJSON_AddItemToArray(arr, node_json(c, ynode(c, *it), depth + 1));
		return arr;
	}
	cJSON *obj = cJSON_CreateObject();
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		const char *k = node_scalar(ynode(c, p->key));
		cJSON_AddItemToObject(obj, k ? k : "", node_json(c, ynode(c, p->value), depth + 1));
	}
	return obj;
}

char *node_to_json(struct pctx *c, yaml_node_t *n)
{
	cJSON *j = node_json(c, n, 0);
	char *text = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	if (!text) {
		fprintf(stderr, "zlapply: out of memory\n");
		abort();
	}
	char *out = zl_xstrdup(text);
	cJSON_free(text);
	return out;
}

void check_any(struct pctx *c, yaml_node_t *n, int depth)
{
	if (!n || depth > 64 || c->budget == 0 || spec_interrupted())
		return;
	c->budget--;
	if (n->type == YAML_SEQUENCE_NODE) {
		size_t i = 0;
		for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++, i++) {
			size_t old = path_push_index(c, i);
			check_any(c, ynode(c, *it), depth + 1);
			path_pop(c, old);
		}
	} else if (n->type == YAML_MAPPING_NODE) {
		bool *skip = map_skips(c, n);
		size_t i = 0;
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++, i++) {
			if (skip[i])
				continue;
			size_t old = path_push_key(c, node_scalar(ynode(c, p->key)));
			check_any(c, ynode(c, p->value), depth + 1);
			path_pop(c, old);
		}
		free(skip);
	}
}
