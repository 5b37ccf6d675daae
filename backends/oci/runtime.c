/* runtime.c: which OCI runtime runs containers here, and running it.
 *
 * crun is the default, but it refuses hosts with hybrid (v1+v2) cgroups,
 * so the choice is probed once: an explicit --runtime (ZLAPPLY_RUNTIME)
 * wins; else the choice remembered in <root>/runtime; else crun on a pure
 * cgroup-v2 host, runc otherwise (youki accepted by path). Every failure of
 * a runtime command reports the command line and the runtime's own stderr. */
#include "oci-internal.h"
#include "backends/supervise.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>

int oci_runtime_choose(const char *root, const char *requested, char **runtime, struct zl_err *err)
{
	*runtime = NULL;
	if (requested && *requested) {
		*runtime = supervise_which(requested);
		if (!*runtime)
			return zl_invalid(err, "runtime %s: not found or not executable", requested);
		return 0;
	}
	_cleanup_free_ char *memo = zl_xasprintf("%s/runtime", root);
	char *text = NULL;
	size_t len = 0;
	struct zl_err ignored = ZL_ERR_INIT;
	if (zl_read_file(memo, &text, &len, &ignored) == 0) {
		text[strcspn(text, "\n")] = '\0';
		if (access(text, X_OK) == 0) {
			*runtime = text;
			return 0;
		}
		free(text); /* the remembered runtime went away: probe again */
	}
	/* crun first where it works: it needs a pure cgroup v2 hierarchy. */
	if (zl_cgroup2())
		*runtime = supervise_which("crun");
	if (!*runtime)
		*runtime = supervise_which("runc");
	if (!*runtime && !zl_cgroup2() && (*runtime = supervise_which("crun")))
		zl_log(ZL_LOG_WARN, "only crun is installed; it refuses hosts with hybrid cgroups like this one");
	if (!*runtime)
		return zl_fail(err, "no OCI runtime found: install runc or crun (scripts/setup), or pass --runtime PATH");
	/* Remembering is an optimisation; a failure to write it is harmless. */
	if (zl_mkdir_p(root, 0700, &ignored) == 0)
		zl_write_file_atomic(memo, *runtime, strlen(*runtime), 0600, &ignored);
	return 0;
}

int oci_run_checked(const char *const argv[], struct zl_err *err)
{
	struct zl_buf out = { 0 };
	int status = 0;
	if (zl_run(argv, -1, &out, &status, err) < 0) {
		zl_buf_free(&out);
		return -1;
	}
	int ret = 0;
	if (status != 0) {
		struct zl_buf cmd = { 0 };
		for (size_t i = 0; argv[i]; i++)
			zl_buf_printf(&cmd, "%s%s", i ? " " : "", argv[i]);
		while (out.len > 0 && (out.data[out.len - 1] == '\n' || out.data[out.len - 1] == ' '))
			out.data[--out.len] = '\0';
		ret = zl_fail(err, "%s: exit %d: %s", cmd.data, status, out.len ? out.data : "(no output)");
		zl_buf_free(&cmd);
	}
	zl_buf_free(&out);
	return ret;
}
