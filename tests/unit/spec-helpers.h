/* spec-helpers.h: what tests of spec loading share: the diagnostics as
 * text, the error at a key path, and where the source tree (with its
 * fixtures) is. */
#ifndef ZL_TEST_SPEC_HELPERS_H
#define ZL_TEST_SPEC_HELPERS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec/spec.h"

static inline char *diags_text(const struct spec_diags *d)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	spec_diags_print(d, f);
	fclose(f);
	return buf;
}

static inline const struct spec_diag *find_diag(const struct spec_diags *d, const char *path, const char *part)
{
	for (size_t i = 0; i < d->count; i++)
		if (!d->items[i].is_note && !strcmp(d->items[i].path, path) &&
		    (!part || strstr(d->items[i].msg, part)))
			return &d->items[i];
	return NULL;
}

/* The source tree: ZLAPPLY_SOURCE_ROOT, else where meson configured it. */
static inline const char *spec_source_root(void)
{
	const char *e = getenv("ZLAPPLY_SOURCE_ROOT");
	return e && *e ? e : ZL_TEST_SOURCE_ROOT;
}

#endif
