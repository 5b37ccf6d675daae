/* module.c: what a WebAssembly binary is, read from its bytes before a
 * replica is made of it, so that a module the engine would refuse fails
 * at apply with the reason instead of as an exit later: a component
 * (preamble version 0x0d, layer 1: WASI preview 2) or a core module with
 * no _start export (a reactor or library, not a WASI command). The
 * registry checked preamble and section bounds at pull; they are checked
 * again here for file: images and stores edited by hand. */
#include "wasm-internal.h"

#include <string.h>

#define SECTION_EXPORT 7
#define EXPORT_FUNC 0

struct reader {
	const unsigned char *p, *end;
};

/* An unsigned LEB128 of at most 32 bits; -1 when it runs off the end. */
static int read_u32(struct reader *r, uint32_t *out)
{
	uint32_t v = 0;
	for (int shift = 0; shift < 35; shift += 7) {
		if (r->p >= r->end)
			return -1;
		unsigned char b = *r->p++;
		v |= (uint32_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*out = v;
			return 0;
		}
	}
	return -1;
}

/* 1 when the export section lists a function named _start, 0 when not,
 * -1 when it is malformed. */
static int exports_start(struct reader r)
{
	uint32_t count;
	if (read_u32(&r, &count) < 0)
		return -1;
	for (uint32_t i = 0; i < count; i++) {
		uint32_t len, index;
		if (read_u32(&r, &len) < 0 || (size_t)(r.end - r.p) < (size_t)len + 1)
			return -1;
		const unsigned char *name = r.p;
		r.p += len;
		unsigned char kind = *r.p++;
		if (read_u32(&r, &index) < 0)
			return -1;
		if (kind == EXPORT_FUNC && len == 6 && memcmp(name, "_start", 6) == 0)
			return 1;
	}
	return 0;
}

int wasm_module_inspect(const char *path, enum wasm_module_kind *kind, struct zl_err *err)
{
	char *data = NULL;
	size_t len = 0;
	if (zl_read_file(path, &data, &len, err) < 0)
		return -1;
	int ret = -1;
	const unsigned char *b = (const unsigned char *)data;
	if (len < 8 || memcmp(b, "\0asm", 4) != 0) {
		zl_invalid(err, "%s is not a WebAssembly binary", path);
		goto out;
	}
	if (b[4] == 0x0d && b[5] == 0 && b[6] == 1 && b[7] == 0) {
		*kind = WASM_KIND_COMPONENT;
		ret = 0;
		goto out;
	}
	if (b[4] != 1 || b[5] || b[6] || b[7]) {
		zl_invalid(err, "%s: unsupported WebAssembly version %u", path, b[4]);
		goto out;
	}
	*kind = WASM_KIND_MODULE;
	struct reader r = { b + 8, b + len };
	int start = 0;
	while (r.p < r.end) {
		unsigned char id = *r.p++;
		uint32_t size;
		if (read_u32(&r, &size) < 0 || (size_t)(r.end - r.p) < size) {
			zl_invalid(err, "%s is truncated (a section runs past the end at byte %zu)", path,
				   (size_t)(r.p - b));
			goto out;
		}
		if (id == SECTION_EXPORT) {
			start = exports_start((struct reader){ r.p, r.p + size });
			if (start < 0) {
				zl_invalid(err, "%s: its export section is malformed", path);
				goto out;
			}
		}
		r.p += size;
	}
	if (!start) {
		zl_invalid(err, "the module exports no _start: it is not a WASI command (a reactor or library module cannot run as a replica); build it as a command (clang --target=wasm32-wasi without -mexec-model=reactor)");
		goto out;
	}
	ret = 0;
out:
	free(data);
	return ret;
}
