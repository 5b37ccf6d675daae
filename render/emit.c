/* emit.c: the YAML tree the targets build and its emission with libyaml's
 * emitter. A string that a YAML 1.1 reader would take for something else
 * (a number, a bool, null) is double-quoted, so "8080" stays a string and
 * Kubernetes and Docker read back the types the renderer meant. */
#include "render/render-internal.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

/* ---- building ---- */

static struct rnode *rn_new(enum rnode_kind kind, char *text)
{
	struct rnode *n = zl_xcalloc(1, sizeof(*n));
	n->kind = kind;
	n->text = text;
	return n;
}

struct rnode *rn_map(void) { return rn_new(RN_MAP, NULL); }
struct rnode *rn_seq(void) { return rn_new(RN_SEQ, NULL); }
struct rnode *rn_str(const char *s) { return rn_new(RN_STR, zl_xstrdup(s ? s : "")); }
struct rnode *rn_int(int64_t n) { return rn_new(RN_PLAIN, zl_xasprintf("%lld", (long long)n)); }
struct rnode *rn_bool(bool b) { return rn_new(RN_PLAIN, zl_xstrdup(b ? "true" : "false")); }

struct rnode *rn_strf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = zl_xvasprintf(fmt, ap);
	va_end(ap);
	return rn_new(RN_STR, s);
}

static void rn_append(struct rnode *n, char *key, struct rnode *val)
{
	if (n->count == n->cap) {
		size_t cap = n->cap;
		zl_grow(&n->kids, sizeof(*n->kids), &cap, n->count + 1);
		if (n->kind == RN_MAP) {
			size_t kcap = n->cap;
			zl_grow(&n->keys, sizeof(*n->keys), &kcap, n->count + 1);
		}
		n->cap = cap;
	}
	if (n->kind == RN_MAP)
		n->keys[n->count] = key;
	n->kids[n->count++] = val;
}

struct rnode *rn_get(const struct rnode *map, const char *key)
{
	for (size_t i = 0; map && i < map->count; i++)
		if (strcmp(map->keys[i], key) == 0)
			return map->kids[i];
	return NULL;
}

struct rnode *rn_put(struct rnode *map, const char *key, struct rnode *val)
{
	for (size_t i = 0; i < map->count; i++)
		if (strcmp(map->keys[i], key) == 0) {
			rn_free(map->kids[i]);
			map->kids[i] = val;
			return val;
		}
	rn_append(map, zl_xstrdup(key), val);
	return val;
}

struct rnode *rn_sub(struct rnode *map, const char *key)
{
	struct rnode *n = rn_get(map, key);
	return n ? n : rn_put(map, key, rn_map());
}

struct rnode *rn_list(struct rnode *map, const char *key)
{
	struct rnode *n = rn_get(map, key);
	return n ? n : rn_put(map, key, rn_seq());
}

struct rnode *rn_add(struct rnode *seq, struct rnode *val)
{
	rn_append(seq, NULL, val);
	return val;
}

void rn_free(struct rnode *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->count; i++) {
		if (n->keys)
			free(n->keys[i]);
		rn_free(n->kids[i]);
	}
	free(n->keys);
	free(n->kids);
	free(n->text);
	free(n);
}

/* ---- emitting ---- */

/* Would a YAML 1.1 or 1.2 reader resolve the plain scalar s to a type other
 * than string? */
static bool looks_typed(const char *s)
{
	static const char *const words[] = { "y", "n", "yes", "no", "true", "false", "on", "off",
					     "null", "~", ".nan", ".inf", "-.inf", "+.inf" };
	if (!*s)
		return true;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcasecmp(s, words[i]) == 0)
			return true;
	if (!(isdigit((unsigned char)s[0]) || ((s[0] == '-' || s[0] == '+' || s[0] == '.') &&
					       (isdigit((unsigned char)s[1]) || s[1] == '.'))))
		return false;
	/* Numbers in YAML 1.1 and 1.2 forms: 1_000, 1:30 (sexagesimal), 1e3,
	 * 0x1f, 0o7: digits with these separators, hex digits after 0x. */
	bool hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
	for (const char *p = hex ? s + 2 : s; *p; p++)
		if (!(hex ? isxdigit((unsigned char)*p) : isdigit((unsigned char)*p)) &&
		    !strchr("+-._:eEoO", *p))
			return false;
	return true;
}

static int write_buf(void *data, unsigned char *buffer, size_t size)
{
	zl_buf_append(data, buffer, size);
	return 1;
}

static int emit_event(yaml_emitter_t *e, yaml_event_t *ev, struct zl_err *err)
{
	if (!yaml_emitter_emit(e, ev))
		return zl_fail(err, "yaml emitter: %s", e->problem ? e->problem : "failed");
	return 0;
}

static int emit_scalar(yaml_emitter_t *e, const char *text, bool typed_ok, struct zl_err *err)
{
	yaml_event_t ev;
	yaml_scalar_style_t style = !typed_ok && looks_typed(text) ? YAML_DOUBLE_QUOTED_SCALAR_STYLE
								    : YAML_ANY_SCALAR_STYLE;
	yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)text, (int)strlen(text), 1, 1,
				     style);
	return emit_event(e, &ev, err);
}

static int emit_node(yaml_emitter_t *e, const struct rnode *n, struct zl_err *err)
{
	yaml_event_t ev;
	switch (n->kind) {
	case RN_STR:
		return emit_scalar(e, n->text, false, err);
	case RN_PLAIN:
		return emit_scalar(e, n->text, true, err);
	case RN_MAP:
		yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
		if (emit_event(e, &ev, err) < 0)
			return -1;
		for (size_t i = 0; i < n->count; i++)
			if (emit_scalar(e, n->keys[i], false, err) < 0 || emit_node(e, n->kids[i], err) < 0)
				return -1;
		yaml_mapping_end_event_initialize(&ev);
		return emit_event(e, &ev, err);
	case RN_SEQ:
		yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE);
		if (emit_event(e, &ev, err) < 0)
			return -1;
		for (size_t i = 0; i < n->count; i++)
			if (emit_node(e, n->kids[i], err) < 0)
				return -1;
		yaml_sequence_end_event_initialize(&ev);
		return emit_event(e, &ev, err);
	}
	return zl_fail(err, "yaml emitter: unknown node");
}

int rn_emit(const struct rnode *node, bool explicit_start, struct zl_buf *buf, struct zl_err *err)
{
	yaml_emitter_t e;
	yaml_event_t ev;
	int ret = -1;
	if (!yaml_emitter_initialize(&e))
		return zl_fail(err, "yaml emitter: out of memory");
	yaml_emitter_set_output(&e, write_buf, buf);
	yaml_emitter_set_unicode(&e, 1);
	yaml_emitter_set_width(&e, -1);
	yaml_emitter_set_indent(&e, 2);
	yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
	if (emit_event(&e, &ev, err) < 0)
		goto out;
	yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, explicit_start ? 0 : 1);
	if (emit_event(&e, &ev, err) < 0 || emit_node(&e, node, err) < 0)
		goto out;
	yaml_document_end_event_initialize(&ev, 1);
	if (emit_event(&e, &ev, err) < 0)
		goto out;
	yaml_stream_end_event_initialize(&ev);
	if (emit_event(&e, &ev, err) < 0)
		goto out;
	ret = 0;
out:
	yaml_emitter_delete(&e);
	return ret;
}
