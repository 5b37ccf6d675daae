/* compose.c: libyaml's events -> a libyaml document, within the limits of
 * spec.h.
 *
 * libyaml's own yaml_parser_load() has no limit on anything, and looks up
 * every alias and anchor in a list of all the anchors before it (quadratic
 * in the anchors). This builds the same document (the same node ids, marks
 * and anchor semantics, so the rest of spec/ reads it unchanged) from the
 * event stream with:
 *   - a nesting depth limit, checked when a list or mapping starts: the
 *     scanner is then never far into a deep structure, which matters
 *     because libyaml's scanner costs O(depth) per token (its simple-key
 *     stack), so deep flow nesting is quadratic in it;
 *   - a hash of the anchors;
 *   - the file's size with every alias expanded (nodes and scalar bytes),
 *     so aliases cannot multiply a small file into a huge tree, and the
 *     time to read a file is bounded;
 *   - no NUL byte in a scalar ("a\0b" would read as "a" in C);
 *   - the interrupt flag, every few thousand events.
 * Each problem is a diag at the node's line:col with its key path, and ends
 * the file's reading, as a YAML syntax error does. */
#include "spec-internal.h"

#include <string.h>

/* ---- the interrupt flag ---- */

static const volatile sig_atomic_t *interrupt_flag;

void spec_set_interrupt_flag(const volatile sig_atomic_t *flag) { interrupt_flag = flag; }

bool spec_interrupted(void) { return interrupt_flag && *interrupt_flag; }

/* ---- libyaml's own errors ---- */

void yaml_error(const char *file, const char *text, size_t len, yaml_parser_t *parser,
		struct spec_diags *diags)
{
	const char *problem = parser->problem ? parser->problem : "cannot parse";
	int line = (int)parser->problem_mark.line + 1, col = (int)parser->problem_mark.column + 1;
	if (parser->error == YAML_READER_ERROR) {
		/* Reader errors (bad UTF-8, control characters) carry only a
		 * byte offset: turn it into line:col. */
		size_t off = parser->problem_offset < len ? parser->problem_offset : len;
		text_position(text, off, &line, &col);
		spec_diags_add(diags, false, file, line, col, "", "invalid YAML: %s (byte 0x%02x)", problem,
			       (unsigned)parser->problem_value & 0xff);
		return;
	}
	if (parser->context)
		spec_diags_add(diags, false, file, line, col, "", "invalid YAML: %s (%s at line %d, column %d)",
			       problem, parser->context, (int)parser->context_mark.line + 1,
			       (int)parser->context_mark.column + 1);
	else
		spec_diags_add(diags, false, file, line, col, "", "invalid YAML: %s", problem);
}

void text_position(const char *text, size_t off, int *line, int *col)
{
	int l = 1;
	size_t line_start = 0;
	for (const char *p = text, *end = text + off; p < end && (p = memchr(p, '\n', (size_t)(end - p))); p++) {
		l++;
		line_start = (size_t)(p - text) + 1;
	}
	*line = l;
	*col = (int)(off - line_start) + 1;
}

/* ---- composing ---- */

struct frame {
	int node;        /* the list or mapping being filled */
	bool is_map;
	int key;         /* map: the key waiting for its value, 0 when none */
	int child_key;   /* map: key of the last child attached; -1 when that child was a key */
	size_t items;    /* children attached: list items, or keys and values */
	size_t nodes0, bytes0; /* file totals before this node */
	size_t anchor;   /* its anchor + 1, 0 when none */
};

struct anchor {
	char *name;
	int node;
	bool done;           /* false while its list or mapping is open */
	size_t nodes, bytes; /* its size, aliases inside expanded */
	yaml_mark_t mark;
};

struct composer {
	const char *file;
	struct spec_diags *diags;
	yaml_document_t *doc;
	struct frame *stack;
	size_t depth, stack_cap;
	struct anchor *anchors;
	size_t anchor_count, anchor_cap;
	struct str_index anchor_index; /* name -> index in anchors */
	struct compose_totals *totals; /* of the file, aliases expanded */
};

/* The key path of the node attached last, as the walk in parse*.c would
 * print it: keys joined with '.', list items as [i]; a key's path is its
 * mapping's. */
static char *node_path(struct composer *c)
{
	struct zl_buf b = { 0 };
	for (size_t i = 0; i < c->depth; i++) {
		const struct frame *f = &c->stack[i];
		if (!f->is_map) {
			zl_buf_printf(&b, "[%zu]", f->items - 1);
			continue;
		}
		if (f->child_key < 0)
			break; /* a key: the path ends at its mapping */
		yaml_node_t *k = yaml_document_get_node(c->doc, f->child_key);
		const char *text = k && k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "?";
		if (b.len)
			zl_buf_puts(&b, ".");
		zl_buf_puts(&b, text);
	}
	return zl_buf_steal(&b);
}

