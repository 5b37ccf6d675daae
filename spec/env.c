/* env.c: resolving env values: "$E:VAR" from zlapply's own environment,
 * "$S:name" / "$secret://name" from a file per secret. Only a reference
 * that is the whole value is resolved; "x$E:Y" is literal text. Secret
 * values never appear in messages. */
#include "spec-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>

static int read_secret(const char *svc, const char *key, const char *dir, const char *name,
		       char **out, struct zl_err *err)
{
	if (!dir)
		return zl_invalid(err, "service %s: env %s: secret \"%s\" needs a secrets directory", svc, key, name);
	if (!*name || strchr(name, '/') || name[0] == '.')
		return zl_invalid(err, "service %s: env %s: invalid secret name \"%s\"", svc, key, name);
	_cleanup_free_ char *path = zl_xasprintf("%s/%s", dir, name);
	/* Only a regular file is opened: a FIFO would block the run forever,
	 * a device may do something when opened. */
	struct zl_err oerr = ZL_ERR_INIT;
	unsigned mode = 0;
	_cleanup_close_ int fd = zl_open_regular(path, true, &mode, &oerr);
	if (fd < 0) {
		if (oerr.sys_errno == ENOENT)
			return zl_invalid(err, "service %s: env %s: secret \"%s\" not found (no file %s)",
					  svc, key, name, path);
		if (!oerr.sys_errno)
			return zl_invalid(err, "service %s: env %s: secret \"%s\" (%s) is not a regular file but "
					  "%s: refused without reading it", svc, key, name, path, zl_file_kind(mode));
		return zl_err_set(err, ZL_ERR_FAIL, oerr.sys_errno, "service %s: env %s: cannot read secret \"%s\"",
				  svc, key, name);
	}
	struct zl_buf buf = { 0 };
	if (zl_read_fd_max(fd, SPEC_MAX_SECRET_BYTES + 1, &buf.data, &buf.len, &oerr) < 0)
		return zl_err_set(err, ZL_ERR_FAIL, oerr.sys_errno, "service %s: env %s: cannot read secret \"%s\"",
				  svc, key, name);
	buf.cap = buf.len + 1;
	if (buf.len > SPEC_MAX_SECRET_BYTES) {
		zl_buf_free(&buf);
		return zl_invalid(err, "service %s: env %s: secret \"%s\" is larger than %zu MiB, the most a "
				  "secret can be", svc, key, name, SPEC_MAX_SECRET_BYTES >> 20);
	}
	/* A C string (and an environment variable) ends at a NUL: the value
	 * would be cut there, silently. */
	if (memchr(buf.data, '\0', buf.len)) {
		zl_buf_free(&buf);
		return zl_invalid(err, "service %s: env %s: secret \"%s\" contains a NUL byte (\\0), which an "
				  "environment variable cannot hold", svc, key, name);
	}
	/* Files written by editors and `echo` end with a newline that is not
	 * part of the secret. */
	if (buf.len && buf.data[buf.len - 1] == '\n')
		buf.len--;
	if (buf.len && buf.data[buf.len - 1] == '\r')
		buf.len--;
	if (buf.data)
		buf.data[buf.len] = '\0';
	*out = zl_buf_steal(&buf);
	return 0;
}

int spec_service_resolve_env(const struct spec_service *svc, const char *secrets_dir,
			     struct spec_kv **out, size_t *out_count, struct zl_err *err)
{
	struct spec_kv *kv = zl_xcalloc(svc->env_count + 1, sizeof(*kv));
	size_t used = 0;
	for (size_t i = 0; i < svc->env_count; i++) {
		const char *key = svc->env[i].key, *v = svc->env[i].value;
		char *value = NULL;
		if (!strncmp(v, "$E:", 3)) {
			const char *got = getenv(v + 3);
			if (!got) {
				spec_kv_free(kv, used);
				return zl_invalid(err, "service %s: env %s: environment variable %s is not set",
						  svc->name, key, v + 3);
			}
			value = zl_xstrdup(got);
		} else if (!strncmp(v, "$S:", 3) || !strncmp(v, "$secret://", 10)) {
			const char *name = v[1] == 'S' ? v + 3 : v + 10;
			if (read_secret(svc->name, key, secrets_dir, name, &value, err) < 0) {
				spec_kv_free(kv, used);
				return -1;
			}
		} else {
			value = zl_xstrdup(v);
		}
		kv[used++] = (struct spec_kv){ zl_xstrdup(key), value };
	}
	spec_kv_sort(kv, used);
	*out = kv;
	*out_count = used;
	return 0;
}
