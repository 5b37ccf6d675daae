/* canon.c: the canonical JSON text the spec hash is taken of.
 *
 * The recorded hashes were made by building a cJSON tree and printing it
 * with cJSON_PrintUnformatted (cJSON 1.7.15). A replica's hash must not
 * change with the code that computes it (a changed hash recreates it), so
 * this writer produces those bytes exactly: no spaces, strings escaped as
 * cJSON escapes them, numbers as cJSON prints a double. It writes straight
 * into one buffer, without the tree: a tree and a print per section were
 * half the instructions of a no-op apply. tests/unit/test_spec_hash.c checks
 * these bytes against cJSON's for edge-case numbers and strings. */
#include "spec-internal.h"

#include <float.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

/* Room for n more bytes (and the NUL) at the end of b. The writer appends
 * a few bytes at a time, ~100 times per service: zl_buf_append's call and
 * NUL per piece were a third of the hash. */
static char *room(struct zl_buf *b, size_t n)
{
	if (b->len + n + 1 > b->cap)
		zl_grow(&b->data, 1, &b->cap, b->len + n + 1);
	return b->data + b->len;
}

static void put(struct zl_buf *b, const char *data, size_t n)
{
	memcpy(room(b, n), data, n);
	b->len += n;
	b->data[b->len] = '\0';
}

/* A ',' goes before any value or key that follows a value. */
static void separate(struct canon *w)
{
	if (w->comma)
		put(w->b, ",", 1);
	w->comma = false;
}

void canon_begin(struct canon *w, char bracket)
{
	separate(w);
	put(w->b, &bracket, 1);
}

void canon_end(struct canon *w, char bracket)
{
	put(w->b, &bracket, 1);
	w->comma = true;
}

/* Bytes cJSON's print_string_ptr escapes: '"', '\\' and those below 0x20. */
static bool escaped(unsigned char c)
{
	return c < 32 || c == '"' || c == '\\';
}

/* s quoted as cJSON quotes it: the short escapes where JSON has them, else
 * \u00xx in lower case; every other byte, UTF-8 or not, as it is. */
static void quoted(struct zl_buf *b, const char *s)
{
	size_t n = 0;
	while (s[n] && !escaped((unsigned char)s[n]))
		n++;
	if (!s[n]) { /* nothing to escape: the usual case */
		char *out = room(b, n + 2);
		out[0] = '"';
		memcpy(out + 1, s, n);
		out[n + 1] = '"';
		b->len += n + 2;
		b->data[b->len] = '\0';
		return;
	}
	put(b, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char esc[8];
		switch (*p) {
		case '"': put(b, "\\\"", 2); break;
		case '\\': put(b, "\\\\", 2); break;
		case '\b': put(b, "\\b", 2); break;
		case '\f': put(b, "\\f", 2); break;
		case '\n': put(b, "\\n", 2); break;
		case '\r': put(b, "\\r", 2); break;
		case '\t': put(b, "\\t", 2); break;
		default:
			if (escaped(*p))
				put(b, esc, (size_t)snprintf(esc, sizeof(esc), "\\u%04x", *p));
			else
				put(b, (const char *)p, 1);
			break;
		}
	}
	put(b, "\"", 1);
}

void canon_key(struct canon *w, const char *key)
{
	separate(w);
	quoted(w->b, key);
	put(w->b, ":", 1);
}

void canon_str(struct canon *w, const char *s)
{
	separate(w);
	quoted(w->b, s);
	w->comma = true;
}

void canon_str_or_null(struct canon *w, const char *s)
{
	if (s)
		canon_str(w, s);
	else
		canon_literal(w, "null");
}

void canon_literal(struct canon *w, const char *text)
{
	separate(w);
	put(w->b, text, strlen(text));
	w->comma = true;
}

void canon_bool(struct canon *w, bool v)
{
	canon_literal(w, v ? "true" : "false");
}

static bool same_double(double a, double b) /* cJSON's compare_double */
{
	double fa = a < 0 ? -a : a, fb = b < 0 ? -b : b;
	double max = fa > fb ? fa : fb, diff = a - b < 0 ? b - a : a - b;
	return diff <= max * DBL_EPSILON;
}

/* cJSON holds a number as a double and an int clamped to int's range, and
 * prints the int ("%d") when the two agree, else the double with 15
 * significant digits, or 17 when 15 do not read back as the same double.
 * The C locale is never changed, so the decimal point is '.'. */
void canon_num(struct canon *w, int64_t v)
{
	double d = (double)v;
	int as_int = d >= INT_MAX ? INT_MAX : d <= (double)INT_MIN ? INT_MIN : (int)d;
	char text[32];
	if (d == (double)as_int) {
		/* "%d" by hand: snprintf for each of the ~60 numbers of a
		 * service was a measurable part of the hash */
		char *p = text + sizeof(text);
		long long n = as_int;
		unsigned long long u = n < 0 ? 0ULL - (unsigned long long)n : (unsigned long long)n;
		*--p = '\0';
		do
			*--p = (char)('0' + u % 10);
		while (u /= 10);
		if (n < 0)
			*--p = '-';
		canon_literal(w, p);
		return;
	}
	double back = 0;
	snprintf(text, sizeof(text), "%1.15g", d);
	if (sscanf(text, "%lg", &back) != 1 || !same_double(back, d))
		snprintf(text, sizeof(text), "%1.17g", d);
	canon_literal(w, text);
}
