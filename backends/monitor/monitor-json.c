/* monitor-json.c: the little JSON zlmon writes and reads, without a JSON
 * library. zlmon runs once per replica for the replica's whole life, and
 * libcjson (a shared library of its own, or no static archive at all on
 * Debian) cost each monitor more memory than everything it does with it:
 * writing three kinds of flat records (ctr.log lines, exit.json) and
 * picking two string members out of the runtime's JSON log lines.
 *
 * The writer prints strings byte for byte as cJSON_PrintUnformatted does
 * (the same escapes, \u00XX in lower case, bytes from 0x20 up as they
 * are), so the files read the same whichever side wrote them; zlapply
 * itself keeps reading them with cJSON. */
#include "backends/monitor/monitor.h"

#include <string.h>

void monitor_json_string(struct zl_buf *out, const char *s)
{
	zl_buf_append(out, "\"", 1);
	size_t run = 0, i = 0;
	for (; s[i]; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c > 31 && c != '"' && c != '\\')
			continue;
		zl_buf_append(out, s + run, i - run);
		run = i + 1;
		switch (c) {
		case '"': zl_buf_puts(out, "\\\""); break;
		case '\\': zl_buf_puts(out, "\\\\"); break;
		case '\b': zl_buf_puts(out, "\\b"); break;
		case '\f': zl_buf_puts(out, "\\f"); break;
		case '\n': zl_buf_puts(out, "\\n"); break;
		case '\r': zl_buf_puts(out, "\\r"); break;
		case '\t': zl_buf_puts(out, "\\t"); break;
		default: zl_buf_printf(out, "\\u%04x", c); break;
		}
	}
	zl_buf_append(out, s + run, i - run);
	zl_buf_append(out, "\"", 1);
}

void monitor_json_key(struct zl_buf *out, const char *key)
{
	if (out->len && out->data[out->len - 1] != '{')
		zl_buf_append(out, ",", 1);
	monitor_json_string(out, key);
	zl_buf_append(out, ":", 1);
}

/* ---- reading ---- */
struct cursor {
	const char *p, *end;
};

static void skip_ws(struct cursor *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

static int hex4(const char *p, const char *end, unsigned *out)
{
	if (end - p < 4)
		return -1;
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		char h = p[i];
		v <<= 4;
		if (h >= '0' && h <= '9')
			v |= (unsigned)(h - '0');
		else if (h >= 'a' && h <= 'f')
			v |= (unsigned)(h - 'a' + 10);
		else if (h >= 'A' && h <= 'F')
			v |= (unsigned)(h - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

static void put_utf8(struct zl_buf *out, unsigned cp)
{
	char b[4];
	size_t n;
	if (cp < 0x80) {
		b[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xC0 | (cp >> 6));
		b[1] = (char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xE0 | (cp >> 12));
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		b[2] = (char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		b[0] = (char)(0xF0 | (cp >> 18));
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		b[3] = (char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	zl_buf_append(out, b, n);
}

/* A string at c->p (on its opening quote), unescaped into out (NULL: only
 * skipped). 0, or -1 when it is not a well-formed string. */
static int read_string(struct cursor *c, struct zl_buf *out)
{
	if (c->p >= c->end || *c->p != '"')
		return -1;
	c->p++;
	while (c->p < c->end && *c->p != '"') {
		const char *run = c->p;
		while (c->p < c->end && *c->p != '"' && *c->p != '\\')
			c->p++;
		if (out)
			zl_buf_append(out, run, (size_t)(c->p - run));
		if (c->p >= c->end || *c->p == '"')
			break;
		if (c->end - c->p < 2)
			return -1;
		char e = c->p[1];
		c->p += 2;
		const char *simple = strchr("\"\\/bfnrt", e);
		if (e && simple) {
			static const char plain[] = "\"\\/\b\f\n\r\t";
			if (out)
				zl_buf_append(out, &plain[simple - "\"\\/bfnrt"], 1);
			continue;
		}
		unsigned cp, lo;
		if (e != 'u' || hex4(c->p, c->end, &cp) < 0)
			return -1;
		c->p += 4;
		/* A surrogate pair is one character; a lone half is U+FFFD. */
		if (cp >= 0xD800 && cp <= 0xDBFF && c->end - c->p >= 6 && c->p[0] == '\\' &&
		    c->p[1] == 'u' && hex4(c->p + 2, c->end, &lo) == 0 && lo >= 0xDC00 && lo <= 0xDFFF) {
			c->p += 6;
			cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
		} else if (cp >= 0xD800 && cp <= 0xDFFF) {
			cp = 0xFFFD;
		}
		if (out)
			put_utf8(out, cp);
	}
	if (c->p >= c->end)
		return -1;
	c->p++;
	return 0;
}

/* Skips one value of any kind (nesting at most depth deep). */
static int skip_value(struct cursor *c, int depth)
{
	skip_ws(c);
	if (c->p >= c->end || depth <= 0)
		return -1;
	char open = *c->p;
	if (open == '"')
		return read_string(c, NULL);
	if (open == '{' || open == '[') {
		char close = open == '{' ? '}' : ']';
		c->p++;
		skip_ws(c);
		if (c->p < c->end && *c->p == close) {
			c->p++;
			return 0;
		}
		for (;;) {
			if (open == '{') {
				skip_ws(c);
				if (read_string(c, NULL) < 0)
					return -1;
				skip_ws(c);
				if (c->p >= c->end || *c->p++ != ':')
					return -1;
			}
			if (skip_value(c, depth - 1) < 0)
				return -1;
			skip_ws(c);
			if (c->p >= c->end)
				return -1;
			if (*c->p == close) {
				c->p++;
				return 0;
			}
			if (*c->p++ != ',')
				return -1;
		}
	}
	/* A number, true, false or null: its characters, at least one. */
	const char *start = c->p;
	while (c->p < c->end && (strchr("+-.eE", *c->p) || (*c->p >= '0' && *c->p <= '9') ||
				 (*c->p >= 'a' && *c->p <= 'z')))
		c->p++;
	return c->p > start ? 0 : -1;
}

int monitor_json_find_string(const char *text, size_t len, const char *key, struct zl_buf *out)
{
	struct cursor c = { text, text + len };
	struct zl_buf name = { 0 }, value = { 0 };
	int ret = -1;
	bool found = false;
	skip_ws(&c);
	if (c.p >= c.end || *c.p++ != '{')
		return -1;
	skip_ws(&c);
	if (c.p < c.end && *c.p == '}')
		return 0;
	for (;;) {
		skip_ws(&c);
		name.len = 0;
		if (read_string(&c, &name) < 0)
			goto out;
		skip_ws(&c);
		if (c.p >= c.end || *c.p++ != ':')
			goto out;
		skip_ws(&c);
		/* The first member of that name counts, as with cJSON. */
		bool wanted = !found && c.p < c.end && *c.p == '"' && name.len == strlen(key) &&
			      memcmp(name.data, key, name.len) == 0;
		if (wanted ? read_string(&c, &value) < 0 : skip_value(&c, 64) < 0)
			goto out;
		found = found || wanted;
		skip_ws(&c);
		if (c.p >= c.end)
			goto out;
		if (*c.p == '}')
			break;
		if (*c.p++ != ',')
			goto out;
	}
	ret = found ? 1 : 0;
	if (found)
		zl_buf_append(out, value.data ? value.data : "", value.len);
out:
	zl_buf_free(&name);
	zl_buf_free(&value);
	return ret;
}
