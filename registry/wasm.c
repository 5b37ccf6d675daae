/* wasm.c: WebAssembly binaries and artifacts.
 *
 * The binary check reads the preamble and walks the section framing, no
 * more: "\0asm", then a 4-byte version that the component model reads as
 * two 2-byte fields, version and layer (core modules: version 1, layer 0;
 * components: version 0x0d, layer 1; design/mvp/Binary.md of the component
 * model), then sections of one id byte and a LEB128 u32 size. A file cut
 * short ends inside a section, which the walk sees. Validation proper
 * (types, code) is the engine's.
 *
 * The media types are the ones ZLayer's registry client looks at. */
#include "registry-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

const char *registry_image_kind_name(enum registry_image_kind kind)
{
	switch (kind) {
	case REGISTRY_IMAGE_WASM_MODULE:
		return "wasm_module";
	case REGISTRY_IMAGE_WASM_COMPONENT:
		return "wasm_component";
	case REGISTRY_IMAGE_CONTAINER:
		break;
	}
	return "container";
}

/* ---- media types ---- */

enum registry_image_kind wasm_artifact_type_kind(const char *artifact_type)
{
	if (!artifact_type)
		return REGISTRY_IMAGE_CONTAINER;
	if (strcmp(artifact_type, MT_WASM_ARTIFACT_COMPONENT) == 0)
		return REGISTRY_IMAGE_WASM_COMPONENT;
	if (strcmp(artifact_type, MT_WASM_ARTIFACT_MODULE) == 0 ||
	    strcmp(artifact_type, MT_WASM_ARTIFACT_MODULE_ALT) == 0)
		return REGISTRY_IMAGE_WASM_MODULE;
	return REGISTRY_IMAGE_CONTAINER;
}

bool wasm_config_type(const char *media_type)
{
	/* v0 is the CNCF wasm OCI artifact's; ZLayer takes any version. */
	return media_type &&
	       strncmp(media_type, MT_WASM_CONFIG_PREFIX, strlen(MT_WASM_CONFIG_PREFIX)) == 0;
}

bool wasm_layer_type(const char *media_type)
{
	return media_type && (strcmp(media_type, MT_WASM_LAYER) == 0 ||
			      strncmp(media_type, MT_WASM_CONTENT_LAYER_PREFIX,
				      strlen(MT_WASM_CONTENT_LAYER_PREFIX)) == 0 ||
			      zl_str_has_suffix(media_type, "+wasm"));
}

/* ---- the binary ---- */

/* What a non-WebAssembly file looks like, for the message. */
static const char *looks_like(const unsigned char *p, size_t n)
{
	if (n >= 4 && memcmp(p, "\x7f" "ELF", 4) == 0)
		return " (an ELF executable: build for wasm32-wasi instead)";
	if (n >= 2 && p[0] == '#' && p[1] == '!')
		return " (a script)";
	if (n >= 2 && p[0] == 0x1f && p[1] == 0x8b)
		return " (gzip data)";
	if (n >= 4 && memcmp(p, "PK\x03\x04", 4) == 0)
		return " (a zip archive)";
	if (n >= 1 && (p[0] == '{' || p[0] == '['))
		return " (JSON?)";
	if (n >= 1 && p[0] == '(')
		return " (WebAssembly text? compile it with wat2wasm)";
	return "";
}

int registry_wasm_check(const void *data, size_t len, enum registry_image_kind *kind,
			struct zl_err *err)
{
	static const unsigned char magic[4] = { 0x00, 0x61, 0x73, 0x6d };
	const unsigned char *p = data;
	if (len == 0)
		return zl_invalid(err, "empty: not a WebAssembly binary");
	size_t m = len < 4 ? len : 4;
	if (memcmp(p, magic, m) != 0) {
		char hex[3 * 8 + 1] = "";
		size_t used = 0;
		for (size_t i = 0; i < len && i < 8; i++)
			used += (size_t)snprintf(hex + used, sizeof(hex) - used, "%s%02x", i ? " " : "", p[i]);
		return zl_invalid(err, "not a WebAssembly binary: it starts with %s%s, a WebAssembly "
				  "binary with 00 61 73 6d (\"\\0asm\")", hex, looks_like(p, len));
	}
	if (len < 8)
		return zl_invalid(err, "truncated WebAssembly binary: %zu bytes, less than its 8-byte header",
				  len);
	unsigned version = p[4] | (unsigned)p[5] << 8, layer = p[6] | (unsigned)p[7] << 8;
	if (version == 1 && layer == 0)
		*kind = REGISTRY_IMAGE_WASM_MODULE;
	else if (version == 0x0d && layer == 1)
		*kind = REGISTRY_IMAGE_WASM_COMPONENT;
	else if (layer == 1)
		return zl_invalid(err, "WebAssembly component of binary version 0x%02x is not supported "
				  "(0x0d is the component model's)", version);
	else
		return zl_invalid(err, "unsupported WebAssembly binary version %u (a core module is "
				  "version 1)", version | layer << 16);
	size_t off = 8;
	for (unsigned n = 1; off < len; n++) {
		size_t at = off;
		unsigned id = p[off++];
		/* A core module's sections are 0 (custom) to 13 (tag): a byte
		 * beyond is garbage, not a cut-off file. */
		if (layer == 0 && version == 1 && id > 13)
			return zl_invalid(err, "corrupt WebAssembly binary: section %u at byte %zu has no "
					  "valid id (%u); rebuild the module", n, at, id);
		uint64_t size = 0;
		bool done = false;
		for (int i = 0; i < 5 && !done; i++) {
			if (off >= len)
				return zl_invalid(err, "truncated WebAssembly binary: section %u (id %u) at "
						  "byte %zu ends inside its size (file is %zu bytes)",
						  n, id, at, len);
			unsigned char b = p[off++];
			size |= (uint64_t)(b & 0x7f) << (7 * i);
			done = !(b & 0x80);
		}
		if (!done || size > UINT32_MAX)
			return zl_invalid(err, "malformed WebAssembly binary: section %u (id %u) at byte "
					  "%zu has an invalid size", n, id, at);
		if (size > len - off)
			return zl_invalid(err, "truncated WebAssembly binary: section %u (id %u) at byte "
					  "%zu declares %llu bytes, only %zu remain (file is %zu bytes)",
					  n, id, at, (unsigned long long)size, len - off, len);
		off += (size_t)size;
	}
	return 0;
}

int wasm_check_fd(int fd, const char *path, enum registry_image_kind *kind, struct zl_err *err)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return zl_fail_errno(err, "stat %s", path);
	if (!S_ISREG(st.st_mode))
		return zl_invalid(err, "%s is not a regular file", path);
	if (st.st_size == 0)
		return registry_wasm_check("", 0, kind, err);
	void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED)
		return zl_fail_errno(err, "mmap %s", path);
	int r = registry_wasm_check(map, (size_t)st.st_size, kind, err);
	munmap(map, (size_t)st.st_size);
	return r;
}

int registry_wasm_check_file(const char *path, enum registry_image_kind *kind,
			     struct zl_err *err)
{
	_cleanup_close_ int fd = registry_open_file(path, err);
	if (fd < 0)
		return -1;
	return wasm_check_fd(fd, path, kind, err);
}
