/* diag.c: struct spec_diags, the list of every problem found in the specs.
 * Collecting instead of stopping lets a user fix a whole file in one pass. */
#include "spec.h"

#include <string.h>

void spec_diags_add(struct spec_diags *d, bool is_note, const char *file, int line, int col,
		    const char *path, const char *fmt, ...)
{
	zl_grow(&d->items, sizeof(*d->items), &d->cap, d->count + 1);
	struct spec_diag *item = &d->items[d->count++];
	va_list ap;
	va_start(ap, fmt);
	char *msg = NULL;
	if (vasprintf(&msg, fmt, ap) < 0) {
		fprintf(stderr, "zlapply: out of memory\n");
		abort();
	}
	va_end(ap);
	item->file = zl_xstrdup(file ? file : "");
	item->line = line;
	item->col = col;
	item->path = zl_xstrdup(path ? path : "");
	item->msg = msg;
	item->is_note = is_note;
	if (!is_note)
		d->errors++;
}

void spec_diags_print(const struct spec_diags *d, FILE *out)
{
	for (size_t i = 0; i < d->count; i++) {
		const struct spec_diag *item = &d->items[i];
		if (item->line > 0)
			fprintf(out, "%s:%d:%d: ", item->file, item->line, item->col);
		else
			fprintf(out, "%s: ", item->file);
		if (item->is_note)
			fputs("note: ", out);
		if (item->path[0])
			fprintf(out, "%s: ", item->path);
		fprintf(out, "%s\n", item->msg);
	}
}

void spec_diags_free(struct spec_diags *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->count; i++) {
		free(d->items[i].file);
		free(d->items[i].path);
		free(d->items[i].msg);
	}
	free(d->items);
	memset(d, 0, sizeof(*d));
}
