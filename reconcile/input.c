/* input.c: what the command line hands in, checked and loaded here so cli/
 * needs nothing below reconcile/: the options from flags, the specs (with
 * their diagnostics printed), durations of flags, and the names status and
 * run print for signals and replica states. */
#include "reconcile-internal.h"

#include <string.h>

int reconcile_opts_check(const struct reconcile_opts *opts, struct zl_err *err)
{
	/* A bad --subnet is bad input: refuse it before anything is touched. */
	struct net_subnet subnet;
	return reconcile_subnet(opts, &subnet, err);
}

int reconcile_spec_load_diags(const char *const *paths, size_t count, bool host_checks,
			      struct spec_set *set, struct spec_diags *diags)
{
	memset(diags, 0, sizeof(*diags));
	spec_set_host_checks(host_checks);
	int r = spec_load_paths(paths, count, set, diags);
	spec_set_host_checks(false);
	return r < 0 || diags->errors > 0 ? -1 : 0;
}

int reconcile_spec_load(const char *const *paths, size_t count, bool print_notes,
			bool host_checks, FILE *diags_out, struct spec_set *set, size_t *problems)
{
	struct spec_diags diags;
	bool bad = reconcile_spec_load_diags(paths, count, host_checks, set, &diags) < 0;
	if (bad || (print_notes && diags.count > 0))
		spec_diags_print(&diags, diags_out);
	if (problems)
		*problems = diags.errors;
	spec_diags_free(&diags);
	return bad ? -1 : 0;
}

void reconcile_spec_diags_free(struct spec_diags *diags)
{
	spec_diags_free(diags);
}

void reconcile_spec_free(struct spec_set *set)
{
	spec_set_free(set);
}

int reconcile_parse_duration(const char *text, int64_t *ms, struct zl_err *err)
{
	return spec_parse_duration(text, ms, err);
}

const char *reconcile_signal_name(int signo)
{
	return spec_signal_name(signo);
}

const char *reconcile_replica_state_name(enum state_replica_state s)
{
	return state_replica_state_name(s);
}
