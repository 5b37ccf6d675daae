/* fuzz_wasm_check.c: the WebAssembly binary check a module or component
 * gets before it is stored or run (registry_wasm_check on bytes), and the
 * same check on a file (registry_wasm_check_file: open, mmap) through a
 * memfd named by /proc/self/fd/N, so no disk is touched. Properties: both
 * agree (result and kind); an error has a message; an accepted binary is a
 * module or a component. */
#include "tests/fuzz/fuzz.h"

#include <sys/mman.h>

#include "registry/registry.h"

static int memfd = -1;
static char memfd_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	memfd = memfd_create("zlfuzz-wasm", MFD_CLOEXEC);
	if (memfd < 0)
		abort();
	snprintf(memfd_path, sizeof(memfd_path), "/proc/self/fd/%d", memfd);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum registry_image_kind kind = REGISTRY_IMAGE_CONTAINER;
	struct zl_err err = ZL_ERR_INIT;
	int r = registry_wasm_check(data, size, &kind, &err);
	if (r < 0 && !err.msg[0])
		fuzz_fail("registry_wasm_check failed without a message");
	if (r == 0 && !registry_kind_is_wasm(kind))
		fuzz_fail("registry_wasm_check accepted a binary of kind %s",
			  registry_image_kind_name(kind));

	if (ftruncate(memfd, 0) < 0 || pwrite(memfd, data, size, 0) != (ssize_t)size)
		abort();
	enum registry_image_kind kind2 = REGISTRY_IMAGE_CONTAINER;
	struct zl_err err2 = ZL_ERR_INIT;
	int r2 = registry_wasm_check_file(memfd_path, &kind2, &err2);
	if (r != r2 || (r == 0 && kind != kind2))
		fuzz_fail("bytes: %d (%s), file: %d (%s): %s", r, err.msg, r2, err2.msg,
			  registry_image_kind_name(kind2));
	return 0;
}
