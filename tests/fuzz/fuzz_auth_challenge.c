/* fuzz_auth_challenge.c: a registry's WWW-Authenticate header
 * (auth_challenge_parse, registry/registry-internal.h), which any server a
 * pull talks to chooses. Properties: accepted only for Basic or Bearer;
 * the fields are C strings that were in the header's bytes. */
#include "tests/fuzz/fuzz.h"

#include "registry/registry-internal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *header = fuzz_cstr(data, size);
	struct auth_challenge ch;
	if (auth_challenge_parse(header, &ch) == 0) {
		const char *fields[] = { ch.realm, ch.service, ch.scope };
		for (size_t i = 0; i < 3; i++)
			if (fields[i] && strlen(fields[i]) > size)
				fuzz_fail("challenge field longer than the header");
	}
	auth_challenge_clear(&ch);
	free(header);
	return 0;
}
