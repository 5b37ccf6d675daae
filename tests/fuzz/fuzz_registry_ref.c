/* fuzz_registry_ref.c: image references (registry_ref_parse), as written in
 * a spec's image.name, on `zlapply pull REF` and in an index. Properties:
 * an error has a message; an accepted reference formats to a canonical text
 * (registry_ref_format) that parses again to the same canonical text and
 * the same fields; domain and endpoint are set exactly for registry
 * references; a digest is sha256:<64 hex>. */
#include "tests/fuzz/fuzz.h"

#include "registry/registry.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	return 0;
}

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_cstr(data, size);
	struct registry_ref ref;
	memset(&ref, 0, sizeof(ref));
	struct zl_err err = ZL_ERR_INIT;
	if (registry_ref_parse(text, &ref, &err) < 0) {
		if (!err.msg[0])
			fuzz_fail("registry_ref_parse(\"%s\") failed without a message", text);
		registry_ref_clear(&ref);
		free(text);
		return 0;
	}
	if (!ref.path)
		fuzz_fail("\"%s\": accepted without a path", text);
	bool registry = !ref.is_oci_layout && !ref.is_file;
	if (registry != (ref.domain != NULL) || registry != (ref.endpoint != NULL))
		fuzz_fail("\"%s\": domain/endpoint set for the wrong kind of reference", text);
	if (ref.digest && !registry_digest_valid(ref.digest))
		fuzz_fail("\"%s\": accepted digest \"%s\"", text, ref.digest);

	char *canon = registry_ref_format(&ref);
	struct registry_ref again;
	memset(&again, 0, sizeof(again));
	struct zl_err err2 = ZL_ERR_INIT;
	if (registry_ref_parse(canon, &again, &err2) < 0)
		fuzz_fail("\"%s\" parsed, its canonical form \"%s\" does not: %s", text, canon, err2.msg);
	char *canon2 = registry_ref_format(&again);
	if (strcmp(canon, canon2) != 0)
		fuzz_fail("\"%s\": canonical \"%s\" reparses as \"%s\"", text, canon, canon2);
	if (ref.is_oci_layout != again.is_oci_layout || ref.is_file != again.is_file ||
	    !same(ref.domain, again.domain) || !same(ref.endpoint, again.endpoint) ||
	    !same(ref.path, again.path) || !same(ref.tag, again.tag) ||
	    !same(ref.digest, again.digest))
		fuzz_fail("\"%s\": canonical \"%s\" reparses with other fields", text, canon);
	free(canon2);
	free(canon);
	registry_ref_clear(&again);
	registry_ref_clear(&ref);
	free(text);
	return 0;
}
