/* source.c: where each key of a spec file stands. The spec model keeps
 * the position of a service, not of each of its keys; a warning about a
 * key that cannot map names the key's own line, so render reads the file
 * once more with libyaml's parser and records every key path with its
 * position (and scalar values, for keys the model does not keep, such as
 * scale.targets). */
#include "render/render-internal.h"

#include <string.h>
#include <yaml.h>

struct frame {
	bool is_map;
	bool want_key; /* map: the next scalar is a key */
	size_t index;  /* seq: the next item's index */
	char *path;    /* this node's path ("" at the top) */
	long pos;      /* map: the entry of the current key, -1 none */
};

static void doc_add(struct render_doc *d, char *path, int line, int col)
{
	zl_grow(&d->items, sizeof(*d->items), &d->cap, d->count + 1);
	d->items[d->count++] = (struct render_pos){ .path = path, .line = line, .col = col };
}

static char *child_path(const struct frame *f, const char *key)
{
	if (f->is_map)
		return f->path[0] ? zl_xasprintf("%s.%s", f->path, key) : zl_xstrdup(key);
	return zl_xasprintf("%s[%zu]", f->path, f->index);
}

/* The path of the node starting now in frame f (advancing f), recording
 * it at line:col; for a key scalar, NULL (the key itself was recorded). */
static char *node_start(struct render_doc *d, struct frame *f, const char *scalar, int line,
			int col, bool *was_key)
{
	*was_key = false;
	if (f->is_map && f->want_key) {
		*was_key = true;
		f->want_key = false;
		char *path = child_path(f, scalar ? scalar : "?");
		doc_add(d, path, line, col);
		f->pos = (long)d->count - 1;
		return NULL;
	}
	if (f->is_map) {
		f->want_key = true;
		return zl_xstrdup(f->pos >= 0 ? d->items[f->pos].path : f->path);
	}
	char *path = child_path(f, NULL);
	f->index++;
	doc_add(d, zl_xstrdup(path), line, col);
	return path;
}

static void index_text(struct render_sources *s, const char *file, const char *text, size_t len)
{
	yaml_parser_t p;
	yaml_event_t ev;
	struct frame stack[SPEC_MAX_DEPTH + 2];
	int depth = 0;
	struct render_doc *d = NULL;
	if (!yaml_parser_initialize(&p))
		return;
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	for (;;) {
		if (!yaml_parser_parse(&p, &ev))
			break; /* the spec loader has reported it */
		yaml_event_type_t type = ev.type;
		int line = (int)ev.start_mark.line + 1, col = (int)ev.start_mark.column + 1;
		if (type == YAML_DOCUMENT_START_EVENT) {
			zl_grow(&s->docs, sizeof(*s->docs), &s->cap, s->count + 1);
			d = &s->docs[s->count++];
			*d = (struct render_doc){ .file = zl_xstrdup(file) };
			depth = 0;
		} else if (d && (type == YAML_SCALAR_EVENT || type == YAML_ALIAS_EVENT ||
				 type == YAML_MAPPING_START_EVENT || type == YAML_SEQUENCE_START_EVENT)) {
			const char *scalar = type == YAML_SCALAR_EVENT ? (const char *)ev.data.scalar.value
								       : NULL;
			char *path = NULL;
			bool was_key = false;
			if (depth > 0)
				path = node_start(d, &stack[depth - 1], scalar, line, col, &was_key);
			else
				path = zl_xstrdup("");
			if (!was_key && type == YAML_SCALAR_EVENT) {
				for (size_t i = d->count; i-- > 0;)
					if (strcmp(d->items[i].path, path) == 0) {
						free(d->items[i].value);
						d->items[i].value = zl_xstrdup(scalar);
						break;
					}
				if (strcmp(path, "deployment") == 0 && !d->deployment)
					d->deployment = zl_xstrdup(scalar);
			}
			if (!was_key && (type == YAML_MAPPING_START_EVENT || type == YAML_SEQUENCE_START_EVENT) &&
			    depth < SPEC_MAX_DEPTH + 1) {
				stack[depth++] = (struct frame){ .is_map = type == YAML_MAPPING_START_EVENT,
								 .want_key = true, .path = path, .pos = -1 };
				path = NULL;
			}
			free(path);
		} else if (d && (type == YAML_MAPPING_END_EVENT || type == YAML_SEQUENCE_END_EVENT) &&
			   depth > 0) {
			free(stack[--depth].path);
		}
		yaml_event_delete(&ev);
		if (type == YAML_STREAM_END_EVENT)
			break;
	}
	while (depth > 0)
		free(stack[--depth].path);
	yaml_parser_delete(&p);
}

void render_sources_add_file(struct render_sources *s, const char *file)
{
	for (size_t i = 0; i < s->count; i++)
		if (strcmp(s->docs[i].file, file) == 0)
			return;
	if (strcmp(file, "-") == 0)
		return;
	char *text = NULL;
	size_t len = 0;
	struct zl_err err = ZL_ERR_INIT;
	/* The loader read this file a moment ago; if it is gone now, messages
	 * fall back to the service's position. */
	if (zl_read_file(file, &text, &len, &err) == 0)
		index_text(s, file, text, len);
	free(text);
}

const struct render_doc *render_sources_doc(const struct render_sources *s, const char *file,
					    const char *deployment)
{
	for (size_t i = 0; i < s->count; i++)
		if (strcmp(s->docs[i].file, file) == 0 && s->docs[i].deployment &&
		    strcmp(s->docs[i].deployment, deployment) == 0)
			return &s->docs[i];
	return NULL;
}

const struct render_pos *render_doc_find(const struct render_doc *doc, const char *path)
{
	for (size_t i = 0; doc && i < doc->count; i++)
		if (strcmp(doc->items[i].path, path) == 0)
			return &doc->items[i];
	return NULL;
}

void render_sources_free(struct render_sources *s)
{
	for (size_t i = 0; i < s->count; i++) {
		struct render_doc *d = &s->docs[i];
		for (size_t j = 0; j < d->count; j++) {
			free(d->items[j].path);
			free(d->items[j].value);
		}
		free(d->items);
		free(d->file);
		free(d->deployment);
	}
	free(s->docs);
	*s = (struct render_sources){ 0 };
}
