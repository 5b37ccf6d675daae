/* fuzz_spec_load.c: a whole deployment file through spec_load_text(), the
 * entry `zlapply -f FILE` reaches after reading the file (NUL-terminated,
 * as zl_read_fd_max() hands it over). The parse must never crash, leak or
 * hang, whatever the bytes.
 *
 * What loaded is then used as the reconciler uses it: every service's
 * canonical hash (env resolved: $E: from this process's environment, $S:
 * from a scratch secrets directory holding one secret, "token"), the
 * section diff between consecutive services, the desired replica count,
 * the stop signal, the WASM test, the lookup by name, and the diagnostics
 * printed. The same text is then loaded a second time into the same set
 * (a second -f file), which exercises duplicate deployment names. */
#include "tests/fuzz/fuzz.h"

#include <signal.h>

#include "spec/spec.h"

static char *secrets_dir;
static FILE *devnull;

static void cleanup(void)
{
	if (secrets_dir)
		fuzz_rm_rf(secrets_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	secrets_dir = fuzz_mkdtemp("spec-secrets");
	char *path = zl_xasprintf("%s/token", secrets_dir);
	fuzz_write_file(path, "s3cret\n", 7);
	free(path);
	devnull = fopen("/dev/null", "w");
	if (!devnull)
		abort();
	atexit(cleanup);
	return 0;
}

static void use_set(const struct spec_set *set)
{
	for (size_t i = 0; i < set->count; i++) {
		const struct spec_deployment *dep = &set->deployments[i];
		char *prev_sections = NULL;
		for (size_t j = 0; j < dep->service_count; j++) {
			const struct spec_service *svc = &dep->services[j];
			if (spec_deployment_find(dep, svc->name) == NULL)
				fuzz_fail("service %s of deployment %s is not found by name", svc->name,
					  dep->name);
			char hash[65];
			char *sections = NULL;
			struct zl_err err = ZL_ERR_INIT;
			if (spec_service_hash(dep, svc, secrets_dir, hash, &sections, &err) == 0) {
				if (strlen(hash) != 64)
					fuzz_fail("service %s: hash \"%s\" is not 64 hex digits", svc->name, hash);
				if (prev_sections) {
					char *diff = spec_sections_diff(prev_sections, sections);
					free(diff);
				}
				free(prev_sections);
				prev_sections = sections;
			}
			if (spec_service_desired_replicas(svc) < 0)
				fuzz_fail("service %s: negative desired replicas", svc->name);
			(void)spec_service_declares_wasm(svc);
			int sig = spec_stop_signal(svc);
			if (sig < 0 || sig >= NSIG)
				fuzz_fail("service %s: stop signal %d out of range", svc->name, sig);
			(void)spec_service_type_name(svc->service_type);
		}
		free(prev_sections);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_cstr(data, size);
	struct spec_set set = { 0 };
	struct spec_diags diags = { 0 };
	int r = spec_load_text("fuzz.yaml", text, size, &set, &diags);
	if (r == 0 && diags.errors != 0)
		fuzz_fail("spec_load_text returned 0 with %zu error diags", diags.errors);
	if (r != 0 && diags.errors == 0)
		fuzz_fail("spec_load_text failed without an error diag");
	use_set(&set);
	spec_diags_print(&diags, devnull);
	if (set.count > 0) {
		/* The same deployments again, as a second file: duplicates. */
		spec_load_text("again.yaml", text, size, &set, &diags);
		spec_diags_print(&diags, devnull);
	}
	spec_set_free(&set);
	spec_diags_free(&diags);
	free(text);
	return 0;
}
