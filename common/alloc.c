/* alloc.c: allocation that aborts on out-of-memory, and the string buffer.
 * zlapply never limps on without memory (STYLE.md). */
#include "common.h"

#include <string.h>

static void __attribute__((noreturn)) out_of_memory(size_t n)
{
	fprintf(stderr, "zlapply: out of memory (allocating %zu bytes)\n", n);
	abort();
}

void *zl_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		out_of_memory(n);
	return p;
}

void *zl_xcalloc(size_t count, size_t size)
{
	void *p = calloc(count ? count : 1, size ? size : 1);
	if (!p)
		out_of_memory(count * size);
	return p;
}

void *zl_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		out_of_memory(n);
	return q;
}

char *zl_xstrdup(const char *s)
{
	if (!s)
		return NULL;
	char *d = strdup(s);
	if (!d)
		out_of_memory(strlen(s) + 1);
	return d;
}

char *zl_xstrndup(const char *s, size_t n)
{
	char *d = strndup(s, n);
	if (!d)
		out_of_memory(n + 1);
	return d;
}

char *zl_xvasprintf(const char *fmt, va_list ap)
{
	char *s = NULL;
	if (vasprintf(&s, fmt, ap) < 0)
		out_of_memory(0);
	return s;
}

char *zl_xasprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = zl_xvasprintf(fmt, ap);
	va_end(ap);
	return s;
}

void zl_grow(void *items_ptr, size_t item_size, size_t *cap, size_t need)
{
	void **items = items_ptr;
	if (need <= *cap)
		return;
	size_t new_cap = *cap ? *cap * 2 : 8;
	while (new_cap < need)
		new_cap *= 2;
	*items = zl_xrealloc(*items, new_cap * item_size);
	*cap = new_cap;
}

void zl_buf_append(struct zl_buf *b, const void *data, size_t n)
{
	zl_grow(&b->data, 1, &b->cap, b->len + n + 1);
	memcpy(b->data + b->len, data, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void zl_buf_puts(struct zl_buf *b, const char *s)
{
	zl_buf_append(b, s, strlen(s));
}

void zl_buf_printf(struct zl_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	zl_grow(&b->data, 1, &b->cap, b->len + (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

char *zl_buf_steal(struct zl_buf *b)
{
	char *s = b->data ? b->data : zl_xstrdup("");
	b->data = NULL;
	b->len = b->cap = 0;
	return s;
}

void zl_buf_free(struct zl_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}