static int compose_error(struct composer *c, yaml_mark_t mark, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int compose_error(struct composer *c, yaml_mark_t mark, const char *fmt, ...)
{
	_cleanup_free_ char *path = node_path(c);
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *msg = zl_xvasprintf(fmt, ap);
	va_end(ap);
	spec_diags_add(c->diags, false, c->file, (int)mark.line + 1, (int)mark.column + 1, path, "%s", msg);
	return -1;
}

/* Puts node id under the list or mapping being filled (nothing for the
 * root). */
static void attach(struct composer *c, int id)
{
	if (!c->depth)
		return;
	struct frame *f = &c->stack[c->depth - 1];
	f->items++;
	if (!f->is_map) {
		if (!yaml_document_append_sequence_item(c->doc, f->node, id))
			abort();
	} else if (!f->key) {
		f->key = id;
		f->child_key = -1;
	} else {
		if (!yaml_document_append_mapping_pair(c->doc, f->node, f->key, id))
			abort();
		f->child_key = f->key;
		f->key = 0;
	}
}

/* Counts what a node (or an alias) adds to the document. */
static int count(struct composer *c, size_t nodes, size_t bytes, yaml_mark_t mark)
{
	struct compose_totals *t = c->totals;
	t->nodes += nodes;
	t->bytes += bytes;
	const char *what = strcmp(c->file, "-") ? "file" : "input";
	if (t->nodes > SPEC_MAX_NODES)
		return compose_error(c, mark, "the %s has more than %zu nodes (lists, mappings and scalars, "
				     "counting what aliases repeat), the most a spec can have", what, SPEC_MAX_NODES);
	if (t->bytes > SPEC_MAX_TEXT_BYTES)
		return compose_error(c, mark, "the %s has more than %zu MiB of scalar text (counting what "
				     "aliases repeat), the most a spec can have", what, SPEC_MAX_TEXT_BYTES >> 20);
	return 0;
}

/* Registers an anchor (NULL: none): *slot gets its index + 1, 0 for none. */
static int anchor_add(struct composer *c, const yaml_char_t *anchor, int node, yaml_mark_t mark,
		      size_t *slot)
{
	*slot = 0;
	if (!anchor)
		return 0;
	const char *name = (const char *)anchor;
	size_t i = str_index_get(&c->anchor_index, name);
	if (i != SIZE_MAX) {
		const struct anchor *old = &c->anchors[i];
		/* libyaml's words */
		spec_diags_add(c->diags, false, c->file, (int)mark.line + 1, (int)mark.column + 1, "",
			       "invalid YAML: second occurrence (found duplicate anchor; first occurrence at "
			       "line %d, column %d)", (int)old->mark.line + 1, (int)old->mark.column + 1);
		return -1;
	}
	zl_grow(&c->anchors, sizeof(*c->anchors), &c->anchor_cap, c->anchor_count + 1);
	struct anchor *a = &c->anchors[c->anchor_count];
	*a = (struct anchor){ .name = zl_xstrdup(name), .node = node, .mark = mark };
	str_index_first(&c->anchor_index, a->name, c->anchor_count);
	*slot = ++c->anchor_count;
	return 0;
}

static int on_scalar(struct composer *c, yaml_event_t *ev)
{
	const yaml_char_t *value = ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	int id = yaml_document_add_scalar(c->doc, NULL, value, (int)len, ev->data.scalar.style);
	if (!id)
		abort(); /* only out of memory: the parser's text is UTF-8 */
	yaml_node_t *n = yaml_document_get_node(c->doc, id);
	n->start_mark = ev->start_mark;
	n->end_mark = ev->end_mark;
	attach(c, id);
	if (memchr(value, '\0', len)) {
		const struct frame *top = c->depth ? &c->stack[c->depth - 1] : NULL;
		bool is_key = top && top->is_map && top->child_key < 0;
		return compose_error(c, ev->start_mark, "a NUL byte (\\0) is not allowed in a %s",
				     is_key ? "key" : "value");
	}
	size_t slot;
	if (anchor_add(c, ev->data.scalar.anchor, id, ev->start_mark, &slot) < 0)
		return -1;
	if (slot) {
		struct anchor *a = &c->anchors[slot - 1];
		a->done = true;
		a->nodes = 1;
		a->bytes = len;
	}
	return count(c, 1, len, ev->start_mark);
}

static int on_start(struct composer *c, yaml_event_t *ev, bool is_map)
{
	int id = is_map ? yaml_document_add_mapping(c->doc, NULL, ev->data.mapping_start.style)
			: yaml_document_add_sequence(c->doc, NULL, ev->data.sequence_start.style);
	if (!id)
		abort();
	yaml_document_get_node(c->doc, id)->start_mark = ev->start_mark;
	attach(c, id);
	if (c->depth >= SPEC_MAX_DEPTH)
		return compose_error(c, ev->start_mark, "lists and mappings nested deeper than %d levels, the most a "
				     "spec can have",
				     SPEC_MAX_DEPTH);
	size_t slot, nodes0 = c->totals->nodes, bytes0 = c->totals->bytes;
	const yaml_char_t *anchor = is_map ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
	if (anchor_add(c, anchor, id, ev->start_mark, &slot) < 0 || count(c, 1, 0, ev->start_mark) < 0)
		return -1;
	zl_grow(&c->stack, sizeof(*c->stack), &c->stack_cap, c->depth + 1);
	c->stack[c->depth++] = (struct frame){
		.node = id, .is_map = is_map, .nodes0 = nodes0, .bytes0 = bytes0, .anchor = slot,
	};
	return 0;
}

static void on_end(struct composer *c, yaml_event_t *ev)
{
	struct frame *f = &c->stack[--c->depth];
	yaml_document_get_node(c->doc, f->node)->end_mark = ev->end_mark;
	if (f->anchor) {
		struct anchor *a = &c->anchors[f->anchor - 1];
		a->done = true;
		a->nodes = c->totals->nodes - f->nodes0;
		a->bytes = c->totals->bytes - f->bytes0;
	}
}

static int on_alias(struct composer *c, yaml_event_t *ev)
{
	size_t i = str_index_get(&c->anchor_index, (const char *)ev->data.alias.anchor);
	if (i == SIZE_MAX) {
		/* libyaml's words */
		spec_diags_add(c->diags, false, c->file, (int)ev->start_mark.line + 1,
			       (int)ev->start_mark.column + 1, "", "invalid YAML: found undefined alias");
		return -1;
	}
	const struct anchor *a = &c->anchors[i];
	attach(c, a->node);
	/* An alias of a list or mapping still open (it contains the alias)
	 * makes a cycle: the walks that follow one are bounded (pctx.budget). */
	return a->done ? count(c, a->nodes, a->bytes, ev->start_mark) : count(c, 1, 0, ev->start_mark);
}

static void composer_free(struct composer *c)
{
	for (size_t i = 0; i < c->anchor_count; i++)
		free(c->anchors[i].name);
	free(c->anchors);
	str_index_free(&c->anchor_index);
	free(c->stack);
}

int compose_document(yaml_parser_t *parser, const char *file, const char *text, size_t len,
		     struct compose_totals *totals, yaml_document_t *doc, struct spec_diags *diags)
{
	struct composer c = { .file = file, .diags = diags, .doc = doc, .totals = totals };
	bool started = false;
	int ret = -1;
	for (unsigned long events = 1;; events++) {
		if (events % 4096 == 0 && spec_interrupted()) {
			spec_diags_add(diags, false, file, 0, 0, "", "interrupted: loading was stopped");
			break;
		}
		yaml_event_t ev;
		if (!yaml_parser_parse(parser, &ev)) {
			yaml_error(file, text, len, parser, diags);
			break;
		}
		int r = 0;
		bool done = false;
		switch (ev.type) {
		case YAML_STREAM_START_EVENT:
		case YAML_NO_EVENT:
			break;
		case YAML_STREAM_END_EVENT:
			ret = 0;
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (!yaml_document_initialize(doc, NULL, NULL, NULL, 1, 1))
				abort();
			doc->start_mark = ev.start_mark;
			started = true;
			break;
		case YAML_DOCUMENT_END_EVENT:
			doc->end_mark = ev.end_mark;
			ret = 1;
			done = true;
			break;
		case YAML_SCALAR_EVENT: r = on_scalar(&c, &ev); break;
		case YAML_SEQUENCE_START_EVENT: r = on_start(&c, &ev, false); break;
		case YAML_MAPPING_START_EVENT: r = on_start(&c, &ev, true); break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT: on_end(&c, &ev); break;
		case YAML_ALIAS_EVENT: r = on_alias(&c, &ev); break;
		}
		yaml_event_delete(&ev);
		if (done || r < 0)
			break;
	}
	composer_free(&c);
	if (ret != 1 && started)
		yaml_document_delete(doc);
	return ret;
}
