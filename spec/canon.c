/* canon.c: the canonical JSON text the spec hash is taken of.
 *
 * The recorded hashes were made by building a cJSON tree and printing it
 * with cJSON_PrintUnformatted (cJSON 1.7.15). A replica's hash must not
 * change with the code that computes it (a changed hash recreates it), so
 * this writer produces those bytes exactly: no spaces, strings escaped as
 * cJSON escapes them, numbers as cJSON prints a double. It writes straight
 * into one buffer, without the tree: a tree and a print per section were
 * most of the time of a no-op apply. tests/unit/test_spec_hash.c checks
 * these bytes against cJSON's for edge-case numbers and strings. */
#include "spec-internal.h"

#include <float.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

/* A ',' goes before any value or key that follows a value. */
static void separate(struct canon *w)
{
	if (w->comma)
		zl_buf_append(w->b, ",", 1);
	w->comma = false;
}

void canon_begin(struct canon *w, char bracket)
{
	separate(w);
	zl_buf_append(w->b, &bracket, 1);
}

void canon_end(struct canon *w, char bracket)
{
	zl_buf_append(w->b, &bracket, 1);
	w->comma = true;
}

/* cJSON's print_string_ptr: '"', '\\' and bytes below 0x20 are escaped
 * (the usual short forms, else \u00xx in lower case); every other byte,
 * UTF-8 or not, is copied. */
static void quoted(struct zl_buf *b, const char *s)
{
	zl_buf_append(b, "\"", 1);
	const unsigned char *p = (const unsigned char *)s, *run = p;
	for (;; p++) {
		if (*p > 31 && *p != '"' && *p != '\\')
			continue;
		zl_buf_append(b, run, (size_t)(p - run));
		if (!*p)
			break;
		char esc[8];
		switch (*p) {
		case '"': memcpy(esc, "\\\"", 3); break;
		case '\\': memcpy(esc, "\\\\", 3); break;
		case '\b': memcpy(esc, "\\b", 3); break;
		case '\f': memcpy(esc, "\\f", 3); break;
		case '\n': memcpy(esc, "\\n", 3); break;
		case '\r': memcpy(esc, "\\r", 3); break;
		case '\t': memcpy(esc, "\\t", 3); break;
		default: snprintf(esc, sizeof(esc), "\\u%04x", *p); break;
		}
		zl_buf_puts(b, esc);
		run = p + 1;
	}
	zl_buf_append(b, "\"", 1);
}

void canon_key(struct canon *w, const char *key)
{
	separate(w);
	quoted(w->b, key);
	zl_buf_append(w->b, ":", 1);
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
	zl_buf_puts(w->b, text);
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
